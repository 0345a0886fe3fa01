#include <redstream/stream_readers.hpp>
#include <redstream/worker.hpp>

#include "redis_server.hpp"
#include "run_coro.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace redstream;
using namespace redstream::test;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

pid_t spawn_child(std::vector<std::string> args) {
    pid_t pid = ::fork();
    if (pid == 0) {
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        std::_Exit(127);
    }
    return pid;
}

// Waits (bounded) for a child to exit and returns its exit status, or -1.
int wait_child(pid_t pid, std::chrono::seconds limit) {
    auto const end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        ::usleep(10000);
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return -1;
}

} // namespace

BOOST_AUTO_TEST_SUITE(crash_tests)

// 100,000 messages over 8 consumers in 2 processes; one process is killed with SIGKILL
// mid-run; the survivor's claim loop takes over its pending messages.
BOOST_AUTO_TEST_CASE(kill_9_one_process_loses_nothing) {
    redis_server::options o;
    o.notify_keyspace_events = "Kt";
    redis_server srv{o};
    constexpr int total = 100000;
    asio::io_context ioc;
    client cl{ioc.get_executor(), config::from_url(srv.url()), logger::none()};
    std::int64_t handled = 0, handlings = 0, pending = -1;
    int rc_survivor = -2;
    pid_t a = -1, b = -1;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
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
        std::string const child = REDSTREAM_CONSUMER_CHILD;
        a = spawn_child({child, srv.url(), "jobs", "workers", "proc-a", "4", "1000"});
        b = spawn_child({child, srv.url(), "jobs", "workers", "proc-b", "4", "1000"});
        asio::steady_timer t{co_await asio::this_coro::executor};
        request hlen;
        hlen.push("HLEN", "handled");
        // Kill process A once a fifth of the work is done.
        for (int i = 0; i < 6000 && handled < total / 5; ++i) {
            co_await cl.connection().async_exec(hlen, adapt(handled), asio::use_awaitable);
            t.expires_after(10ms);
            co_await t.async_wait(asio::use_awaitable);
        }
        BOOST_TEST(handled >= total / 5);
        ::kill(a, SIGKILL);
        BOOST_TEST(wait_child(a, 10s) == 128 + SIGKILL);
        // The survivor finishes everything, including A's abandoned pending messages.
        request check;
        check.push("HLEN", "handled");
        check.push("XPENDING", "jobs", "workers");
        pending_summary summary;
        for (int i = 0; i < 12000; ++i) {
            co_await cl.connection().async_exec(check, adapt(handled, summary), asio::use_awaitable);
            pending = static_cast<std::int64_t>(summary.count);
            if (handled == total && pending == 0)
                break;
            t.expires_after(10ms);
            co_await t.async_wait(asio::use_awaitable);
        }
        ::kill(b, SIGTERM);
        rc_survivor = wait_child(b, 30s);
        // Count handlings (duplicates come from A's messages handled but not acked).
        request vals;
        vals.push("HVALS", "handled");
        std::vector<std::int64_t> counts;
        co_await cl.connection().async_exec(vals, adapt(counts), asio::use_awaitable);
        for (auto c : counts)
            handlings += c;
        cl.close();
    }, 240s);
    BOOST_TEST_MESSAGE("kill -9: produced " << total << ", handled " << handled << ", handlings " << handlings
                                            << ", duplicated " << handlings - handled << ", pending " << pending
                                            << ", lost " << total - handled);
    BOOST_TEST(handled == total); // every id handled at least once: 0 lost
    BOOST_TEST(pending == 0);     // all acked
    BOOST_TEST(rc_survivor == 0); // graceful stop of the survivor
}

BOOST_AUTO_TEST_SUITE_END()
