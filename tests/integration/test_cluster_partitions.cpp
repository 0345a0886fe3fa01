// Partitioned streams against real servers: a 3-master cluster (tests/common/redis_cluster) and
// one standalone server. Producing by key, consuming every partition, and a partition's worker
// following its slot to another master.
#include <redstream/cluster/key_slot.hpp>
#include <redstream/cluster/partitions.hpp>
#include <redstream/consume/partitioned_worker.hpp>
#include <redstream/io/cluster_client.hpp>
#include <redstream/io/partitioned_producer.hpp>
#include <redstream/ops/admin.hpp>
#include <redstream/ops/metrics.hpp>
#include <redstream/scaling/partitioned_autoscaler.hpp>

#include "redis_cluster.hpp"
#include "run_coro.hpp"
#include "worker_test_support.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/test/unit_test.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include <signal.h>

using namespace redstream;
using namespace redstream::test;

namespace {

// The handler of every scenario here: count each id's deliveries (ids are per partition key).
struct partition_tally {
    std::map<std::string, int> seen; // "<key> <id>"
    std::map<std::string, std::size_t> per_key;
    void attach(partitioned_worker& w) {
        w.on_message([this](message const& m) -> asio::awaitable<outcome> {
            ++seen[fmt::format("{} {}", m.stream(), m.id().to_string())];
            ++per_key[std::string{m.stream()}];
            co_return ack;
        });
    }
};

std::shared_ptr<bool> start(asio::io_context& ioc, partitioned_worker& w) {
    auto done = std::make_shared<bool>(false);
    asio::co_spawn(ioc, w.run(), [done](std::exception_ptr e) {
        *done = true;
        if (e)
            BOOST_ERROR("partitioned_worker.run() threw");
    });
    return done;
}

std::vector<field_list> orders(int from, int count) {
    std::vector<field_list> out;
    for (int i = from; i < from + count; ++i)
        out.push_back({{"customer", fmt::format("c{}", i % 37)}, {"n", std::to_string(i)}});
    return out;
}

redis_server& node_on(redis_cluster const& c, std::uint16_t port) {
    for (auto const& n : c.nodes())
        if (n->port() == port)
            return *n;
    throw std::runtime_error("no node on port " + std::to_string(port));
}

std::size_t pending_on(redis_server const& node, std::string const& key, std::string const& group) {
    auto const out = node.cli({"XPENDING", key, group});
    return static_cast<std::size_t>(std::stoul(out.substr(0, out.find('\n'))));
}

} // namespace

BOOST_AUTO_TEST_SUITE(cluster_partitions)

BOOST_AUTO_TEST_CASE(cluster_mode_comes_from_the_node_or_the_url) {
    redis_cluster cluster{3};
    redis_server single;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        BOOST_TEST(co_await cluster_client::is_cluster(config::from_url(cluster.url()), quiet()));
        BOOST_TEST(!co_await cluster_client::is_cluster(config::from_url(single.url()), quiet()));
        BOOST_TEST(!co_await cluster_client::is_cluster(config::from_url(cluster.url() + "?cluster=no"), quiet()));
        BOOST_TEST(co_await cluster_client::is_cluster(config::from_url(single.url() + "?cluster=yes"), quiet()));
        // A seed that does not answer: the next one in the URL's host list gives the map.
        auto seeds = config::from_url(fmt::format("redis://127.0.0.1:1,127.0.0.1:{}", cluster.node(1).port()));
        seeds.connect_timeout = 500ms;
        seeds.reconnect.max_delay = 100ms;
        cluster_client cc{ioc.get_executor(), seeds, quiet()};
        co_await cc.refresh();
        BOOST_TEST(cc.routed().slots().masters().size() == 3u);
        cc.close();
    });
}

BOOST_AUTO_TEST_CASE(a_partitioned_stream_spreads_over_the_masters_and_is_consumed_once_each) {
    redis_cluster cluster{3};
    asio::io_context ioc;
    cluster_client cc{ioc.get_executor(), cfg_for(cluster.node(0)), quiet()};
    constexpr std::size_t partitions = 6;
    constexpr int total = 1200;
    partitioned_producer producer{cc, "orders", partitions, "customer"};
    partitioned_worker w{cc, {.stream = "orders", .group = "billing", .start_id = "0", .consumers = 2, .batch = 50},
                         partitions};
    partition_tally t;
    t.attach(w);
    std::size_t routed_nodes = 0;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto const ids = co_await producer.publish_batch(orders(0, total));
        BOOST_TEST(ids.size() == std::size_t{total});
        auto done = start(ioc, w);
        BOOST_TEST(co_await eventually([&] { return t.seen.size() == std::size_t{total}; }, 30s));
        BOOST_TEST(co_await eventually([&] { return w.stats().total.acked == std::uint64_t{total}; }, 10s));

        // Metrics: every partition's series, sampled on its master; the masters' connections.
        metrics_registry registry;
        registry.add(cc);
        registry.add(w);
        auto const text = co_await registry.scrape();
        for (auto const& key : w.keys()) {
            BOOST_TEST(text.find(fmt::format("redstream_group_lag{{stream=\"{}\",group=\"billing\"}} 0", key)) !=
                           std::string::npos,
                       key);
            BOOST_TEST(text.find(fmt::format("redstream_messages_acked_total{{stream=\"{}\",group=\"billing\"}}", key)) !=
                       std::string::npos);
        }
        BOOST_TEST(text.find("redstream_cluster_refreshes_total{cluster=\"cluster\"}") != std::string::npos);
        BOOST_TEST(text.find("redstream_partition_moves_total{stream=\"orders\",group=\"billing\"} 0") !=
                   std::string::npos);
        BOOST_TEST(text.find("redstream_healthy 1") != std::string::npos, text.substr(0, 2000));
        auto const addresses = cc.node_addresses();
        auto const connected = std::count_if(addresses.begin(), addresses.end(), [&](auto const& a) {
            return text.find(fmt::format("redstream_connected{{client=\"cluster:{}\"}} 1", a)) != std::string::npos;
        });
        BOOST_TEST(connected == 3);
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }, 30s));
        routed_nodes = cc.routed().stats().nodes;
        cc.close();
    });
    std::size_t duplicates = 0;
    for (auto const& [id, n] : t.seen)
        duplicates += static_cast<std::size_t>(n - 1);
    BOOST_TEST(duplicates == 0u);

    // Same customer, same partition: every message of c5 is in one key.
    auto const c5 = cluster::partition_key("orders", cluster::partition_of("c5", partitions), partitions);
    auto const& map = cc.routed().slots();
    auto& c5_node = node_on(cluster, map.masters()[*map.master_of_key(c5)].port);
    BOOST_TEST(c5_node.cli({"XLEN", c5}) != "0");

    // Two partitions on each master, each read there; one connection per master from the
    // routed commands and the workers together (plus the workers' wake-up connections).
    auto const s = w.stats();
    std::map<std::string, std::size_t> partitions_per_node;
    for (auto const& p : s.partitions) {
        ++partitions_per_node[p.node];
        BOOST_TEST(p.stats.acked == t.per_key[p.key]);
        BOOST_TEST(pending_on(node_on(cluster, static_cast<std::uint16_t>(std::stoi(p.node.substr(p.node.find(':') + 1)))),
                              p.key, "billing") == 0u);
    }
    BOOST_TEST(partitions_per_node.size() == 3u);
    for (auto const& [node, n] : partitions_per_node)
        BOOST_TEST(n == 2u, node);
    BOOST_TEST(cc.node_addresses().size() == 3u);
    BOOST_TEST(routed_nodes == 3u);
    BOOST_TEST(s.moves == 0u);
}

// The slot of one partition moves to another master (IMPORTING, MIGRATING, MIGRATE of the
// stream key with its group and pending list, then SETSLOT NODE everywhere) while the worker
// runs: its worker restarts there, what is published after the move is consumed too, and its
// wake-ups now come from the new master.
BOOST_AUTO_TEST_CASE(a_partition_worker_follows_its_slot_to_the_new_master) {
    redis_cluster cluster{3};
    asio::io_context ioc;
    cluster_client cc{ioc.get_executor(), cfg_for(cluster.node(0)), quiet()};
    constexpr std::size_t partitions = 3;
    partitioned_producer producer{cc, "jobs", partitions};
    worker_options opts{.stream = "jobs", .group = "g", .start_id = "0", .consumers = 1, .batch = 20};
    opts.drain_timeout = 2000ms;
    opts.idle_poll_interval = 10000ms; // a wake-up that arrives sooner came from the new master's events
    partitioned_worker w{cc, opts, partitions};
    for (auto const& n : cluster.nodes()) // keyspace notifications are local to each node
        BOOST_TEST(n->cli({"CONFIG", "SET", "notify-keyspace-events", "Kt"}) == "OK");
    partition_tally t;
    t.attach(w);
    auto const moving = cluster::partition_key("jobs", 0, partitions);
    auto const slot = std::to_string(cluster::key_slot(moving));
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await producer.publish_batch(orders(0, 300));
        auto done = start(ioc, w);
        BOOST_TEST(co_await eventually([&] { return t.seen.size() == 300u; }, 30s));

        auto const& map = cc.routed().slots();
        auto const from = *map.master_of_key(moving);
        auto const to = (from + 1) % 3;
        auto const from_id = map.masters()[from].id, to_id = map.masters()[to].id;
        auto& source = node_on(cluster, map.masters()[from].port);
        auto& target = node_on(cluster, map.masters()[to].port);
        auto const target_address = fmt::format("127.0.0.1:{}", target.port());
        BOOST_TEST(target.cli({"CLUSTER", "SETSLOT", slot, "IMPORTING", from_id}) == "OK");
        BOOST_TEST(source.cli({"CLUSTER", "SETSLOT", slot, "MIGRATING", to_id}) == "OK");
        BOOST_TEST(source.cli({"MIGRATE", "127.0.0.1", std::to_string(target.port()), "", "0", "5000", "KEYS", moving}) ==
                   "OK");
        for (auto const& n : cluster.nodes())
            BOOST_TEST(n->cli({"CLUSTER", "SETSLOT", slot, "NODE", to_id}) == "OK");

        co_await producer.publish_batch(orders(300, 300)); // MOVED for partition 0's share, followed
        BOOST_TEST(co_await eventually([&] { return t.seen.size() == 600u; }, 30s));
        BOOST_TEST(co_await eventually([&] { return w.stats().partitions[0].node == target_address; }, 10s));
        BOOST_TEST(w.stats().moves == 1u);
        BOOST_TEST(co_await eventually([&] { return pending_on(target, moving, "g") == 0u; }, 10s));
        BOOST_TEST(cc.routed().stats().moved > 0u);

        // Wake-ups follow the owner: the moved partition's parked consumer hears the new
        // master's keyspace event, well within the 10 s poll interval.
        BOOST_TEST((w.stats().partitions[0].stats.wakeup == wakeup_mode::keyspace));
        BOOST_TEST(co_await eventually([&] { return w.stats().partitions[0].stats.parked == 1u; }, 10s));
        auto const before = t.per_key[moving];
        auto const sent = std::chrono::steady_clock::now();
        field_list const one{{"n", "after-the-move"}};
        co_await cc.publish(moving, one);
        BOOST_TEST(co_await eventually([&] { return t.per_key[moving] == before + 1; }, 15s));
        auto const woke = std::chrono::steady_clock::now() - sent;
        BOOST_TEST(woke < 2000ms, "woke after " << std::chrono::duration_cast<std::chrono::milliseconds>(woke).count()
                                                << " ms");
        BOOST_TEST_MESSAGE("moved partition woke " << std::chrono::duration_cast<std::chrono::microseconds>(woke).count()
                                                   << " us after the publish");
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }, 30s));
        cc.close();
    });
    BOOST_TEST(t.per_key[moving] > 0u);
}

// Step by step, the TRYAGAIN path: partition 0's slot is migrating and its dead-letter stream
// has already gone to the target while the partition itself has not. The atomic dead-letter
// move (one script over both keys) gets TRYAGAIN on the source; the poison message stays
// pending, not acked and not lost. Once the partition follows and the slot is the target's,
// the worker restarts there, re-reads its pending list and the move succeeds.
BOOST_AUTO_TEST_CASE(a_dead_letter_move_over_a_split_partition_meets_tryagain_and_completes_after_the_move) {
    redis_cluster cluster{3};
    asio::io_context ioc;
    cluster_client cc{ioc.get_executor(), cfg_for(cluster.node(0)), quiet()};
    constexpr std::size_t partitions = 3;
    worker_options opts{.stream = "jobs", .group = "g", .start_id = "0", .consumers = 1, .batch = 20};
    opts.drain_timeout = 2000ms;
    partitioned_worker w{cc, opts, partitions};
    std::size_t poison_seen = 0;
    w.on_message([&](message const&) -> asio::awaitable<outcome> {
        ++poison_seen;
        co_return dead_letter("poison");
    });
    auto const key = cluster::partition_key("jobs", 0, partitions);
    auto const dlq = key + ":dlq";
    auto const slot = std::to_string(cluster::key_slot(key));
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        request setup;
        setup.push("XGROUP", "CREATE", key, "g", "$", "MKSTREAM");
        setup.push("XADD", dlq, "*", "earlier", "dead letter");
        co_await cc.routed().async_exec(setup, adapt_ignore(), asio::use_awaitable);
        auto const& map = cc.routed().slots();
        auto const from = *map.master_of_key(key);
        auto const to = (from + 1) % 3;
        auto const from_id = map.masters()[from].id, to_id = map.masters()[to].id;
        auto& source = node_on(cluster, map.masters()[from].port);
        auto& target = node_on(cluster, map.masters()[to].port);
        BOOST_TEST(target.cli({"CLUSTER", "SETSLOT", slot, "IMPORTING", from_id}) == "OK");
        BOOST_TEST(source.cli({"CLUSTER", "SETSLOT", slot, "MIGRATING", to_id}) == "OK");
        BOOST_TEST(source.cli({"MIGRATE", "127.0.0.1", std::to_string(target.port()), "", "0", "5000", "KEYS", dlq}) ==
                   "OK");

        auto done = start(ioc, w);
        field_list const poison{{"poison", "1"}};
        co_await cc.publish(key, poison); // the partition is still on the source: served there
        BOOST_TEST(co_await eventually([&] { return poison_seen >= 1u; }, 10s));
        BOOST_TEST(co_await eventually([&] { return source.cli({"INFO", "errorstats"}).find("errorstat_TRYAGAIN") !=
                                                    std::string::npos; },
                                       10s));
        BOOST_TEST(pending_on(source, key, "g") == 1u); // refused, so left pending: not lost
        BOOST_TEST(w.stats().total.dead_lettered == 0u);

        // The partition follows its dead letters; the slot becomes the target's.
        BOOST_TEST(source.cli({"MIGRATE", "127.0.0.1", std::to_string(target.port()), "", "0", "5000", "KEYS", key}) ==
                   "OK");
        for (auto const& n : cluster.nodes())
            BOOST_TEST(n->cli({"CLUSTER", "SETSLOT", slot, "NODE", to_id}) == "OK");
        BOOST_TEST(co_await eventually([&] { return w.stats().total.dead_lettered == 1u; }, 20s));
        BOOST_TEST(w.stats().moves == 1u);
        BOOST_TEST(pending_on(target, key, "g") == 0u);
        BOOST_TEST(target.cli({"XLEN", dlq}).substr(0, 1) == "2"); // the earlier one and the poison
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }, 30s));
        cc.close();
    });
}

// The autoscaler per partition: the partition with a backlog gets more consumers on its master,
// the idle ones stay at the minimum, and all return to it once drained.
BOOST_AUTO_TEST_CASE(each_partition_scales_with_its_own_backlog) {
    redis_cluster cluster{3};
    asio::io_context ioc;
    cluster_client cc{ioc.get_executor(), cfg_for(cluster.node(0)), quiet()};
    constexpr std::size_t partitions = 3;
    partitioned_worker w{cc, {.stream = "load", .group = "g", .start_id = "0", .consumers = 1, .batch = 20}, partitions};
    std::size_t handled = 0;
    w.on_message([&](message const&) -> asio::awaitable<outcome> {
        co_await sleep_for(2ms); // the handler's I/O: one consumer handles about 500 messages/s
        ++handled;
        co_return ack;
    });
    autoscaler_options ao;
    ao.interval = 200ms;
    ao.policy.min_consumers = 1;
    ao.policy.max_consumers = 6;
    ao.policy.lag_high = 100;
    ao.policy.lag_low = 10;
    ao.policy.drain_target = 2s;
    ao.policy.up_cooldown = 300ms;
    ao.policy.down_cooldown = 700ms;
    partitioned_autoscaler scaler{w, ao};
    auto const keys = cluster::partition_keys("load", partitions);
    std::size_t busiest_max = 0, idle_max = 0;
    std::string text;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        request fill; // named: GCC 12 and temporaries inside co_await do not mix
        for (int i = 0; i < 3000; ++i)
            fill.push("XADD", keys[0], "*", "n", i);
        for (std::size_t p = 1; p < partitions; ++p)
            for (int i = 0; i < 30; ++i)
                fill.push("XADD", keys[p], "*", "n", i);
        co_await cc.routed().async_exec(fill, adapt_ignore(), asio::use_awaitable);
        auto done = start(ioc, w);
        bool scaler_done = false;
        asio::co_spawn(ioc, scaler.run(), [&](std::exception_ptr) { scaler_done = true; });
        auto watch = [&] {
            for (auto const& ws : scaler.status().workers) {
                auto& most = ws.streams == keys[0] ? busiest_max : idle_max;
                most = std::max(most, ws.status.consumers);
            }
            return handled == 3000u + 30u * (partitions - 1);
        };
        BOOST_TEST(co_await eventually(watch, 60s));
        BOOST_TEST(co_await eventually([&] { return scaler.status().consumers == partitions; }, 20s));
        metrics_registry registry;
        registry.add(scaler);
        text = co_await registry.scrape();
        scaler.stop();
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done && scaler_done; }, 30s));
        cc.close();
    });
    BOOST_TEST(busiest_max > 1u); // the backlog's partition scaled up...
    BOOST_TEST(idle_max == 1u);   // ...the others never did
    BOOST_TEST(text.find(fmt::format("redstream_autoscaler_desired_consumers{{stream=\"{}\",group=\"g\"}} 1", keys[0])) !=
                   std::string::npos,
               text.substr(0, 3000));
    partitioned_worker owned{cc, {.stream = "load", .group = "o"}, partitions, {.mode = partition_assignment::owned}};
    BOOST_CHECK_THROW((partitioned_autoscaler{owned}), std::invalid_argument);
}

// Safe trim per partition: each partition keeps what its own groups still need, on its master;
// a partition nothing was written to is skipped, not created.
BOOST_AUTO_TEST_CASE(each_partition_is_trimmed_to_its_own_floor_on_its_master) {
    redis_cluster cluster{3};
    asio::io_context ioc;
    cluster_client cc{ioc.get_executor(), cfg_for(cluster.node(0)), quiet()};
    auto const keys = cluster::partition_keys("audit", 6);
    std::vector<partition_trim> plans;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        request setup;
        for (std::size_t p = 0; p < 5; ++p) { // partition 5 stays empty
            setup.push("XGROUP", "CREATE", keys[p], "g", "0", "MKSTREAM");
            for (int i = 0; i < 10; ++i)
                setup.push("XADD", keys[p], "*", "n", i);
        }
        // Partition 0: all 10 read and acked; partition 1: 4 read, 2 of them acked.
        setup.push("XREADGROUP", "GROUP", "g", "c", "COUNT", 10, "STREAMS", keys[0], ">");
        setup.push("XREADGROUP", "GROUP", "g", "c", "COUNT", 4, "STREAMS", keys[1], ">");
        co_await cc.routed().async_exec(setup, adapt_ignore(), asio::use_awaitable);
        request ack;
        std::vector<std::string> const acked_keys{keys[0], keys[1]};
        for (auto const& key : acked_keys) {
            request range;
            range.push("XRANGE", key, "-", "+", "COUNT", key == keys[0] ? 10 : 2);
            entry_batch entries;
            co_await cc.routed().async_exec(range, adapt(entries), asio::use_awaitable);
            for (std::size_t i = 0; i < entries.size(); ++i)
                ack.push("XACK", key, "g", entries[i].id());
        }
        co_await cc.routed().async_exec(ack, adapt_ignore(), asio::use_awaitable);
        plans = co_await safe_trim_partitions(cc, "audit", 6);
        cc.close();
    });
    BOOST_TEST_REQUIRE(plans.size() == 6u);
    BOOST_TEST(plans[0].plan.deleted == 10u);
    BOOST_TEST(plans[1].plan.deleted == 2u); // the two acked; the two pending stay
    for (std::size_t p = 2; p < 5; ++p)
        BOOST_TEST(plans[p].plan.deleted == 0u, p);
    BOOST_TEST(!plans[5].present);
    for (std::size_t p = 0; p < 5; ++p)
        BOOST_TEST(plans[p].present);
    std::size_t empty_keys_found = 0;
    for (auto const& n : cluster.nodes())
        empty_keys_found += n->cli({"EXISTS", keys[5]}).substr(0, 1) == "1";
    BOOST_TEST(empty_keys_found == 0u);
}

// One server: the same API, one worker reading every partition in one XREADGROUP.
BOOST_AUTO_TEST_CASE(a_partitioned_stream_on_one_server_is_read_in_one_worker) {
    redis_server srv;
    asio::io_context ioc;
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    partitioned_producer producer{cl, "events", 4}; // round-robin: no key field
    partitioned_worker w{cl, {.stream = "events", .group = "g", .start_id = "0", .consumers = 2}, 4};
    partition_tally t;
    t.attach(w);
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 40; ++i) {
            field_list const fields{{"n", std::to_string(i)}}; // GCC 12: no braced list inside co_await
            co_await producer.publish(fields);
        }
        auto done = start(ioc, w);
        BOOST_TEST(co_await eventually([&] { return t.seen.size() == 40u; }, 20s));
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }, 30s));

        // Run again, cancelled from outside (`||` cancels the loser and waits for it): the
        // partitions' worker has drained when it completes, and the counters carry over.
        using namespace asio::experimental::awaitable_operators;
        auto const r = co_await (w.run() || sleep_for(300ms));
        BOOST_TEST(r.index() == 1u);
        BOOST_TEST(w.stats().total.consumers == 0u);
        BOOST_TEST(w.workers().size() == 1u);
        cl.close();
    });
    BOOST_TEST(t.per_key.size() == 4u);
    for (auto const& [key, n] : t.per_key)
        BOOST_TEST(n == 10u, key);
    BOOST_TEST(w.stats().partitions.size() == 1u);
    BOOST_TEST(w.stats().total.acked == 40u);
}

// A partition count the naming cannot make, or a marker prefix with its own hash tag on a
// cluster, is refused at construction.
BOOST_AUTO_TEST_CASE(bad_partition_settings_are_refused_up_front) {
    redis_server srv;
    asio::io_context ioc;
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    BOOST_CHECK_THROW((partitioned_worker{cl, {.stream = "s", .group = "g"}, 0}), std::invalid_argument);
    BOOST_CHECK_THROW((partitioned_worker{cl, {.stream = "", .group = "g"}, 2}), std::invalid_argument);
    BOOST_CHECK_THROW((partitioned_producer{cl, "s", 0}), std::invalid_argument);
    cluster_client cc{ioc.get_executor(), cfg_for(srv), quiet()};
    worker_options tagged{.stream = "s", .group = "g"};
    tagged.idempotency.key_prefix = "done:{x}:";
    BOOST_CHECK_THROW((partitioned_worker{cc, tagged, 2}), std::invalid_argument);
    cc.close();
    cl.close();
}

// A master without a replica stops answering (SIGSTOP): once the others mark it failed the
// cluster is down, and a publish to any master fails with server_errc::clusterdown after the
// routed connection's retries. When it comes back (SIGCONT) everything published before and after
// is consumed, without restarting anything.
BOOST_AUTO_TEST_CASE(cluster_down_is_a_clear_error_and_consumption_resumes_when_the_master_returns) {
    redis_cluster cluster{3};
    asio::io_context ioc;
    cluster_client cc{ioc.get_executor(), cfg_for(cluster.node(0)), quiet()};
    partitioned_producer producer{cc, "jobs", 3};
    partitioned_worker w{cc, {.stream = "jobs", .group = "g", .start_id = "0"}, 3};
    partition_tally t;
    t.attach(w);
    auto& stopped = cluster.node(2);
    struct resume_guard { // never leave a stopped server behind: its fixture could not stop it
        int pid;
        bool paused = false;
        void pause() { paused = ::kill(pid, SIGSTOP) == 0; }
        void resume() {
            if (std::exchange(paused, false))
                ::kill(pid, SIGCONT);
        }
        ~resume_guard() { resume(); }
    } guard{stopped.pid()};
    std::optional<error_code> down_error;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await producer.publish_batch(orders(0, 30));
        auto done = start(ioc, w);
        BOOST_TEST(co_await eventually([&] { return t.seen.size() == 30u; }, 30s));

        guard.pause();
        auto const state_of = [&](redis_server const& n) { return n.cli({"CLUSTER", "INFO"}); };
        BOOST_TEST(co_await eventually([&] { return state_of(cluster.node(0)).find("cluster_state:fail") != std::string::npos; },
                                       30s));
        try {
            field_list const one{{"n", "down"}};
            co_await cc.publish(cluster::partition_key("jobs", 0, 3), one);
        } catch (boost::system::system_error const& e) {
            down_error = e.code();
        }

        guard.resume();
        BOOST_TEST(co_await eventually([&] {
            for (auto const& n : cluster.nodes())
                if (state_of(*n).find("cluster_state:ok") == std::string::npos)
                    return false;
            return true;
        }, 30s));
        // The routed connection to the resumed master may still be reconnecting: retry briefly.
        bool published = false;
        for (int attempt = 0; attempt < 100 && !published; ++attempt) {
            try {
                co_await producer.publish_batch(orders(30, 30));
                published = true;
            } catch (boost::system::system_error const&) {
            }
            if (!published)
                co_await sleep_for(100ms);
        }
        BOOST_TEST(published);
        BOOST_TEST(co_await eventually([&] { return t.seen.size() >= 60u; }, 30s));
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }, 30s));
        cc.close();
    }, 120s);
    BOOST_TEST_REQUIRE(down_error.has_value());
    BOOST_TEST((*down_error == server_errc::clusterdown), down_error->message());
    BOOST_TEST(t.seen.size() >= 60u);
    BOOST_TEST(w.stats().total.read_errors > 0u); // the partitions did see the cluster down
}

BOOST_AUTO_TEST_SUITE_END()
