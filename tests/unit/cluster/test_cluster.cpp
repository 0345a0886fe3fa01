// The cluster routing core without a cluster: slots, redirects, the slot map and partition
// naming. tests/integration/test_cluster.cpp checks the same against a real 3-master cluster.
#include <redstream/cluster/command_keys.hpp>
#include <redstream/cluster/key_slot.hpp>
#include <redstream/cluster/partitions.hpp>
#include <redstream/cluster/redirect.hpp>
#include <redstream/cluster/rendezvous.hpp>
#include <redstream/cluster/slot_map.hpp>
#include <redstream/protocol/adapter.hpp>
#include <redstream/protocol/request.hpp>

#include "wire.hpp"

#include <boost/test/unit_test.hpp>

#include <set>
#include <stdexcept>

using namespace redstream;
using namespace redstream::test;

BOOST_AUTO_TEST_SUITE(cluster_core)

BOOST_AUTO_TEST_CASE(crc16_and_slots_follow_the_cluster_specification) {
    BOOST_TEST(cluster::crc16("123456789") == 0x31C3); // the specification's check value
    BOOST_TEST(cluster::key_slot("") == 0);
    // Values of CLUSTER KEYSLOT on Redis 7.0.
    BOOST_TEST(cluster::key_slot("foo") == 12182);
    BOOST_TEST(cluster::key_slot("somekey") == 11058);
    BOOST_TEST(cluster::key_slot("{user1000}.following") == cluster::key_slot("user1000"));
    BOOST_TEST(cluster::key_slot("{user1000}.followers") == cluster::key_slot("{user1000}.following"));
}

BOOST_AUTO_TEST_CASE(hash_tags_take_the_first_non_empty_braces_only) {
    BOOST_TEST(cluster::hash_tag("plain") == "plain");
    BOOST_TEST(cluster::hash_tag("{}") == "{}");         // empty tag: the whole key
    BOOST_TEST(cluster::hash_tag("{{a}}") == "{a");      // from the first '{' to the first '}'
    BOOST_TEST(cluster::hash_tag("a{}{b}") == "a{}{b}"); // the first tag is empty: whole key
    BOOST_TEST(cluster::hash_tag("a{b}{c}") == "b");
    BOOST_TEST(cluster::hash_tag("{a") == "{a");        // no closing brace
    BOOST_TEST(cluster::hash_tag("}a{b}") == "b");
}

BOOST_AUTO_TEST_CASE(redirects_parse_with_ipv4_ipv6_and_unknown_hosts) {
    auto moved = cluster::parse_redirect("MOVED 3999 127.0.0.1:6381");
    BOOST_TEST_REQUIRE(moved.has_value());
    BOOST_TEST((moved->type == cluster::redirect::kind::moved));
    BOOST_TEST(moved->slot == 3999);
    BOOST_TEST(moved->host == "127.0.0.1");
    BOOST_TEST(moved->port == 6381);

    auto ask = cluster::parse_redirect("ASK 16383 ::1:7000");
    BOOST_TEST_REQUIRE(ask.has_value());
    BOOST_TEST((ask->type == cluster::redirect::kind::ask));
    BOOST_TEST(ask->host == "::1");
    BOOST_TEST(ask->port == 7000);

    auto unknown = cluster::parse_redirect("MOVED 1 :6380");
    BOOST_TEST_REQUIRE(unknown.has_value());
    BOOST_TEST(unknown->host.empty());

    for (auto bad : {"ERR wrong", "MOVED", "MOVED 16384 h:1", "MOVED x h:1", "ASK 1 h", "ASK 1 h:0", "ASK 1 h:65536",
                     "MOVED 1 h:1x", "MOVEDX 1 h:1"})
        BOOST_TEST(!cluster::parse_redirect(bad).has_value(), bad);
}

BOOST_AUTO_TEST_CASE(cluster_errors_have_their_own_codes) {
    BOOST_TEST((classify_server_error("MOVED 1 h:1") == server_errc::moved));
    BOOST_TEST((classify_server_error("ASK 1 h:1") == server_errc::ask));
    BOOST_TEST((classify_server_error("TRYAGAIN Multiple keys request during rehashing of slot") == server_errc::tryagain));
    BOOST_TEST((classify_server_error("CLUSTERDOWN The cluster is down") == server_errc::clusterdown));
    BOOST_TEST((classify_server_error("CROSSSLOT Keys in request don't hash to the same slot") == server_errc::crossslot));
    BOOST_TEST((classify_server_error("ASKING is fine") == server_errc::other));
}

// Redis 7 shape: each node has a fourth element, a map of metadata; the second master's
// endpoint is unknown (null) and one range has a replica.
constexpr std::string_view slots_reply = "*3\r\n"
                                         "*4\r\n:0\r\n:5460\r\n"
                                         "*4\r\n$9\r\n127.0.0.1\r\n:30001\r\n$2\r\nn1\r\n%1\r\n$8\r\nhostname\r\n$2\r\nh1\r\n"
                                         "*4\r\n$9\r\n127.0.0.1\r\n:30004\r\n$2\r\nr1\r\n%0\r\n"
                                         "*3\r\n:5461\r\n:10922\r\n"
                                         "*4\r\n_\r\n:30002\r\n$2\r\nn2\r\n%0\r\n"
                                         "*3\r\n:10923\r\n:16383\r\n"
                                         "*3\r\n$9\r\n127.0.0.1\r\n:30003\r\n$2\r\nn3\r\n"
                                         ":7\r\n";

BOOST_AUTO_TEST_CASE(cluster_slots_reply_reads_into_a_full_slot_map) {
    cluster::cluster_slots reply;
    std::int64_t after = 0;
    auto ec = read_replies(slots_reply, adapt(reply, after));
    BOOST_TEST(!ec);
    BOOST_TEST(after == 7); // the reader stopped exactly at the end of its reply
    BOOST_TEST_REQUIRE(reply.ranges.size() == 3u);
    BOOST_TEST(reply.ranges[0].first == 0);
    BOOST_TEST(reply.ranges[0].last == 5460);
    BOOST_TEST(reply.ranges[0].master.port == 30001);
    BOOST_TEST(reply.ranges[0].master.id == "n1");
    BOOST_TEST_REQUIRE(reply.ranges[0].replicas.size() == 1u);
    BOOST_TEST(reply.ranges[0].replicas[0].port == 30004);
    BOOST_TEST(reply.ranges[1].master.host.empty());
    BOOST_TEST(reply.ranges[2].master.id == "n3");

    auto map = cluster::slot_map::from_reply(reply, "10.0.0.9");
    BOOST_TEST(map.uncovered_slots() == 0u);
    BOOST_TEST_REQUIRE(map.masters().size() == 3u);
    BOOST_TEST(map.masters()[1].host == "10.0.0.9"); // unknown endpoint: the host we asked
    BOOST_TEST(*map.master_of(0) == 0u);
    BOOST_TEST(*map.master_of(5461) == 1u);
    BOOST_TEST(*map.master_of(16383) == 2u);
    BOOST_TEST(map.slots_of(2) == 5461u);
    BOOST_TEST(*map.master_of_key("foo") == 2u); // slot 12182

    // MOVED for one slot: routed to the new node at once, the others stay.
    auto const moved_to = map.assign(12182, cluster::node_address{"127.0.0.1", 30001, ""});
    BOOST_TEST(moved_to == 0u);
    BOOST_TEST(*map.master_of_key("foo") == 0u);
    BOOST_TEST(map.slots_of(2) == 5460u);
}

BOOST_AUTO_TEST_CASE(a_partial_map_reports_uncovered_slots_and_bad_shapes_fail) {
    cluster::cluster_slots reply;
    BOOST_TEST(!read_replies("*1\r\n*3\r\n:0\r\n:99\r\n*2\r\n$1\r\nh\r\n:1\r\n", adapt(reply)));
    auto map = cluster::slot_map::from_reply(reply, "x");
    BOOST_TEST(map.uncovered_slots() == 16384u - 100u);
    BOOST_TEST(!map.master_of(100).has_value());
    BOOST_TEST(!cluster::slot_map{}.master_of(0).has_value());

    // A slot bound out of range, a node that is not an array, a top level that is not one.
    for (auto bad : {"*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\nh\r\n:1\r\n", "*1\r\n*3\r\n:0\r\n:1\r\n$1\r\nh\r\n",
                     ":1\r\n"}) {
        cluster::cluster_slots r;
        BOOST_TEST((read_replies(bad, adapt(r)) == errc::wrong_reply_type), bad);
    }
}

BOOST_AUTO_TEST_CASE(partitions_spread_evenly_over_the_slot_slices) {
    // The naive tags put no partition on the first of three masters.
    std::set<std::size_t> naive_masters;
    for (auto tag : {"0", "1", "2"})
        naive_masters.insert(cluster::crc16(tag) % 16384 / 5461);
    BOOST_TEST(naive_masters.count(0) == 0u);

    for (std::size_t count : {1u, 3u, 12u, 100u}) {
        auto const keys = cluster::partition_keys("orders", count);
        BOOST_TEST_REQUIRE(keys.size() == count);
        for (std::size_t i = 0; i < count; ++i) {
            auto const slot = cluster::key_slot(keys[i]);
            BOOST_TEST(slot >= i * 16384 / count);
            BOOST_TEST(slot < (i + 1) * 16384 / count);
            if (count < 16384 / 3) { // one slot away from the edges
                BOOST_TEST(slot > i * 16384 / count);
                BOOST_TEST(slot + 1 < (i + 1) * 16384 / count);
            }
            // Keys derived with the same tag share the slot (dead letters, markers).
            auto const tag = cluster::partition_tag(i, count);
            BOOST_TEST(cluster::key_slot("orders:dlq:{" + tag + "}") == slot);
        }
    }
    BOOST_TEST(cluster::partition_key("orders", 0, 3) == "orders:{" + cluster::partition_tag(0, 3) + "}");
    BOOST_CHECK_THROW((void)cluster::partition_tag(3, 3), std::invalid_argument);
    BOOST_CHECK_THROW((void)cluster::partition_keys("orders", 0), std::invalid_argument);
    BOOST_CHECK_THROW((void)cluster::partition_keys("orders", 16385), std::invalid_argument);
    BOOST_CHECK_THROW((void)cluster::partition_keys("", 3), std::invalid_argument);
    BOOST_CHECK_THROW((void)cluster::partition_tag(0, 0), std::invalid_argument);
    BOOST_CHECK_THROW((void)cluster::partition_key("{orders}", 0, 3), std::invalid_argument);
    BOOST_CHECK_THROW((void)cluster::partition_key("a}b", 0, 3), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(routing_keys_map_stably_to_partitions) {
    // FNV-1a 64 is part of the data layout: these values must never change.
    BOOST_TEST(cluster::partition_of("", 1000) == 14695981039346656037ull % 1000);
    BOOST_TEST(cluster::partition_of("a", 1u << 31) == 0xaf63dc4c8601ec8cull % (1u << 31));
    std::vector<std::size_t> per(8);
    for (int i = 0; i < 8000; ++i)
        ++per[cluster::partition_of("customer-" + std::to_string(i), 8)];
    for (auto n : per) {
        BOOST_TEST(n > 800u);
        BOOST_TEST(n < 1200u);
    }
}

namespace {

std::vector<std::size_t> owned_counts(std::vector<std::size_t> const& owner, std::size_t members) {
    std::vector<std::size_t> n(members);
    for (auto o : owner)
        ++n.at(o);
    return n;
}

} // namespace

BOOST_AUTO_TEST_CASE(owned_partitions_are_balanced_agreed_on_and_move_little) {
    auto const keys = cluster::partition_keys("orders", 12);
    std::vector<std::string> three{"pod-a", "pod-b", "pod-c"};
    auto const by_three = cluster::assign_partitions(keys, three);
    for (auto n : owned_counts(by_three, 3))
        BOOST_TEST(n == 4u);
    // Another process lists the members in another order: the same owners.
    std::vector<std::string> shuffled{"pod-c", "pod-a", "pod-b"};
    auto const other = cluster::assign_partitions(keys, shuffled);
    for (std::size_t p = 0; p < keys.size(); ++p)
        BOOST_TEST(shuffled[other[p]] == three[by_three[p]]);

    // A fourth member: 3 each, and most partitions stay where they were.
    auto four = three;
    four.emplace_back("pod-d");
    auto const by_four = cluster::assign_partitions(keys, four);
    std::size_t moved = 0;
    for (std::size_t p = 0; p < keys.size(); ++p)
        moved += four[by_four[p]] != three[by_three[p]];
    for (auto n : owned_counts(by_four, 4))
        BOOST_TEST(n == 3u);
    BOOST_TEST(moved >= 3u); // the newcomer's share...
    BOOST_TEST(moved <= 6u); // ...and few others

    // Uneven splits: floor or ceil each, never an idle member while another has two more.
    std::vector<std::string> five{"a", "b", "c", "d", "e"};
    for (auto n : owned_counts(cluster::assign_partitions(keys, five), 5)) {
        BOOST_TEST(n >= 2u);
        BOOST_TEST(n <= 3u);
    }
    std::vector<std::string> many;
    for (int i = 0; i < 20; ++i) { // not "m" + to_string(i): GCC 12 -O2 warns (-Wrestrict, a false positive)
        std::string name = "m";
        name += std::to_string(i);
        many.push_back(std::move(name));
    }
    for (auto n : owned_counts(cluster::assign_partitions(keys, many), 20))
        BOOST_TEST(n <= 1u);
    BOOST_TEST(cluster::assign_partitions(keys, {}) == std::vector<std::size_t>(12, SIZE_MAX));
    BOOST_TEST(cluster::assign_partitions({}, three).empty());

    // The weight is part of the assignment every process must agree on: pinned.
    BOOST_TEST(cluster::rendezvous_weight("a", "b") != cluster::rendezvous_weight("ab", ""));
    BOOST_TEST(cluster::rendezvous_weight("pod-a", "orders:{p0-0}") == 0x8fd47b3cb7d83ull); // computed independently
}

BOOST_AUTO_TEST_CASE(a_requests_commands_split_with_their_routing_keys) {
    request r;
    r.push("XADD", "orders:{p0-0}", "*", "f", "v");
    r.push("xreadgroup", "GROUP", "g", "c", "COUNT", 10, "BLOCK", 0, "STREAMS", "s1", "s2", ">", ">");
    r.push("XREADGROUP", "GROUP", "streams", "streams", "STREAMS", "s5", ">"); // names that read "streams"
    r.push("EVAL", "return 1", 0);
    r.push("EVAL", "return 1", 2, "k1", "k2", "arg");
    r.push("XGROUP", "CREATE", "s3", "g", "$", "MKSTREAM");
    r.push("XINFO", "GROUPS", "s4");
    r.push("PING");
    r.push("CLUSTER", "SLOTS");
    r.push("MULTI");
    r.push("SET", "tx-key", "1");
    r.push("EXEC");
    r.push("GET", std::string{"bin\r\nary"});
    auto split = cluster::split_commands(r.payload());
    BOOST_TEST_REQUIRE(split.has_value());
    BOOST_TEST_REQUIRE(split->size() == r.commands());
    auto key = [&](std::size_t i) { return (*split)[i].key.value_or("<none>"); };
    BOOST_TEST(key(0) == "orders:{p0-0}");
    BOOST_TEST((*split)[0].args.size() == 5u);
    BOOST_TEST(key(1) == "s1");
    BOOST_TEST(key(2) == "s5");
    BOOST_TEST(key(3) == "<none>");
    BOOST_TEST(key(4) == "k1");
    BOOST_TEST(key(5) == "s3");
    BOOST_TEST(key(6) == "s4");
    BOOST_TEST(key(7) == "<none>");
    BOOST_TEST(key(8) == "<none>");
    BOOST_TEST(key(9) == "tx-key"); // MULTI and EXEC follow the transaction's key
    BOOST_TEST(key(10) == "tx-key");
    BOOST_TEST(key(11) == "tx-key");
    BOOST_TEST((*split)[9].block == 3u); // MULTI, SET, EXEC
    BOOST_TEST((*split)[10].block == 1u);
    BOOST_TEST(key(12) == "bin\r\nary");

    for (auto bad : {"*1\r\n$4\r\nPIN\r\n", "*x\r\n", "*1\r\n:1\r\n", "*0\r\n", "*1\r\n$4\r\nPING"})
        BOOST_TEST(!cluster::split_commands(bad).has_value(), bad);
    BOOST_TEST(cluster::split_commands("")->empty());
}

BOOST_AUTO_TEST_SUITE_END()
