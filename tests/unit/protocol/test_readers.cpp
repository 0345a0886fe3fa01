#include <redstream/protocol/adapter.hpp>
#include <redstream/protocol/stream_readers.hpp>

#include "wire.hpp"

#include <boost/test/unit_test.hpp>

using namespace redstream;
using namespace redstream::test;

BOOST_AUTO_TEST_SUITE(readers)

BOOST_AUTO_TEST_CASE(stream_ids_order_parse_and_format) {
    auto a = stream_id::parse("1526919030474-55");
    BOOST_TEST_REQUIRE(a.has_value());
    BOOST_TEST(a->ms == 1526919030474u);
    BOOST_TEST(a->seq == 55u);
    BOOST_TEST(a->to_string() == "1526919030474-55");
    BOOST_TEST((stream_id::parse("7") == stream_id{7, 0}));
    BOOST_TEST(!stream_id::parse("7-").has_value());
    BOOST_TEST(!stream_id::parse("-1").has_value());
    BOOST_TEST(!stream_id::parse("$").has_value());
    BOOST_TEST(!stream_id::parse("18446744073709551616-0").has_value());
    BOOST_TEST((stream_id{1, 2} < stream_id{1, 3}));
    BOOST_TEST((stream_id{1, 99} < stream_id{2, 0}));
    BOOST_TEST((stream_id{5, UINT64_MAX}.next() == stream_id{6, 0}));
    BOOST_TEST(stream_id::max().to_string() == "18446744073709551615-18446744073709551615");
}

BOOST_AUTO_TEST_CASE(scalars_and_errors) {
    std::int64_t i = 0;
    std::string s;
    bool ok = false;
    double d = 0;
    std::optional<std::string> missing{"x"};
    auto ec = read_replies(":42\r\n$3\r\nabc\r\n+OK\r\n,2.5\r\n_\r\n", adapt(i, s, ok, d, missing));
    BOOST_TEST(!ec);
    BOOST_TEST(i == 42);
    BOOST_TEST(s == "abc");
    BOOST_TEST(ok);
    BOOST_TEST(d == 2.5);
    BOOST_TEST(!missing.has_value());

    // A server error on a plain target fails with its code; the next reply is still read.
    std::int64_t a = 0, b = 0;
    ec = read_replies("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n:7\r\n", adapt(a, b));
    BOOST_TEST((ec == server_errc::wrongtype));
    BOOST_TEST(b == 7);

    // Wrong reply shape for the target.
    ec = read_replies("*1\r\n:1\r\n", adapt(s));
    BOOST_TEST((ec == errc::wrong_reply_type));
}

BOOST_AUTO_TEST_CASE(result_keeps_each_commands_error) {
    std::vector<result<std::int64_t>> acks;
    auto ec = read_replies(":3\r\n-NOGROUP No such key 'x' or consumer group 'g'\r\n:0\r\n", adapt_each(acks));
    BOOST_TEST(!ec);
    BOOST_TEST_REQUIRE(acks.size() == 3u);
    BOOST_TEST(*acks[0] == 3);
    BOOST_TEST(!acks[1].has_value());
    BOOST_TEST((acks[1].error().code == server_errc::nogroup));
    BOOST_TEST(acks[1].error().message.starts_with("NOGROUP"));
    BOOST_TEST(*acks[2] == 0);
    BOOST_CHECK_THROW(acks[1].value(), boost::system::system_error);
}

BOOST_AUTO_TEST_CASE(error_codes_classify_server_text) {
    BOOST_TEST((classify_server_error("BUSYGROUP Consumer Group name already exists") == server_errc::busygroup));
    BOOST_TEST((classify_server_error("LOADING Redis is loading the dataset in memory") == server_errc::loading));
    BOOST_TEST((classify_server_error("OOM command not allowed when used memory > 'maxmemory'.") == server_errc::oom));
    BOOST_TEST((classify_server_error("NOPERM this user has no permissions") == server_errc::noperm));
    BOOST_TEST((classify_server_error("WRONGPASS invalid username-password pair") == server_errc::wrongpass));
    BOOST_TEST((classify_server_error("READONLY You can't write against a read only replica.") == server_errc::readonly));
    BOOST_TEST((classify_server_error("NOSCRIPT No matching script.") == server_errc::noscript));
    BOOST_TEST((classify_server_error("NOAUTH Authentication required.") == server_errc::noauth));
    BOOST_TEST((classify_server_error("ERR unknown command 'HELLO'") == server_errc::unknown_command));
    BOOST_TEST((classify_server_error("BUSYKEY Target key name already exists.") == server_errc::other));
    BOOST_TEST(!is_fatal(make_error_code(server_errc::nogroup)));
    BOOST_TEST(is_fatal(make_error_code(errc::connection_lost)));
}

// RESP3 XREADGROUP: a map stream -> entries; one entry was deleted (nil fields).
constexpr std::string_view xreadgroup_resp3 =
    "%2\r\n"
    "$6\r\norders\r\n*2\r\n"
    "*2\r\n$3\r\n1-1\r\n*4\r\n$2\r\nid\r\n$1\r\n7\r\n$3\r\namt\r\n$2\r\n10\r\n"
    "*2\r\n$3\r\n1-2\r\n_\r\n"
    "$5\r\naudit\r\n*1\r\n"
    "*2\r\n$3\r\n2-0\r\n*2\r\n$1\r\nk\r\n$0\r\n\r\n";

// The same reply in RESP2: an array of [stream, entries].
constexpr std::string_view xreadgroup_resp2 =
    "*2\r\n"
    "*2\r\n$6\r\norders\r\n*2\r\n"
    "*2\r\n$3\r\n1-1\r\n*4\r\n$2\r\nid\r\n$1\r\n7\r\n$3\r\namt\r\n$2\r\n10\r\n"
    "*2\r\n$3\r\n1-2\r\n*-1\r\n"
    "*2\r\n$5\r\naudit\r\n*1\r\n"
    "*2\r\n$3\r\n2-0\r\n*2\r\n$1\r\nk\r\n$0\r\n\r\n";

void check_read_reply(read_reply const& r) {
    BOOST_TEST_REQUIRE(r.streams.size() == 2u);
    auto const& orders = r.streams[0];
    BOOST_TEST(orders.stream() == "orders");
    BOOST_TEST_REQUIRE(orders.size() == 2u);
    BOOST_TEST((orders[0].id() == stream_id{1, 1}));
    BOOST_TEST(!orders[0].deleted());
    BOOST_TEST(orders[0].field_count() == 2u);
    BOOST_TEST(orders[0].field(1).name == "amt");
    BOOST_TEST(*orders[0].find("id") == "7");
    BOOST_TEST(!orders[0].find("nope").has_value());
    BOOST_TEST(orders[1].deleted());
    BOOST_TEST(r.streams[1].stream() == "audit");
    BOOST_TEST(r.streams[1][0].field(0).value == "");
    BOOST_TEST(r.entry_count() == 3u);
}

BOOST_AUTO_TEST_CASE(xreadgroup_both_protocols_every_split) {
    for (auto wire : {xreadgroup_resp3, xreadgroup_resp2}) {
        read_reply r;
        BOOST_TEST(!read_replies(wire, adapt(r)));
        check_read_reply(r);
        for (std::size_t i = 1; i < wire.size(); ++i) {
            read_reply split;
            BOOST_TEST(!read_replies(wire, adapt(split), {i}), "split at " << i);
            check_read_reply(split);
        }
    }
}

BOOST_AUTO_TEST_CASE(xreadgroup_nil_means_nothing_new) {
    read_reply r;
    BOOST_TEST(!read_replies("_\r\n", adapt(r)));
    BOOST_TEST(r.streams.empty());
    BOOST_TEST(!read_replies("*-1\r\n", adapt(r)));
    BOOST_TEST(r.streams.empty());
}

BOOST_AUTO_TEST_CASE(xautoclaim_redis7_three_elements) {
    constexpr std::string_view wire =
        "*3\r\n$3\r\n0-0\r\n"
        "*1\r\n*2\r\n$3\r\n5-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
        "*2\r\n$3\r\n4-0\r\n$3\r\n4-1\r\n";
    autoclaim_reply r;
    BOOST_TEST(!read_replies(wire, adapt(r)));
    BOOST_TEST((r.next_cursor == stream_id{0, 0}));
    BOOST_TEST_REQUIRE(r.claimed.size() == 1u);
    BOOST_TEST((r.claimed[0].id() == stream_id{5, 1}));
    BOOST_TEST(r.deleted.size() == 2u);
    BOOST_TEST((r.deleted[1] == stream_id{4, 1}));
}

BOOST_AUTO_TEST_CASE(xautoclaim_redis62_two_elements_with_nil_entries) {
    constexpr std::string_view wire =
        "*2\r\n$3\r\n9-0\r\n"
        "*3\r\n*2\r\n$3\r\n5-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n*-1\r\n*2\r\n$3\r\n6-0\r\n*0\r\n";
    autoclaim_reply r;
    BOOST_TEST(!read_replies(wire, adapt(r)));
    BOOST_TEST((r.next_cursor == stream_id{9, 0}));
    BOOST_TEST(r.claimed.size() == 2u);
    BOOST_TEST(r.claimed.nil_entries() == 1u);
    BOOST_TEST(r.deleted.empty());
}

BOOST_AUTO_TEST_CASE(xpending_summary_and_extended) {
    pending_summary s;
    BOOST_TEST(!read_replies("*4\r\n:3\r\n$3\r\n1-0\r\n$3\r\n3-0\r\n*2\r\n*2\r\n$1\r\na\r\n$1\r\n2\r\n*2\r\n$1\r\nb\r\n$1\r\n1\r\n",
                             adapt(s)));
    BOOST_TEST(s.count == 3u);
    BOOST_TEST((*s.smallest == stream_id{1, 0}));
    BOOST_TEST(s.consumers.size() == 2u);
    BOOST_TEST(s.consumers[0].first == "a");
    BOOST_TEST(s.consumers[0].second == 2u);

    pending_summary empty;
    BOOST_TEST(!read_replies("*4\r\n:0\r\n_\r\n_\r\n_\r\n", adapt(empty)));
    BOOST_TEST(empty.count == 0u);
    BOOST_TEST(!empty.smallest.has_value());

    std::vector<pending_entry> rows;
    BOOST_TEST(!read_replies("*1\r\n*4\r\n$3\r\n1-0\r\n$1\r\nc\r\n:1500\r\n:3\r\n", adapt(rows)));
    BOOST_TEST_REQUIRE(rows.size() == 1u);
    BOOST_TEST(rows[0].consumer == "c");
    BOOST_TEST(rows[0].idle_ms == 1500u);
    BOOST_TEST(rows[0].deliveries == 3u);
}

BOOST_AUTO_TEST_CASE(xinfo_groups_nil_lag_and_resp2_shape) {
    // RESP3: maps; lag nil.
    constexpr std::string_view resp3 =
        "*1\r\n%6\r\n$4\r\nname\r\n$1\r\ng\r\n$9\r\nconsumers\r\n:2\r\n$7\r\npending\r\n:5\r\n"
        "$17\r\nlast-delivered-id\r\n$3\r\n7-0\r\n$12\r\nentries-read\r\n_\r\n$3\r\nlag\r\n_\r\n";
    std::vector<group_info> g;
    BOOST_TEST(!read_replies(resp3, adapt(g)));
    BOOST_TEST_REQUIRE(g.size() == 1u);
    BOOST_TEST(g[0].name == "g");
    BOOST_TEST(g[0].consumers == 2u);
    BOOST_TEST(g[0].pending == 5u);
    BOOST_TEST((g[0].last_delivered_id == stream_id{7, 0}));
    BOOST_TEST(!g[0].lag.has_value());
    BOOST_TEST(!g[0].entries_read.has_value());

    // RESP2 (6.2 style): flat arrays, no lag fields.
    constexpr std::string_view resp2 =
        "*1\r\n*8\r\n$4\r\nname\r\n$1\r\nh\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n"
        "$17\r\nlast-delivered-id\r\n$3\r\n0-0\r\n";
    BOOST_TEST(!read_replies(resp2, adapt(g)));
    BOOST_TEST(g[0].name == "h");
    BOOST_TEST(!g[0].lag.has_value());
}

BOOST_AUTO_TEST_CASE(xinfo_stream_with_entries_and_unknown_keys) {
    constexpr std::string_view wire =
        "%5\r\n$6\r\nlength\r\n:2\r\n$17\r\nlast-generated-id\r\n$3\r\n2-0\r\n"
        "$11\r\nfirst-entry\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n"
        "$10\r\nlast-entry\r\n_\r\n"
        "$7\r\nfuture!\r\n*2\r\n*1\r\n:1\r\n%1\r\n+x\r\n+y\r\n";
    stream_info s;
    BOOST_TEST(!read_replies(wire, adapt(s)));
    BOOST_TEST(s.length == 2u);
    BOOST_TEST((s.last_generated_id == stream_id{2, 0}));
    BOOST_TEST_REQUIRE(s.first_entry.has_value());
    BOOST_TEST(s.first_entry->fields.at(0).second == "b");
    BOOST_TEST(!s.last_entry.has_value());
}

BOOST_AUTO_TEST_CASE(xinfo_consumers) {
    constexpr std::string_view wire =
        "*1\r\n%4\r\n$4\r\nname\r\n$2\r\nc1\r\n$7\r\npending\r\n:1\r\n$4\r\nidle\r\n:10\r\n$8\r\ninactive\r\n:-1\r\n";
    std::vector<consumer_info> c;
    BOOST_TEST(!read_replies(wire, adapt(c)));
    BOOST_TEST_REQUIRE(c.size() == 1u);
    BOOST_TEST(c[0].name == "c1");
    BOOST_TEST(c[0].idle_ms == 10u);
    BOOST_TEST(*c[0].inactive_ms == -1);
}

BOOST_AUTO_TEST_SUITE_END()
