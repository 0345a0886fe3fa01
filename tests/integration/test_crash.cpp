// Consumer processes killed with SIGKILL while messages flow: the survivors' claim loops take
// over what the dead left pending. Each consumer_child records every handling in the hash
// "handled" (HINCRBY id 1) before acking, so handled = HLEN, handlings = sum of HVALS.

#include <redstream/protocol/stream_readers.hpp>
#include <redstream/consume/worker.hpp>

#include "child_process.hpp"
#include "redis_server.hpp"
#include "run_coro.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <fmt/format.h>

#include <random>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace redstream;
using namespace redstream::test;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr int total = 100000; // messages in each scenario

pid_t spawn_consumer(redis_server const& srv, std::string const& identity, int consumers) {
    return spawn_child({REDSTREAM_CONSUMER_CHILD, srv.url(), "jobs", "workers", identity, std::to_string(consumers), "1000"});
}

asio::awaitable<void> fill_jobs(client& cl) {
    request create;
    create.push("XGROUP", "CREATE", "jobs", "workers", "$", "MKSTREAM");
    co_await cl.connection().async_exec(create, adapt_ignore(), asio::use_awaitable);
    request fill;
    for (int i = 0; i < total; ++i) {
        fill.push("XADD", "jobs", "*", "n", i);
        if (fill.commands() == 2000 || i == total - 1) {
            co_await cl.connection().async_exec(fill, adapt_ignore(), asio::use_awaitable);
            fill.clear();
        }
    }
}

struct progress {
    std::int64_t handled = 0;   // distinct ids handled
    std::int64_t pending = -1;  // the group's pending count
    std::int64_t handlings = 0; // every handling, duplicates included
};

asio::awaitable<progress> read_progress(client& cl) {
    request r;
    r.push("HLEN", "handled");
    r.push("XPENDING", "jobs", "workers");
    r.push("HVALS", "handled");
    progress p;
    pending_summary summary;
    std::vector<std::int64_t> counts;
    co_await cl.connection().async_exec(r, adapt(p.handled, summary, counts), asio::use_awaitable);
    p.pending = static_cast<std::int64_t>(summary.count);
    for (auto c : counts)
        p.handlings += c;
    co_return p;
}

// Polls until `done(progress)` or `limit`; returns the last progress read.
template <class Done>
asio::awaitable<progress> wait_for_progress(client& cl, Done done, std::chrono::seconds limit) {
    asio::steady_timer t{co_await asio::this_coro::executor};
    auto const end = std::chrono::steady_clock::now() + limit;
    for (;;) {
        progress p = co_await read_progress(cl);
        if (done(p) || std::chrono::steady_clock::now() > end)
            co_return p;
        t.expires_after(20ms);
        co_await t.async_wait(asio::use_awaitable);
    }
}

std::string report(char const* what, progress const& p) {
    return fmt::format("{}: produced {}, handled {}, handlings {}, duplicated {}, pending {}, lost {}", what, total,
                       p.handled, p.handlings, p.handlings - p.handled, p.pending, total - p.handled);
}

} // namespace

BOOST_AUTO_TEST_SUITE(crash_tests)

// 100,000 messages over 8 consumers in 2 processes; one process is killed with SIGKILL
// mid-run; the survivor's claim loop takes over its pending messages.
BOOST_AUTO_TEST_CASE(kill_9_one_process_loses_nothing) {
    redis_server::options o;
    o.notify_keyspace_events = "Kt";
    redis_server srv{o};
    asio::io_context ioc;
    client cl{ioc.get_executor(), config::from_url(srv.url()), logger::none()};
    progress last;
    int rc_survivor = -2;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await fill_jobs(cl);
        pid_t const a = spawn_consumer(srv, "proc-a", 4);
        pid_t const b = spawn_consumer(srv, "proc-b", 4);
        // Kill process A once a fifth of the work is done.
        auto const fifth = [](progress const& p) { return p.handled >= total / 5; };
        last = co_await wait_for_progress(cl, fifth, 60s);
        BOOST_TEST(last.handled >= total / 5);
        ::kill(a, SIGKILL);
        BOOST_TEST(wait_child(a, 10s) == 128 + SIGKILL);
        // The survivor finishes everything, including A's abandoned pending messages.
        auto const finished = [](progress const& p) { return p.handled == total && p.pending == 0; };
        last = co_await wait_for_progress(cl, finished, 120s);
        ::kill(b, SIGTERM);
        rc_survivor = wait_child(b, 30s);
        cl.close();
    }, 240s);
    BOOST_TEST_MESSAGE(report("kill -9 of 1 of 2 processes", last));
    BOOST_TEST(last.handled == total); // every id handled at least once: 0 lost
    BOOST_TEST(last.pending == 0);     // all acked
    BOOST_TEST(rc_survivor == 0);      // graceful stop of the survivor
}

// Four processes of two consumers each; three times, two of the live processes are killed with
// SIGKILL and two fresh ones started. Survivors and newcomers claim the dead ones' messages.
BOOST_AUTO_TEST_CASE(kill_9_two_of_four_processes_repeatedly_loses_nothing) {
    redis_server::options o;
    o.notify_keyspace_events = "Kt";
    redis_server srv{o};
    constexpr int rounds = 3;
    asio::io_context ioc;
    client cl{ioc.get_executor(), config::from_url(srv.url()), logger::none()};
    progress last;
    int killed = 0, graceful = 0;
    std::vector<pid_t> live;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await fill_jobs(cl);
        int next_identity = 0;
        for (int i = 0; i < 4; ++i)
            live.push_back(spawn_consumer(srv, fmt::format("proc-{}", next_identity++), 2));
        std::mt19937 rng{7};
        for (int round = 1; round <= rounds; ++round) {
            std::int64_t const target = total * round / (rounds + 2);
            auto const reached = [target](progress const& p) { return p.handled >= target; };
            last = co_await wait_for_progress(cl, reached, 120s);
            BOOST_TEST(last.handled >= target, "round " << round << ": handled " << last.handled);
            std::shuffle(live.begin(), live.end(), rng);
            for (int k = 0; k < 2; ++k) {
                ::kill(live.back(), SIGKILL);
                BOOST_TEST(wait_child(live.back(), 10s) == 128 + SIGKILL);
                ++killed;
                live.pop_back();
            }
            for (int k = 0; k < 2; ++k)
                live.push_back(spawn_consumer(srv, fmt::format("proc-{}", next_identity++), 2));
        }
        auto const finished = [](progress const& p) { return p.handled == total && p.pending == 0; };
        last = co_await wait_for_progress(cl, finished, 180s);
        for (pid_t pid : live)
            ::kill(pid, SIGTERM);
        for (pid_t pid : live)
            graceful += wait_child(pid, 30s) == 0;
        cl.close();
    }, 400s);
    BOOST_TEST_MESSAGE(report("kill -9 of 2 of 4 processes, 3 rounds", last) << ", processes killed " << killed);
    BOOST_TEST(killed == 2 * rounds);
    BOOST_TEST(last.handled == total);
    BOOST_TEST(last.pending == 0);
    BOOST_TEST(graceful == 4);
}

BOOST_AUTO_TEST_SUITE_END()
