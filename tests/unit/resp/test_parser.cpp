#include <redstream/resp/error.hpp>
#include <redstream/resp/parser.hpp>

#include "wire.hpp"

#include <boost/test/unit_test.hpp>

#include <random>

using namespace redstream;
using namespace redstream::test;
using resp::type;

BOOST_AUTO_TEST_SUITE(parser)

struct case_t {
    std::string_view wire;
    std::vector<flat_node> expected;
};

// One row per RESP2/RESP3 type, plus nesting, nulls and attributes.
static std::vector<case_t> const table = {
    {"+OK\r\n", {{type::simple_string, 0, 0, "OK"}}},
    {"-ERR bad thing\r\n", {{type::simple_error, 0, 0, "ERR bad thing"}}},
    {":-42\r\n", {{type::integer, 0, 0, "-42"}}},
    {"$5\r\nhe\r\no\r\n", {{type::bulk_string, 0, 0, "he\r\no"}}},
    {"$0\r\n\r\n", {{type::bulk_string, 0, 0, ""}}},
    {"$-1\r\n", {{type::null, 0, 0, ""}}},
    {"*-1\r\n", {{type::null, 0, 0, ""}}},
    {"!21\r\nSYNTAX invalid syntax\r\n", {{type::blob_error, 0, 0, "SYNTAX invalid syntax"}}},
    {"=15\r\ntxt:Some string\r\n", {{type::verbatim_string, 0, 0, "Some string"}}},
    {"_\r\n", {{type::null, 0, 0, ""}}},
    {",1.23\r\n", {{type::double_type, 0, 0, "1.23"}}},
    {",-inf\r\n", {{type::double_type, 0, 0, "-inf"}}},
    {",1e10\r\n", {{type::double_type, 0, 0, "1e10"}}},
    {"#t\r\n", {{type::boolean, 0, 0, "t"}}},
    {"#f\r\n", {{type::boolean, 0, 0, "f"}}},
    {"(3492890328409238509324850943850943825024385\r\n",
     {{type::big_number, 0, 0, "3492890328409238509324850943850943825024385"}}},
    {"*0\r\n", {{type::array, 0, 0, ""}}},
    {"*2\r\n$5\r\nhello\r\n:42\r\n",
     {{type::array, 2, 0, ""}, {type::bulk_string, 0, 1, "hello"}, {type::integer, 0, 1, "42"}}},
    {"%1\r\n+key\r\n*1\r\n:1\r\n",
     {{type::map, 2, 0, ""}, {type::simple_string, 0, 1, "key"}, {type::array, 1, 1, ""}, {type::integer, 0, 2, "1"}}},
    {"~2\r\n+a\r\n+b\r\n", {{type::set, 2, 0, ""}, {type::simple_string, 0, 1, "a"}, {type::simple_string, 0, 1, "b"}}},
    {">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nx\r\n",
     {{type::push, 3, 0, ""}, {type::bulk_string, 0, 1, "message"}, {type::bulk_string, 0, 1, "ch"}, {type::bulk_string, 0, 1, "x"}}},
    // Attributes are consumed silently, at top level and nested.
    {"|1\r\n+ttl\r\n:3600\r\n:7\r\n", {{type::integer, 0, 0, "7"}}},
    {"*2\r\n|1\r\n+a\r\n*1\r\n:1\r\n:1\r\n:2\r\n",
     {{type::array, 2, 0, ""}, {type::integer, 0, 1, "1"}, {type::integer, 0, 1, "2"}}},
    {"*2\r\n*0\r\n*1\r\n_\r\n",
     {{type::array, 2, 0, ""}, {type::array, 0, 1, ""}, {type::array, 1, 1, ""}, {type::null, 0, 2, ""}}},
};

BOOST_AUTO_TEST_CASE(every_type_parses) {
    for (auto const& c : table) {
        auto r = parse_whole(c.wire);
        BOOST_TEST(!r.ec, c.wire << ": " << r.ec.message());
        BOOST_TEST(r.complete, c.wire);
        BOOST_TEST(r.replies == 1u, c.wire);
        BOOST_TEST(r.nodes == c.expected, c.wire);
    }
}

BOOST_AUTO_TEST_CASE(every_split_point_parses_the_same) {
    std::string all;
    for (auto const& c : table)
        all += c.wire;
    auto const whole = parse_whole(all);
    BOOST_TEST(whole.replies == table.size());
    for (std::size_t i = 1; i < all.size(); ++i) {
        auto split = parse_chunks(all, {i});
        BOOST_TEST((split.nodes == whole.nodes), "split at " << i);
        BOOST_TEST(split.complete, "split at " << i);
    }
    // And byte by byte.
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < all.size(); ++i)
        cuts.push_back(i);
    auto bytewise = parse_chunks(all, cuts);
    BOOST_TEST((bytewise.nodes == whole.nodes));
}

// Redis 7.0 sends a keyspace notification raised by XREADGROUP (xgroup-createconsumer) in the
// middle of the XREADGROUP reply: between a map key and its value.
BOOST_AUTO_TEST_CASE(push_inside_a_reply_is_out_of_band) {
    std::string_view wire =
        "%1\r\n$1\r\ns\r\n>3\r\n$7\r\nmessage\r\n$16\r\n__keyspace@0__:s\r\n$21\r\nxgroup-createconsumer\r\n*0\r\n";
    for (std::size_t cut = 0; cut < wire.size(); ++cut) {
        resp::parser p;
        std::string buffer;
        std::vector<std::pair<bool, std::size_t>> seen; // (out_of_band, depth)
        std::size_t replies = 0, pushes = 0;
        for (auto part : {wire.substr(0, cut), wire.substr(cut)}) {
            buffer.append(part);
            for (;;) {
                resp::node n;
                std::size_t used = 0;
                boost::system::error_code ec;
                auto st = p.next(buffer, n, used, ec);
                BOOST_TEST_REQUIRE((st != resp::parser::status::failed));
                buffer.erase(0, used);
                if (st == resp::parser::status::need_more)
                    break;
                seen.emplace_back(n.out_of_band, n.depth);
                if (p.out_of_band_complete())
                    ++pushes;
                if (p.reply_complete())
                    ++replies;
            }
        }
        std::vector<std::pair<bool, std::size_t>> const expected{
            {false, 0}, {false, 1}, {true, 0}, {true, 1}, {true, 1}, {true, 1}, {false, 1}};
        BOOST_TEST((seen == expected), "cut at " << cut);
        BOOST_TEST(replies == 1u, "cut at " << cut);
        BOOST_TEST(pushes == 1u, "cut at " << cut);
    }
}

BOOST_AUTO_TEST_CASE(malformed_inputs_fail_with_a_named_error) {
    struct bad {
        std::string_view wire;
        resp::error err;
    };
    bad const cases[] = {
        {"?what\r\n", resp::error::invalid_type_marker},
        {":12a\r\n", resp::error::invalid_integer},
        {":\r\n", resp::error::invalid_integer},
        {":99999999999999999999\r\n", resp::error::invalid_integer},
        {"$-2\r\n", resp::error::invalid_length},
        {"$abc\r\n", resp::error::invalid_length},
        {"$9223372036854775807\r\n", resp::error::bulk_too_long},
        {"*9223372036854775807\r\n", resp::error::aggregate_too_large},
        {"*-5\r\n", resp::error::invalid_length},
        {"%-1\r\n", resp::error::invalid_length},
        {"$3\r\nabcXY", resp::error::missing_crlf},
        {"#x\r\n", resp::error::invalid_boolean},
        {",1.2.3\r\n", resp::error::invalid_double},
        {"(12a\r\n", resp::error::invalid_big_number},
        {"=3\r\nabc\r\n", resp::error::invalid_verbatim},
        {"$?\r\n", resp::error::streamed_unsupported},
        {"_x\r\n", resp::error::missing_crlf},
    };
    for (auto const& b : cases) {
        auto r = parse_whole(b.wire);
        BOOST_TEST((r.ec == make_error_code(b.err)), b.wire << " gave '" << r.ec.message() << "'");
    }
}

BOOST_AUTO_TEST_CASE(limits_are_enforced) {
    resp::parser_limits lim;
    lim.max_depth = 3;
    lim.max_bulk_length = 10;
    lim.max_aggregate_size = 4;
    lim.max_line_length = 16;
    BOOST_TEST(!parse_whole("*1\r\n*1\r\n*1\r\n:1\r\n", lim).ec);
    BOOST_TEST((parse_whole("*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", lim).ec == make_error_code(resp::error::nesting_too_deep)));
    BOOST_TEST((parse_whole("$11\r\n", lim).ec == make_error_code(resp::error::bulk_too_long)));
    BOOST_TEST((parse_whole("*5\r\n", lim).ec == make_error_code(resp::error::aggregate_too_large)));
    BOOST_TEST((parse_whole(std::string(20, '+'), lim).ec == make_error_code(resp::error::line_too_long)));
    // A line that is long but complete is refused too, not buffered without bound.
    BOOST_TEST((parse_whole("+" + std::string(17, 'a') + "\r\n", lim).ec == make_error_code(resp::error::line_too_long)));
}

BOOST_AUTO_TEST_CASE(default_depth_cap_stops_deep_nesting) {
    std::string deep;
    for (int i = 0; i < 1000; ++i)
        deep += "*1\r\n";
    deep += ":1\r\n";
    BOOST_TEST((parse_whole(deep).ec == make_error_code(resp::error::nesting_too_deep)));
}

BOOST_AUTO_TEST_CASE(incomplete_input_asks_for_more_with_a_hint) {
    resp::parser p;
    resp::node n;
    std::size_t used = 0;
    boost::system::error_code ec;
    BOOST_TEST((p.next("$10\r\nabc", n, used, ec) == resp::parser::status::need_more));
    BOOST_TEST(p.bytes_hint() == 17u);
    BOOST_TEST(used == 0u);
}

BOOST_AUTO_TEST_CASE(random_bytes_never_crash) {
    std::mt19937 rng(12345);
    std::string alphabet = "+-:$*%~|>_,#(!=\r\n0123456789-?abc";
    for (int round = 0; round < 20000; ++round) {
        std::string s;
        std::size_t len = rng() % 64;
        for (std::size_t i = 0; i < len; ++i)
            s.push_back(alphabet[rng() % alphabet.size()]);
        auto r = parse_whole(s);
        BOOST_TEST(r.nodes.size() <= s.size()); // each node consumes at least one byte
    }
}

BOOST_AUTO_TEST_SUITE_END()
