// Resharding under load: 12 partitions on a 3-master cluster, three consumer processes
// (partition_child), a producer in the test, and `redis-cli --cluster reshard` moving slots
// between the masters while they run. Nothing may be lost, every pending list must drain and
// the dead letters must be exactly the poison messages.
#include <redstream/cluster/partitions.hpp>
#include <redstream/io/cluster_client.hpp>
#include <redstream/io/partitioned_producer.hpp>
#include <redstream/protocol/stream_readers.hpp>

#include "child_process.hpp"
#include "redis_cluster.hpp"
#include "run_coro.hpp"
#include "worker_test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <fmt/format.h>

#include <atomic>
#include <thread>

using namespace redstream;
using namespace redstream::test;

namespace {

constexpr std::size_t partitions = 12;

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r'))
        s.pop_back();
    return s;
}

// Moves `slots` slots from one master to another with redis-cli, as an operator does.
std::string reshard(redis_cluster const& c, std::size_t from, std::size_t to, int slots) {
    auto const id = [&](std::size_t i) { return trimmed(c.node(i).cli({"CLUSTER", "MYID"})); };
    return c.node(0).cli({"--cluster", "reshard", fmt::format("127.0.0.1:{}", c.node(0).port()), "--cluster-from", id(from),
                          "--cluster-to", id(to), "--cluster-slots", std::to_string(slots), "--cluster-yes"});
}

struct drain_figures {
    std::uint64_t handled_ids = 0;  // distinct message numbers handled (HLEN)
    std::uint64_t handlings = 0;    // every handling (sum of the counts)
    std::uint64_t dead_letters = 0; // entries in the partitions' dead-letter streams
    std::uint64_t pending = 0;      // summed over the partitions
};

asio::awaitable<drain_figures> figures(cluster_client& cc, std::vector<std::string> const& keys) {
    drain_figures f;
    request totals;
    totals.push("HLEN", "handled");
    totals.push("EVAL", "local s = 0 for _, v in ipairs(redis.call('HVALS', KEYS[1])) do s = s + tonumber(v) end return s",
                1, "handled");
    co_await cc.routed().async_exec(totals, adapt(f.handled_ids, f.handlings), asio::use_awaitable);
    std::vector<std::uint64_t> dlq(keys.size());
    std::vector<pending_summary> pend(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
        request r;
        r.push("XLEN", keys[i] + ":dlq");
        r.push("XPENDING", keys[i], "g");
        co_await cc.routed().async_exec(r, adapt(dlq[i], pend[i]), asio::use_awaitable);
        f.dead_letters += dlq[i];
        f.pending += pend[i].count;
    }
    co_return f;
}

} // namespace

BOOST_AUTO_TEST_SUITE(cluster_reshard)

BOOST_AUTO_TEST_CASE(resharding_under_load_loses_nothing_and_drains_every_pending_list) {
    redis_cluster cluster{3};
    auto const keys = cluster::partition_keys("orders", partitions);
    std::vector<pid_t> children;
    for (int i = 0; i < 3; ++i)
        children.push_back(spawn_child({REDSTREAM_PARTITION_CHILD, cluster.url(), "orders", "g", fmt::format("proc-{}", i),
                                        std::to_string(partitions), "shared"}));

    asio::io_context ioc;
    cluster_client cc{ioc.get_executor(), cfg_for(cluster.node(0)), quiet()};
    partitioned_producer producer{cc, "orders", partitions, "customer"};
    std::atomic<bool> moved_all{false};
    std::string first_move, second_move;
    std::thread mover;
    int sent = 0, poison = 0;
    drain_figures f;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        // Traffic before, during and after the moves: 2,000 slots from the first master to the
        // second, then 1,500 from the second to the third.
        while (!moved_all || sent < 3000) {
            std::vector<field_list> batch;
            for (int i = 0; i < 50; ++i, ++sent) {
                field_list m{{"customer", fmt::format("c{}", sent % 101)}, {"n", std::to_string(sent)}};
                if (sent % 100 == 99) {
                    m.emplace_back("poison", "1");
                    ++poison;
                }
                batch.push_back(std::move(m));
            }
            co_await producer.publish_batch(batch);
            if (sent == 500)
                mover = std::thread([&] {
                    first_move = reshard(cluster, 0, 1, 2000);
                    second_move = reshard(cluster, 1, 2, 1500);
                    moved_all = true;
                });
            co_await sleep_for(20ms); // pacing: about 2,500 messages/s spread over the moves
        }
        auto const until = std::chrono::steady_clock::now() + 90s;
        while (std::chrono::steady_clock::now() < until) {
            f = co_await figures(cc, keys);
            if (f.handled_ids == std::uint64_t(sent - poison) && f.dead_letters == std::uint64_t(poison) && f.pending == 0)
                break;
            co_await sleep_for(250ms); // a bounded poll of the servers' figures
        }
        cc.close();
    });
    mover.join();
    for (auto pid : children)
        ::kill(pid, SIGTERM);
    for (auto pid : children)
        BOOST_TEST(wait_child(pid, 30s) == 0);

    BOOST_TEST(first_move.find("Moving slot") != std::string::npos, first_move.substr(0, 500));
    BOOST_TEST(second_move.find("Moving slot") != std::string::npos, second_move.substr(0, 500));
    BOOST_TEST(first_move.find("ERR") == std::string::npos, first_move.substr(0, 2000));
    BOOST_TEST(f.handled_ids == std::uint64_t(sent - poison)); // 0 lost
    BOOST_TEST(f.dead_letters == std::uint64_t(poison));      // dead letters = the poison messages
    BOOST_TEST(f.pending == 0u);                              // every pending list drained
    auto const redirects = cc.routed().stats().moved + cc.routed().stats().ask;
    BOOST_TEST(redirects > 0u); // the producer really met the moves
    BOOST_TEST_MESSAGE(fmt::format("resharding under load: {} sent ({} poison), {} handled once or more, {} handlings "
                                   "({} duplicates), {} dead letters, {} pending, {} producer redirects",
                                   sent, poison, f.handled_ids, f.handlings, f.handlings - f.handled_ids,
                                   f.dead_letters, f.pending, redirects));
}

BOOST_AUTO_TEST_SUITE_END()
