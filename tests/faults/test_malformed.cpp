// Malformed input from a fake server: every prefix of a valid reply then a close, random bytes,
// lengths of 2^63, negative lengths, nesting beyond the bound, a push where a reply is
// expected, a reply nobody asked for. Each must give a clear error, reset the connection, fail
// only the requests in flight (requests waiting for the reconnect go through), and leave the
// connection usable. No crash, no unbounded allocation (ASan aborts on a 2^63-byte request),
// no hang (every wait is bounded).

#include <redstream/io/connection.hpp>
#include <redstream/resp/error.hpp>
#include <redstream/protocol/stream_readers.hpp>

#include "fake_server.hpp"
#include "run_coro.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <fmt/format.h>

#include <map>
#include <random>
#include <stdexcept>

using namespace redstream;
using namespace redstream::test;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

config fake_cfg(fake_server const& fake) {
    auto c = config::from_url(fmt::format("redis://127.0.0.1:{}", fake.port()));
    c.reconnect.initial_delay = 1ms;
    c.reconnect.max_delay = 5ms;
    c.health_check_interval = 0ms; // the scripts answer only what the tests send
    return c;
}

// An XREADGROUP reply (one stream, two entries) as RESP3 and as RESP2 send it.
std::string const entries = "*2\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nk\r\n$1\r\nv\r\n"
                            "*2\r\n$3\r\n1-2\r\n*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$2\r\n42\r\n";
std::string const resp3_read_reply = "%1\r\n$6\r\norders\r\n" + entries;
std::string const resp2_read_reply = "*1\r\n*2\r\n$6\r\norders\r\n" + entries;

bool is_xreadgroup(std::vector<std::string> const& cmd) { return cmd.front() == "XREADGROUP"; }

// A read that waits for a reconnect instead of failing at once while the connection is down.
request read_request() {
    request r{request::options{5s}};
    r.push("XREADGROUP", "GROUP", "g", "c", "COUNT", 10, "STREAMS", "orders", ">");
    return r;
}

struct outcome_counts {
    std::map<std::string, int> by_error; // error message -> count ("ok" for successes)
    std::string to_string() const {
        std::string out;
        for (auto const& [what, n] : by_error)
            out += fmt::format("{}{} x{}", out.empty() ? "" : "; ", what, n);
        return out;
    }
};

// The read after a fault: on a new connection, complete and correct.
asio::awaitable<void> expect_good_read(connection& conn) {
    request const r = read_request();
    read_reply out;
    auto [ec, n] = co_await conn.async_exec(r, adapt(out), tuple_awaitable);
    BOOST_TEST(!ec, "the read after the fault failed: " << ec.message());
    BOOST_TEST(out.entry_count() == 2u);
}

} // namespace

BOOST_AUTO_TEST_SUITE(malformed_input)

BOOST_AUTO_TEST_CASE(every_prefix_of_a_reply_then_a_close_fails_only_that_read) {
    std::size_t const prefixes = resp3_read_reply.size();
    asio::io_context ioc;
    // Connection k answers with the first k bytes and closes; later ones answer in full.
    fake_server fake{ioc.get_executor(), [&](auto const& cmd, std::size_t k) -> fake_server::action {
                         if (!is_xreadgroup(cmd) || k >= prefixes)
                             return {resp3_read_reply};
                         return {resp3_read_reply.substr(0, k), true};
                     }};
    connection conn{ioc.get_executor(), fake_cfg(fake), logger::none()};
    start_run(conn);
    outcome_counts seen;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        request const r = read_request();
        for (std::size_t k = 0; k < prefixes; ++k) {
            read_reply out;
            auto [ec, n] = co_await conn.async_exec(r, adapt(out), tuple_awaitable);
            ++seen.by_error[ec ? ec.message() : "ok"];
        }
        co_await expect_good_read(conn);
        conn.close();
        fake.close();
    }, 120s);
    BOOST_TEST_MESSAGE(fmt::format("{} prefixes then a close: {}", prefixes, seen.to_string()));
    BOOST_TEST(seen.by_error.size() == 1u); // one clear error for every prefix...
    BOOST_TEST(seen.by_error[make_error_code(errc::connection_lost).message()] == static_cast<int>(prefixes));
    BOOST_TEST(fake.connections() == prefixes + 1);
}

BOOST_AUTO_TEST_CASE(random_bytes_give_clear_errors_and_the_connection_recovers) {
    constexpr std::size_t rounds = 300;
    asio::io_context ioc;
    fake_server fake{ioc.get_executor(), [&](auto const& cmd, std::size_t k) -> fake_server::action {
                         if (!is_xreadgroup(cmd) || k >= rounds)
                             return {resp3_read_reply};
                         std::mt19937_64 rng{k};
                         std::string junk(64, '\0');
                         for (auto& c : junk)
                             c = static_cast<char>(rng());
                         for (std::size_t i = 1; i + 1 < junk.size(); i += 2 + rng() % 12)
                             junk.replace(i, 2, "\r\n"); // lines, so the parser looks past the first byte
                         if (k % 2) // half start with a valid type marker, to get deeper into the parser
                             junk[0] = "+-:$*%~>#,(!=|_"[rng() % 15];
                         return {junk, true};
                     }};
    connection conn{ioc.get_executor(), fake_cfg(fake), logger::none()};
    start_run(conn);
    outcome_counts seen;
    std::size_t unexpected = 0;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        request const r = read_request();
        for (std::size_t k = 0; k < rounds; ++k) {
            read_reply out;
            auto [ec, n] = co_await conn.async_exec(r, adapt(out), tuple_awaitable);
            ++seen.by_error[ec ? ec.message() : "ok"];
            // Parser errors, an error reply, a reply of the wrong shape or the close itself.
            bool const clear = !ec || ec.category() == resp::parser_category() || ec.category() == server_category() ||
                               ec == errc::connection_lost || ec == errc::wrong_reply_type ||
                               ec == errc::unexpected_push;
            unexpected += !clear;
        }
        co_await expect_good_read(conn);
        conn.close();
        fake.close();
    }, 120s);
    BOOST_TEST_MESSAGE(fmt::format("{} replies of random bytes: {}", rounds, seen.to_string()));
    BOOST_TEST(unexpected == 0u);
    BOOST_TEST(seen.by_error.size() >= 3u); // the junk really reached different parser paths
}

BOOST_AUTO_TEST_CASE(hostile_lengths_and_nesting_are_refused_without_allocating) {
    struct hostile {
        char const* what;
        std::string bytes;
    };
    std::string deep;
    for (int i = 0; i < 1000; ++i)
        deep += "*1\r\n";
    deep += ":1\r\n";
    std::vector<hostile> const cases{
        {"bulk length 2^63", "$9223372036854775808\r\n"},
        {"bulk length 2^63-1", "$9223372036854775807\r\n"},
        {"array of 2^63-1", "*9223372036854775807\r\n"},
        {"map of 2^63-1", "%9223372036854775807\r\n"},
        {"push of 2^63-1", ">9223372036854775807\r\n"},
        {"negative bulk length", "$-5\r\n"},
        {"negative array length", "*-3\r\n"},
        {"nesting 1,000 deep", deep},
    };
    asio::io_context ioc;
    // Connection k (k < cases) answers with case k and stays open: the client must hang up.
    fake_server fake{ioc.get_executor(), [&](auto const& cmd, std::size_t k) -> fake_server::action {
                         if (!is_xreadgroup(cmd) || k >= cases.size())
                             return {resp3_read_reply};
                         return {cases[k].bytes};
                     }};
    connection conn{ioc.get_executor(), fake_cfg(fake), logger::none()};
    start_run(conn);
    std::vector<error_code> errors;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        request const r = read_request();
        for (std::size_t k = 0; k < cases.size(); ++k) {
            read_reply out;
            auto [ec, n] = co_await conn.async_exec(r, adapt(out), tuple_awaitable);
            errors.push_back(ec);
        }
        co_await expect_good_read(conn); // waited for the reconnect, then went through
        conn.close();
        fake.close();
    }, 60s);
    BOOST_TEST_REQUIRE(errors.size() == cases.size());
    for (std::size_t k = 0; k < cases.size(); ++k) {
        BOOST_TEST_MESSAGE(fmt::format("{}: {}", cases[k].what, errors[k].message()));
        // The read in flight fails with the protocol error itself, not a vague "connection lost".
        BOOST_TEST((errors[k].category() == resp::parser_category()), cases[k].what << ": " << errors[k].message());
    }
    BOOST_TEST(fake.connections() == cases.size() + 1); // each fault reset the connection
}

BOOST_AUTO_TEST_CASE(push_where_a_reply_is_expected) {
    std::string const push = ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n";
    // RESP3: pushes are out of band by definition; the read still gets its own reply.
    {
        asio::io_context ioc;
        fake_server fake{ioc.get_executor(), [&](auto const& cmd, std::size_t) -> fake_server::action {
                             return {is_xreadgroup(cmd) ? push + resp3_read_reply : std::string{"+OK\r\n"}};
                         }};
        connection conn{ioc.get_executor(), fake_cfg(fake), logger::none()};
        start_run(conn);
        run_coro(ioc, [&]() -> asio::awaitable<void> {
            co_await expect_good_read(conn);
            auto [ec, p] = co_await conn.async_receive_push(tuple_awaitable);
            BOOST_TEST(!ec);
            BOOST_TEST(p.kind == "message");
            BOOST_TEST((p.args == std::vector<std::string>{"ch", "hello"}));
            BOOST_TEST(conn.stats().connects == 1u);
            conn.close();
            fake.close();
        });
    }
    // RESP2 has no pushes: a '>' frame is a protocol error, the connection is reset.
    {
        asio::io_context ioc;
        fake_server fake{ioc.get_executor(), [&](auto const& cmd, std::size_t k) -> fake_server::action {
                             if (!is_xreadgroup(cmd))
                                 return {"+OK\r\n"};
                             return {k == 0 ? push + resp2_read_reply : resp2_read_reply};
                         }};
        fake.speak_resp2(true);
        connection conn{ioc.get_executor(), fake_cfg(fake), logger::none()};
        start_run(conn);
        run_coro(ioc, [&]() -> asio::awaitable<void> {
            request const r = read_request();
            read_reply out;
            auto [ec, n] = co_await conn.async_exec(r, adapt(out), tuple_awaitable);
            BOOST_TEST((ec == errc::unexpected_push), ec.message());
            co_await expect_good_read(conn);
            BOOST_TEST(conn.protocol() == 2);
            conn.close();
            fake.close();
        });
    }
}

BOOST_AUTO_TEST_CASE(a_reply_nobody_asked_for_resets_the_connection) {
    asio::io_context ioc;
    fake_server fake{ioc.get_executor(), [&](auto const& cmd, std::size_t k) -> fake_server::action {
                         if (!is_xreadgroup(cmd))
                             return {"+OK\r\n"};
                         return {k == 0 ? resp3_read_reply + "+SURPRISE\r\n" : resp3_read_reply};
                     }};
    std::vector<std::string> logs;
    logger capture{log_level::warn, [&](log_level, std::string_view m) { logs.emplace_back(m); }};
    connection conn{ioc.get_executor(), fake_cfg(fake), capture};
    start_run(conn);
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await expect_good_read(conn); // its own reply came first and is intact
        co_await expect_good_read(conn); // on a new connection: the stray reply reset the old one
        BOOST_TEST(conn.stats().connects == 2u);
        conn.close();
        fake.close();
    });
    bool const explained = std::any_of(logs.begin(), logs.end(), [](std::string const& l) {
        return l.find("no request was waiting for") != std::string::npos && l.find("SURPRISE") != std::string::npos;
    });
    BOOST_TEST(explained);
}

BOOST_AUTO_TEST_CASE(a_log_sink_throwing_in_the_reader_drops_only_that_connection) {
    asio::io_context ioc;
    // The first connection answers the read with a byte no RESP type starts with: the reader
    // logs it, and the sink throws there. Later connections answer correctly.
    fake_server fake{ioc.get_executor(), [&](auto const& cmd, std::size_t k) -> fake_server::action {
                         if (!is_xreadgroup(cmd))
                             return {"+OK\r\n"};
                         return {k == 0 ? std::string{"?oops\r\n"} : resp3_read_reply};
                     }};
    logger throwing{log_level::error, [](log_level, std::string_view m) {
                        if (m.find("dropping the connection") != std::string_view::npos)
                            throw std::runtime_error("log sink failed");
                    }};
    connection conn{ioc.get_executor(), fake_cfg(fake), throwing};
    start_run(conn);
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        // Health checks are off (fake_cfg): nothing else would ever end a session whose
        // reader died.
        request const r = read_request();
        read_reply out;
        auto [ec, n] = co_await conn.async_exec(r, adapt(out), tuple_awaitable);
        BOOST_TEST((ec == errc::connection_lost), ec.message());
        co_await expect_good_read(conn); // on the next connection
        BOOST_TEST(conn.stats().connects == 2u);
        conn.close();
        fake.close();
    }, 15s);
}

BOOST_AUTO_TEST_SUITE_END()
