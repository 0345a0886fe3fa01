// Failover on a 3-master cluster with one replica per master: a coordinated CLUSTER FAILOVER
// under load loses nothing; a master killed with SIGKILL loses what asynchronous replication
// had not shipped (reported), and the consumers follow the promoted replica without a restart.
#include <redstream/cluster/partitions.hpp>
#include <redstream/consume/partitioned_worker.hpp>
#include <redstream/io/cluster_client.hpp>
#include <redstream/io/partitioned_producer.hpp>
#include <redstream/protocol/stream_readers.hpp>

#include "redis_cluster.hpp"
#include "run_coro.hpp"
#include "worker_test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <fmt/format.h>

#include <map>
#include <set>

using namespace redstream;
using namespace redstream::test;

namespace {

constexpr std::size_t partitions = 6;

// What was published (XADD acknowledged) and what was handled, by message number.
struct ledger {
    std::set<int> published;
    std::map<int, int> handled;
    int next = 0;
    std::uint64_t publish_errors = 0;

    std::size_t lost(int from = 0, int to = 1 << 30) const {
        std::size_t n = 0;
        for (int i : published)
            n += i >= from && i < to && !handled.contains(i);
        return n;
    }
    std::size_t duplicates() const {
        std::size_t d = 0;
        for (auto const& [i, c] : handled)
            d += static_cast<std::size_t>(c - 1);
        return d;
    }
};

// One XADD at a time, so a refused one is known (publish_batch would not say which failed).
asio::awaitable<void> publish_some(partitioned_producer& p, ledger& l, int count) {
    for (int i = 0; i < count; ++i) {
        int const n = l.next++;
        field_list const f{{"customer", fmt::format("c{}", n % 37)}, {"n", std::to_string(n)}};
        bool ok = true;
        try {
            co_await p.publish(f);
        } catch (boost::system::system_error const&) {
            ok = false; // CLUSTERDOWN, a connection lost with the master: not published
        }
        if (ok)
            l.published.insert(n);
        else
            ++l.publish_errors;
        if (i % 25 == 24)
            co_await sleep_for(5ms); // spread over time, so the failover lands mid-traffic
    }
}

asio::awaitable<std::uint64_t> pending_total(cluster_client& cc, std::vector<std::string> const& keys) {
    std::uint64_t total = 0;
    for (auto const& k : keys) {
        request r;
        r.push("XPENDING", k, "g");
        pending_summary s;
        co_await cc.routed().async_exec(r, adapt(s), asio::use_awaitable);
        total += s.count;
    }
    co_return total;
}

redis_server& replica_of(redis_cluster const& c, std::uint16_t master_port) {
    for (auto const& n : c.nodes())
        if (n->pid() > 0 && n->cli({"INFO", "replication"}).find(fmt::format("master_port:{}", master_port)) !=
                                std::string::npos)
            return *n;
    throw std::runtime_error(fmt::format("no replica of the master on port {}", master_port));
}

redis_server& node_on(redis_cluster const& c, std::uint16_t port) {
    for (auto const& n : c.nodes())
        if (n->port() == port)
            return *n;
    throw std::runtime_error("no node on port " + std::to_string(port));
}

worker_options orders_options() {
    worker_options o{.stream = "orders", .group = "g", .start_id = "0", .consumers = 1, .batch = 50};
    o.drain_timeout = 2000ms;
    return o;
}

void count_handlings(partitioned_worker& w, ledger& l) {
    w.on_message([&l](message const& m) -> asio::awaitable<outcome> {
        ++l.handled[std::stoi(std::string{m.field("n").value_or("-1")})];
        co_return ack;
    });
}

} // namespace

BOOST_AUTO_TEST_SUITE(cluster_failover)

BOOST_AUTO_TEST_CASE(a_coordinated_failover_under_load_loses_nothing) {
    redis_cluster cluster{3, 1};
    asio::io_context ioc;
    cluster_client cc{ioc.get_executor(), cfg_for(cluster.node(0)), quiet()};
    partitioned_producer producer{cc, "orders", partitions, "customer"};
    partitioned_worker w{cc, orders_options(), partitions};
    ledger l;
    count_handlings(w, l);
    auto const keys = cluster::partition_keys("orders", partitions);
    std::string promoted;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        bool stopped = false;
        asio::co_spawn(ioc, w.run(), [&](std::exception_ptr) { stopped = true; });
        co_await publish_some(producer, l, 600);
        auto const& map = cc.routed().slots();
        auto const old_master = map.masters()[*map.master_of_key(keys[0])];
        auto& replica = replica_of(cluster, old_master.port);
        promoted = fmt::format("127.0.0.1:{}", replica.port());
        BOOST_TEST(replica.cli({"CLUSTER", "FAILOVER"}) == "OK"); // the switch happens as we publish on
        co_await publish_some(producer, l, 1200);
        BOOST_TEST(co_await eventually([&] { return replica.cli({"ROLE"}).rfind("master", 0) == 0; }, 20s));
        BOOST_TEST(co_await eventually([&] { return l.lost() == 0; }, 30s));
        auto const until = std::chrono::steady_clock::now() + 30s;
        std::uint64_t pending = 1;
        while (pending > 0 && std::chrono::steady_clock::now() < until) {
            pending = co_await pending_total(cc, keys);
            if (pending > 0)
                co_await sleep_for(100ms); // a bounded poll of the servers' pending lists
        }
        BOOST_TEST(pending == 0u);
        BOOST_TEST(co_await eventually([&] { return w.stats().partitions[0].node == promoted; }, 10s));
        BOOST_TEST(!stopped); // no restart: the same run() followed the failover
        w.stop();
        BOOST_TEST(co_await eventually([&] { return stopped; }, 30s));
        cc.close();
    });
    BOOST_TEST(l.lost() == 0u);
    BOOST_TEST(w.stats().moves >= 1u);
    BOOST_TEST_MESSAGE(fmt::format("CLUSTER FAILOVER under load: {} published ({} refused), 0 lost, {} duplicates, "
                                   "{} partition moves, {} MOVED followed by the producer",
                                   l.published.size(), l.publish_errors, l.duplicates(), w.stats().moves,
                                   cc.routed().stats().moved));
}

BOOST_AUTO_TEST_CASE(a_killed_master_loses_only_unreplicated_writes_and_consumers_recover_without_restart) {
    redis_cluster cluster{3, 1};
    asio::io_context ioc;
    cluster_client cc{ioc.get_executor(), cfg_for(cluster.node(0)), quiet()};
    partitioned_producer producer{cc, "orders", partitions, "customer"};
    partitioned_worker w{cc, orders_options(), partitions};
    ledger l;
    count_handlings(w, l);
    auto const keys = cluster::partition_keys("orders", partitions);
    int recovered_from = 0;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        bool stopped = false;
        asio::co_spawn(ioc, w.run(), [&](std::exception_ptr) { stopped = true; });
        co_await publish_some(producer, l, 600);
        BOOST_TEST(co_await eventually([&] { return l.lost() == 0; }, 20s));
        auto const& map = cc.routed().slots();
        auto const victim_port = map.masters()[*map.master_of_key(keys[0])].port;
        auto& victim = node_on(cluster, victim_port);
        auto& replica = replica_of(cluster, victim_port);
        co_await publish_some(producer, l, 300); // some of these may not have reached the replica
        victim.kill_hard();
        BOOST_TEST(co_await eventually([&] { return replica.cli({"ROLE"}).rfind("master", 0) == 0; }, 30s));
        recovered_from = l.next;
        co_await publish_some(producer, l, 600);
        BOOST_TEST(co_await eventually([&] { return l.lost(recovered_from) == 0; }, 30s));
        BOOST_TEST(co_await eventually([&] { return w.stats().partitions[0].node ==
                                                    fmt::format("127.0.0.1:{}", replica.port()); },
                                       10s));
        BOOST_TEST(!stopped); // the consumers followed the promotion in the same run()
        w.stop();
        BOOST_TEST(co_await eventually([&] { return stopped; }, 30s));
        cc.close();
    });
    BOOST_TEST(l.lost(recovered_from) == 0u); // everything published after the promotion
    std::size_t published_after = 0;
    for (int n : l.published)
        published_after += n >= recovered_from;
    BOOST_TEST(published_after > 500u); // the producer recovered too
    BOOST_TEST_MESSAGE(fmt::format("kill -9 of a master: {} published, {} refused while it was down, {} lost to "
                                   "asynchronous replication (all published before the kill), {} lost after the "
                                   "promotion, {} duplicates, {} partition moves",
                                   l.published.size(), l.publish_errors, l.lost(), l.lost(recovered_from),
                                   l.duplicates(), w.stats().moves));
}

BOOST_AUTO_TEST_SUITE_END()
