// The cluster routing core against a real 3-master cluster (tests/common/redis_cluster): slots
// as CLUSTER KEYSLOT computes them, the slot map from CLUSTER SLOTS, MOVED and ASK redirects
// as the nodes send them, and partitions spread over the masters.
#include <redstream/cluster/key_slot.hpp>
#include <redstream/cluster/partitions.hpp>
#include <redstream/cluster/redirect.hpp>
#include <redstream/cluster/slot_map.hpp>
#include <redstream/io/cluster_connection.hpp>
#include <redstream/io/connection.hpp>
#include <redstream/protocol/adapter.hpp>

#include "redis_cluster.hpp"
#include "run_coro.hpp"

#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <map>

using namespace redstream;
using namespace redstream::test;
namespace asio = boost::asio;

namespace {

// CLUSTER SLOTS from the first node, read with redstream's own reader.
cluster::slot_map read_slot_map(redis_cluster const& c) {
    asio::io_context ioc;
    connection conn{ioc.get_executor(), config::from_url(c.url()), logger::none()};
    start_run(conn);
    cluster::cluster_slots reply;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        request r;
        r.push("CLUSTER", "SLOTS");
        co_await conn.async_exec(r, adapt(reply), asio::use_awaitable);
        conn.close();
    });
    return cluster::slot_map::from_reply(reply, "127.0.0.1");
}

// The error text a node answers `GET key` with (empty when it serves the key).
std::string get_error(redis_server const& node, std::string const& key) {
    auto out = node.cli({"GET", key});
    return out.starts_with("MOVED") || out.starts_with("ASK") ? out : std::string{};
}

} // namespace

BOOST_AUTO_TEST_SUITE(cluster_routing)

BOOST_AUTO_TEST_CASE(slots_map_redirects_and_partitions_match_a_real_cluster) {
    redis_cluster cluster{3};

    // Slots: the edge cases of hash tags, the empty key, and partition keys.
    std::vector<std::string> keys{"", "{}", "{{a}}", "a{}{b}", "a{b}{c}", "{a", "foo", "{user1000}.following",
                                  "orders:dlq:{p0-0}"};
    for (auto const& k : cluster::partition_keys("orders", 12))
        keys.push_back(k);
    for (auto const& k : keys)
        BOOST_TEST(std::to_string(cluster::key_slot(k)) == cluster.node(0).cli({"CLUSTER", "KEYSLOT", k}), "key " << k);

    // The slot map: every slot covered, by the three masters, a third each.
    auto const map = read_slot_map(cluster);
    BOOST_TEST(map.uncovered_slots() == 0u);
    BOOST_TEST_REQUIRE(map.masters().size() == 3u);
    std::map<std::uint16_t, std::size_t> index_of_port;
    for (std::size_t i = 0; i < 3; ++i) {
        index_of_port[map.masters()[i].port] = i;
        BOOST_TEST(map.masters()[i].id.size() == 40u); // node ids
        BOOST_TEST(map.slots_of(i) >= 5460u);
    }
    for (auto const& n : cluster.nodes())
        BOOST_TEST(index_of_port.count(n->port()) == 1u);

    // MOVED: a node that does not serve a key names the master the map names.
    std::size_t redirects = 0;
    for (auto const& n : cluster.nodes()) {
        auto const err = get_error(*n, "foo");
        if (err.empty()) {
            BOOST_TEST(*map.master_of_key("foo") == index_of_port[n->port()]);
            continue;
        }
        auto const r = cluster::parse_redirect(err);
        BOOST_TEST_REQUIRE(r.has_value(), err);
        BOOST_TEST((r->type == cluster::redirect::kind::moved));
        BOOST_TEST(r->slot == cluster::key_slot("foo"));
        BOOST_TEST(r->port == map.masters()[*map.master_of_key("foo")].port);
        ++redirects;
    }
    BOOST_TEST(redirects == 2u);

    // Partitions: 12 partitions put 4 on each master; the naive tags leave one master empty.
    std::vector<std::size_t> per_master(3);
    for (auto const& k : cluster::partition_keys("orders", 12))
        ++per_master[*map.master_of_key(k)];
    BOOST_TEST(per_master == (std::vector<std::size_t>{4, 4, 4}), boost::test_tools::per_element());
    std::vector<std::size_t> naive(3);
    for (auto const* k : {"orders:{0}", "orders:{1}", "orders:{2}"})
        ++naive[*map.master_of_key(k)];
    BOOST_TEST(std::count(naive.begin(), naive.end(), 0u) == 1);
}

BOOST_AUTO_TEST_CASE(a_migrating_slot_answers_ask_with_the_importing_node) {
    redis_cluster cluster{3};
    auto const map = read_slot_map(cluster);
    std::string const key = "migrating-key";
    auto const slot = std::to_string(cluster::key_slot(key));
    auto const from = *map.master_of_key(key);
    auto const to = (from + 1) % 3;
    redis_server* source = nullptr;
    redis_server* target = nullptr;
    for (auto const& n : cluster.nodes()) {
        if (n->port() == map.masters()[from].port)
            source = n.get();
        if (n->port() == map.masters()[to].port)
            target = n.get();
    }
    BOOST_TEST_REQUIRE((source && target));
    // Step by step, as redis-cli --cluster reshard does: IMPORTING on the target, MIGRATING on
    // the source; a key not yet on the source is then looked for on the target (ASK).
    BOOST_TEST(target->cli({"CLUSTER", "SETSLOT", slot, "IMPORTING", map.masters()[from].id}) == "OK");
    BOOST_TEST(source->cli({"CLUSTER", "SETSLOT", slot, "MIGRATING", map.masters()[to].id}) == "OK");
    auto const err = get_error(*source, key);
    auto const r = cluster::parse_redirect(err);
    BOOST_TEST_REQUIRE(r.has_value(), err);
    BOOST_TEST((r->type == cluster::redirect::kind::ask));
    BOOST_TEST(r->port == target->port());
    BOOST_TEST(std::to_string(r->slot) == slot);
    BOOST_TEST((classify_server_error(err) == server_errc::ask));
}

// The node of `cluster` listening on `port`.
redis_server& node_on(redis_cluster const& c, std::uint16_t port) {
    for (auto const& n : c.nodes())
        if (n->port() == port)
            return *n;
    throw std::runtime_error("no node on port " + std::to_string(port));
}

// Bounded wait, polling on the io_context, until `done()` (or 10 s pass).
template <class Pred>
asio::awaitable<bool> eventually(Pred done) {
    asio::steady_timer t{co_await asio::this_coro::executor};
    for (int i = 0; i < 1000 && !done(); ++i) {
        t.expires_after(std::chrono::milliseconds{10});
        co_await t.async_wait(asio::use_awaitable);
    }
    co_return done();
}

BOOST_AUTO_TEST_CASE(a_pipeline_across_masters_answers_in_request_order) {
    redis_cluster cluster{3};
    asio::io_context ioc;
    cluster_connection cc{ioc.get_executor(), config::from_url(cluster.url()), logger::none()};
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        request r;
        for (int i = 0; i < 30; ++i) {
            r.push("SET", "key-" + std::to_string(i), "value-" + std::to_string(i));
            r.push("GET", "key-" + std::to_string(29 - i)); // set earlier only for i >= 15
        }
        r.push("PING");
        std::vector<result<std::optional<std::string>>> replies;
        auto [ec, n] = co_await cc.async_exec(r, adapt_each(replies), asio::as_tuple(asio::use_awaitable));
        BOOST_TEST(!ec);
        BOOST_TEST(n == 61u);
        BOOST_TEST_REQUIRE(replies.size() == 61u);
        for (int i = 0; i < 30; ++i) {
            BOOST_TEST((replies[2 * i].has_value() && *replies[2 * i].value() == "OK"));
            auto const& got = replies[2 * i + 1];
            BOOST_TEST_REQUIRE(got.has_value());
            if (29 - i < i)
                BOOST_TEST(got.value().value_or("<nil>") == "value-" + std::to_string(29 - i));
            else
                BOOST_TEST(!got.value().has_value());
        }
        BOOST_TEST(*replies[60].value() == "PONG");
        BOOST_TEST(cc.stats().nodes == 3u); // the keys spread over every master
        BOOST_TEST(cc.stats().moved == 0u);

        // A transaction stays on its key's node, and its replies keep their order.
        request tx;
        tx.push("MULTI");
        tx.push("SET", "{tx}a", "1");
        tx.push("INCR", "{tx}a");
        tx.push("EXEC");
        std::string ok, q1, q2;
        std::vector<std::string> results;
        auto [tec, tn] = co_await cc.async_exec(tx, adapt(ok, q1, q2, results), asio::as_tuple(asio::use_awaitable));
        BOOST_TEST(!tec);
        BOOST_TEST(tn == 4u);
        BOOST_TEST(q1 == "QUEUED");
        BOOST_TEST(results == (std::vector<std::string>{"OK", "2"}), boost::test_tools::per_element());
        cc.close();
    });
}

BOOST_AUTO_TEST_CASE(moved_is_followed_and_a_burst_refreshes_the_map_once) {
    redis_cluster cluster{3};
    asio::io_context ioc;
    cluster_connection cc{ioc.get_executor(), config::from_url(cluster.url()), logger::none()};
    auto const slot = cluster::key_slot("{moving}");
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        request first;
        first.push("GET", "{moving}0");
        std::optional<std::string> nothing;
        co_await cc.async_exec(first, adapt(nothing), asio::use_awaitable);
        BOOST_TEST(cc.stats().refreshes == 1u);
        auto const from = *cc.slots().master_of(slot);
        auto const to = (from + 1) % 3;
        // The slot holds no key: assign it to another master on every node at once.
        auto const target_id = cc.slots().masters()[to].id;
        for (auto const& n : cluster.nodes())
            BOOST_TEST(n->cli({"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", target_id}) == "OK");

        // Six commands for the moved slot: six MOVED, each followed, one refresh for all.
        request r;
        for (int i = 0; i < 5; ++i)
            r.push("SET", "{moving}" + std::to_string(i), i);
        r.push("GET", "{moving}3");
        std::vector<result<std::string>> replies;
        auto [ec, n] = co_await cc.async_exec(r, adapt_each(replies), asio::as_tuple(asio::use_awaitable));
        BOOST_TEST(!ec);
        BOOST_TEST_REQUIRE(replies.size() == 6u);
        BOOST_TEST((replies[0].has_value() && *replies[0] == "OK"));
        BOOST_TEST((replies[5].has_value() && *replies[5] == "3"));
        BOOST_TEST(cc.stats().moved == 6u);
        BOOST_TEST(*cc.slots().master_of(slot) == to); // applied at once
        BOOST_TEST(co_await eventually([&] { return cc.stats().refreshes >= 2u; }));
        BOOST_TEST(cc.stats().refreshes == 2u);
        BOOST_TEST(node_on(cluster, cc.slots().masters()[to].port).cli({"GET", "{moving}3"}) == "3");

        // Routed right from now on: no more redirects.
        co_await cc.async_exec(first, adapt(nothing), asio::use_awaitable);
        BOOST_TEST(cc.stats().moved == 6u);
        cc.close();
    });
}

BOOST_AUTO_TEST_CASE(ask_sends_asking_then_the_command_to_the_importing_node) {
    redis_cluster cluster{3};
    asio::io_context ioc;
    cluster_connection cc{ioc.get_executor(), config::from_url(cluster.url()), logger::none()};
    std::string const key = "{migrating}k";
    auto const slot = std::to_string(cluster::key_slot(key));
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        request ping;
        ping.push("PING");
        co_await cc.async_exec(ping, adapt_ignore(), asio::use_awaitable);
        auto const& map = cc.slots();
        auto const from = *map.master_of_key(key);
        auto const to = (from + 1) % 3;
        auto& source = node_on(cluster, map.masters()[from].port);
        auto& target = node_on(cluster, map.masters()[to].port);
        BOOST_TEST(target.cli({"CLUSTER", "SETSLOT", slot, "IMPORTING", map.masters()[from].id}) == "OK");
        BOOST_TEST(source.cli({"CLUSTER", "SETSLOT", slot, "MIGRATING", map.masters()[to].id}) == "OK");

        // The key is not on the source: ASK, and the write lands on the importing target.
        request set;
        set.push("SET", key, "moved-in");
        set.push("GET", key);
        std::string ok, value;
        co_await cc.async_exec(set, adapt(ok, value), asio::use_awaitable);
        BOOST_TEST(ok == "OK");
        BOOST_TEST(value == "moved-in");
        BOOST_TEST(cc.stats().ask == 2u);
        BOOST_TEST(cc.stats().moved == 0u);
        BOOST_TEST(*cc.slots().master_of_key(key) == from); // ASK changes no map
        BOOST_TEST(target.cli({"CLUSTER", "COUNTKEYSINSLOT", slot}) == "1");
        BOOST_TEST(source.cli({"CLUSTER", "COUNTKEYSINSLOT", slot}) == "0");
        cc.close();
    });
}

BOOST_AUTO_TEST_SUITE_END()
