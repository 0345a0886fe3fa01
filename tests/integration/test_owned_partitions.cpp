// Owned assignment of a partitioned stream against a real server (and a 3-master cluster):
// members split the partitions, each partition read in order by one member, handed over when
// a member joins or stops, and a crashed member's partitions and pending entries taken over
// once its lease expires.
#include <redstream/cluster/partitions.hpp>
#include <redstream/consume/partitioned_worker.hpp>
#include <redstream/io/cluster_client.hpp>
#include <redstream/ops/metrics.hpp>

#include "redis_cluster.hpp"
#include "run_coro.hpp"
#include "worker_test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <fmt/format.h>

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace redstream;
using namespace redstream::test;

namespace {

constexpr std::size_t partitions = 6;

// Handling order per partition: each message carries its partition's sequence number `n`.
struct order_log {
    std::map<std::string, std::vector<long>> handled; // partition key → n, in handling order
    std::map<std::string, int> deliveries;           // "<key> <id>" → times handled
    std::map<std::string, std::set<std::string>> by_member; // member → partitions it handled
    std::size_t total = 0;

    void attach(partitioned_worker& w, std::string member) {
        w.on_message([this, member](message const& m) -> asio::awaitable<outcome> {
            std::string const key{m.stream()};
            handled[key].push_back(std::stol(std::string{m.field("n").value_or("-1")}));
            ++deliveries[fmt::format("{} {}", key, m.id().to_string())];
            by_member[member].insert(key);
            ++total;
            co_return ack;
        });
    }
    // Entries handled out of their partition's order (a smaller n after a larger one).
    std::size_t out_of_order() const {
        std::size_t bad = 0;
        for (auto const& [key, ns] : handled)
            for (std::size_t i = 1; i < ns.size(); ++i)
                bad += ns[i] < ns[i - 1];
        return bad;
    }
    std::size_t duplicates() const {
        std::size_t d = 0;
        for (auto const& [id, n] : deliveries)
            d += static_cast<std::size_t>(n - 1);
        return d;
    }
};

// `count` messages per partition, numbered on from `next[key]`.
asio::awaitable<void> publish_numbered(client& c, std::vector<std::string> const& keys, std::map<std::string, long>& next,
                                       int count) {
    for (int i = 0; i < count; ++i)
        for (auto const& key : keys) {
            field_list const fields{{"n", std::to_string(next[key]++)}};
            co_await c.publish(key, fields);
        }
}

assignment_options owned_as(std::string member) {
    return {.mode = partition_assignment::owned, .lease_ttl = std::chrono::milliseconds{1000}, .member = std::move(member)};
}

worker_options jobs_for(std::string identity) {
    return {.stream = "jobs", .group = "g", .start_id = "0", .identity = std::move(identity), .batch = 16};
}

std::shared_ptr<bool> start(asio::io_context& ioc, partitioned_worker& w) {
    auto done = std::make_shared<bool>(false);
    asio::co_spawn(ioc, w.run(), [done](std::exception_ptr e) {
        *done = true;
        if (e)
            BOOST_ERROR("partitioned_worker.run() threw");
    });
    return done;
}

std::set<std::string> owned_keys(partitioned_worker const& w) {
    std::set<std::string> out;
    for (auto const& p : w.stats().partitions)
        if (p.owned)
            out.insert(p.key);
    return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(owned_partitions)

// One member owns every partition; a second one joins and takes half; the first stops and the
// second owns all. Every entry is handled once, in its partition's order, through both
// handovers; a lease taken by someone else stops that partition until it is free again.
BOOST_AUTO_TEST_CASE(members_split_the_partitions_and_hand_them_over_in_order) {
    redis_server srv;
    asio::io_context ioc;
    client c1{ioc.get_executor(), cfg_for(srv), quiet()};
    client c2{ioc.get_executor(), cfg_for(srv), quiet()};
    partitioned_worker w1{c1, jobs_for("m1"), partitions, owned_as("m1")};
    partitioned_worker w2{c2, jobs_for("m2"), partitions, owned_as("m2")};
    order_log log;
    log.attach(w1, "m1");
    log.attach(w2, "m2");
    auto const keys = cluster::partition_keys("jobs", partitions);
    std::map<std::string, long> next;
    std::size_t expected = 0;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await publish_numbered(c1, keys, next, 20);
        expected += 20 * partitions;
        auto done1 = start(ioc, w1);
        BOOST_TEST(co_await eventually([&] { return w1.stats().owned == partitions; }, 10s));
        BOOST_TEST(co_await eventually([&] { return log.total == expected; }, 10s));

        // A second member: three partitions each, disjoint, while entries keep coming.
        auto done2 = start(ioc, w2);
        for (int round = 0; round < 10; ++round) {
            co_await publish_numbered(c1, keys, next, 5);
            expected += 5 * partitions;
            co_await sleep_for(20ms); // traffic spread over the handover, not a synchronisation
        }
        BOOST_TEST(co_await eventually([&] { return w1.stats().owned == 3u && w2.stats().owned == 3u; }, 10s));
        BOOST_TEST(co_await eventually([&] { return log.total == expected; }, 10s));
        auto const o1 = owned_keys(w1), o2 = owned_keys(w2);
        for (auto const& k : o1)
            BOOST_TEST(!o2.contains(k), k);
        BOOST_TEST(w1.stats().members == 2u);
        metrics_registry registry;
        registry.add(w1);
        auto const text = co_await registry.scrape();
        BOOST_TEST(text.find("redstream_partitions_owned{stream=\"jobs\",group=\"g\"} 3") != std::string::npos, text);
        BOOST_TEST(text.find("redstream_partition_members{stream=\"jobs\",group=\"g\"} 2") != std::string::npos);
        BOOST_TEST(text.find("redstream_partition_leases_lost_total{stream=\"jobs\",group=\"g\"} 0") != std::string::npos);
        co_await publish_numbered(c1, keys, next, 10);
        expected += 10 * partitions;
        BOOST_TEST(co_await eventually([&] { return log.total == expected; }, 10s));
        BOOST_TEST(log.by_member["m2"].size() == 3u); // m2 read only its own partitions

        // Another process writes m2's lease of one partition as its own: m2 stops reading it,
        // and takes it back once that lease has expired.
        auto const taken = *o2.begin();
        srv.cli({"SET", taken + ":lease:g", "intruder", "PX", "600"});
        BOOST_TEST(co_await eventually([&] { return w2.stats().leases_lost >= 1u; }, 5s));
        BOOST_TEST(co_await eventually([&] { return owned_keys(w2).contains(taken); }, 5s));

        // m1 stops: it gives its leases back, so m2 takes them without waiting for the TTL.
        w1.stop();
        BOOST_TEST(co_await eventually([&] { return *done1; }, 20s));
        BOOST_TEST(w1.stats().leases_released >= 3u);
        BOOST_TEST(co_await eventually([&] { return w2.stats().owned == partitions; }, 3s));
        co_await publish_numbered(c1, keys, next, 10);
        expected += 10 * partitions;
        BOOST_TEST(co_await eventually([&] { return log.total == expected; }, 10s));
        w2.stop();
        BOOST_TEST(co_await eventually([&] { return *done2; }, 20s));
        c1.close();
        c2.close();
    });
    BOOST_TEST(log.total == expected);
    BOOST_TEST(log.duplicates() == 0u);
    BOOST_TEST(log.out_of_order() == 0u);
    BOOST_TEST(log.handled.size() == partitions);
    for (auto const& key : keys)
        BOOST_TEST(srv.cli({"EXISTS", key + ":lease:g"}) == "0", key); // every lease given back
    BOOST_TEST(srv.cli({"ZCARD", "jobs:members:g"}) == "0");
}

// A member that crashed holds a lease and ten pending entries of a partition. Once its lease
// expires, the live member takes the partition, claims those entries at once (not after
// min_idle, 60 s) and handles them before the newer ones: the partition's order holds.
BOOST_AUTO_TEST_CASE(a_crashed_members_partition_and_pending_entries_move_on_in_order) {
    redis_server srv;
    auto const keys = cluster::partition_keys("jobs", partitions);
    auto const& key = keys[0];
    srv.cli({"XGROUP", "CREATE", key, "g", "0", "MKSTREAM"});
    for (int n = 0; n < 20; ++n)
        srv.cli({"XADD", key, "*", "n", std::to_string(n)});
    srv.cli({"XREADGROUP", "GROUP", "g", "redstream.ghost.0", "COUNT", "10", "STREAMS", key, ">"});
    srv.cli({"SET", key + ":lease:g", "ghost", "PX", "1500"});
    auto const now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    srv.cli({"ZADD", "jobs:members:g", std::to_string(now_ms + 1500), "ghost"});

    asio::io_context ioc;
    client c{ioc.get_executor(), cfg_for(srv), quiet()};
    partitioned_worker w{c, jobs_for("m1"), partitions, owned_as("m1")};
    order_log log;
    log.attach(w, "m1");
    auto const t0 = std::chrono::steady_clock::now();
    std::chrono::milliseconds took{};
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto done = start(ioc, w);
        BOOST_TEST(co_await eventually([&] { return log.handled[key].size() == 20u; }, 10s));
        took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
        BOOST_TEST(co_await eventually([&] { return w.stats().owned == partitions; }, 5s));
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }, 20s));
        c.close();
    });
    std::vector<long> in_order(20);
    for (int n = 0; n < 20; ++n)
        in_order[static_cast<std::size_t>(n)] = n;
    BOOST_TEST(log.handled[key] == in_order, boost::test_tools::per_element());
    BOOST_TEST(took.count() >= 1000); // not before the ghost's lease had expired...
    BOOST_TEST(took.count() < 8000);  // ...and long before min_idle
    BOOST_TEST(srv.cli({"XPENDING", key, "g"}).substr(0, 1) == "0");
    BOOST_TEST_MESSAGE(fmt::format("took over a crashed member's partition after {} ms", took.count()));
}

// Handlers that outlast the lease TTL across a handover and a stop: the leaving member keeps
// renewing each lease until its partition has drained, so the next owner never claims and
// handles an entry that is still in a handler here.
BOOST_AUTO_TEST_CASE(a_slow_handler_keeps_its_partition_until_it_is_done) {
    redis_server srv;
    asio::io_context ioc;
    client c1{ioc.get_executor(), cfg_for(srv), quiet()};
    client c2{ioc.get_executor(), cfg_for(srv), quiet()};
    constexpr std::size_t two = 2;
    partitioned_worker w1{c1, jobs_for("m1"), two, owned_as("m1")};
    partitioned_worker w2{c2, jobs_for("m2"), two, owned_as("m2")};
    std::map<std::string, int> in_flight, most;
    std::map<std::string, int> deliveries;
    std::size_t handled = 0;
    auto slow = [&](message const& m) -> asio::awaitable<outcome> {
        std::string const key{m.stream()};
        most[key] = std::max(most[key], ++in_flight[key]);
        ++deliveries[fmt::format("{} {}", key, m.id().to_string())];
        if (m.field("n").value_or("") == "0")
            co_await sleep_for(1500ms); // the work itself: longer than the 1 s lease TTL
        --in_flight[key];
        ++handled;
        co_return ack;
    };
    w1.on_message(slow);
    w2.on_message(slow);
    auto const keys = cluster::partition_keys("jobs", two);
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto d1 = start(ioc, w1);
        BOOST_TEST(co_await eventually([&] { return w1.stats().owned == two; }, 10s));
        std::map<std::string, long> next;
        co_await publish_numbered(c1, keys, next, 1);
        BOOST_TEST(co_await eventually([&] { return in_flight[keys[0]] == 1 && in_flight[keys[1]] == 1; }, 5s));
        auto d2 = start(ioc, w2); // one partition is handed over while its handler runs...
        BOOST_TEST(co_await eventually([&] { return w1.stats().members == 2u; }, 5s));
        w1.stop();                // ...and the other one is left while its handler runs
        BOOST_TEST(co_await eventually([&] { return *d1; }, 10s));
        BOOST_TEST(co_await eventually([&] { return w2.stats().owned == two; }, 5s));
        co_await publish_numbered(c1, keys, next, 1);
        BOOST_TEST(co_await eventually([&] { return handled == 4u; }, 10s));
        w2.stop();
        BOOST_TEST(co_await eventually([&] { return *d2; }, 10s));
        c1.close();
        c2.close();
    });
    for (auto const& key : keys)
        BOOST_TEST(most[key] == 1, key);
    for (auto const& [id, n] : deliveries)
        BOOST_TEST(n == 1, id);
    BOOST_TEST(handled == 4u);
}

BOOST_AUTO_TEST_CASE(owned_settings_that_cannot_keep_order_are_refused) {
    redis_server srv;
    asio::io_context ioc;
    client c{ioc.get_executor(), cfg_for(srv), quiet()};
    auto two = jobs_for("m");
    two.consumers = 2;
    BOOST_CHECK_THROW((partitioned_worker{c, two, partitions, owned_as("m")}), std::invalid_argument);
    auto fast = owned_as("m");
    fast.lease_ttl = std::chrono::milliseconds{50};
    BOOST_CHECK_THROW((partitioned_worker{c, jobs_for("m"), partitions, fast}), std::invalid_argument);
    partitioned_worker named{c, jobs_for("pod-7"), partitions, {.mode = partition_assignment::owned}};
    BOOST_TEST(named.assignment().member == "redstream.pod-7");
    c.close();
}

// On a cluster: two members split six partitions spread over three masters; each reads its
// partitions on their masters, and every entry is handled once, in order.
BOOST_AUTO_TEST_CASE(owned_partitions_on_a_cluster_are_read_on_their_masters) {
    redis_cluster cl{3};
    asio::io_context ioc;
    cluster_client cc1{ioc.get_executor(), cfg_for(cl.node(0)), quiet()};
    cluster_client cc2{ioc.get_executor(), cfg_for(cl.node(1)), quiet()};
    partitioned_worker w1{cc1, jobs_for("m1"), partitions, owned_as("m1")};
    partitioned_worker w2{cc2, jobs_for("m2"), partitions, owned_as("m2")};
    order_log log;
    log.attach(w1, "m1");
    log.attach(w2, "m2");
    auto const keys = cluster::partition_keys("jobs", partitions);
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto d1 = start(ioc, w1);
        auto d2 = start(ioc, w2);
        BOOST_TEST(co_await eventually([&] { return w1.stats().owned == 3u && w2.stats().owned == 3u; }, 15s));
        for (int n = 0; n < 30; ++n)
            for (auto const& key : keys) {
                field_list const fields{{"n", std::to_string(n)}};
                co_await cc1.publish(key, fields);
            }
        BOOST_TEST(co_await eventually([&] { return log.total == 30 * partitions; }, 15s));
        std::set<std::string> nodes;
        for (auto const& p : w1.stats().partitions)
            if (p.owned)
                nodes.insert(p.node);
        for (auto const& p : w2.stats().partitions)
            if (p.owned)
                nodes.insert(p.node);
        BOOST_TEST(nodes.size() == 3u); // the six partitions live on all three masters
        w1.stop();
        w2.stop();
        BOOST_TEST(co_await eventually([&] { return *d1 && *d2; }, 20s));
        cc1.close();
        cc2.close();
    });
    BOOST_TEST(log.duplicates() == 0u);
    BOOST_TEST(log.out_of_order() == 0u);
    BOOST_TEST(log.by_member["m1"].size() == 3u);
    BOOST_TEST(log.by_member["m2"].size() == 3u);
}

BOOST_AUTO_TEST_SUITE_END()
