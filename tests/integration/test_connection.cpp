#include <redstream/io/client.hpp>
#include <redstream/io/connection.hpp>
#include <redstream/protocol/stream_readers.hpp>

#include "io/client_internals.hpp"
#include "io/connection_internals.hpp"
#include "redis_server.hpp"
#include "run_coro.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <fmt/format.h>

#include <dlfcn.h>
#include <netdb.h>

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <stdexcept>

using namespace redstream;
using namespace redstream::test;
namespace asio = boost::asio;
using namespace std::chrono_literals;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

namespace {

config quiet(std::string const& url) {
    auto c = config::from_url(url);
    c.reconnect.initial_delay = 20ms;
    c.reconnect.max_delay = 200ms;
    return c;
}

logger silent() { return logger::none(); }

// A logger that keeps every line.
logger capture_lines(std::vector<std::string>& lines, log_level threshold = log_level::trace) {
    return logger{threshold, [&lines](log_level, std::string_view m) { lines.emplace_back(m); }};
}

bool any_line_has(std::vector<std::string> const& lines, std::string_view text) {
    return std::any_of(lines.begin(), lines.end(), [&](std::string const& l) { return l.find(text) != std::string::npos; });
}

// Waits (bounded) until `pred` holds, checking on timer ticks; returns its last value.
template <class Pred>
asio::awaitable<bool> wait_until(Pred pred, std::chrono::milliseconds limit = 10s) {
    asio::steady_timer t{co_await asio::this_coro::executor};
    auto const end = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > end)
            co_return false;
        t.expires_after(5ms);
        co_await t.async_wait(tuple_awaitable);
    }
    co_return true;
}

// Waits (bounded) until the connection's state is (or, with `negate`, is no longer) `s`.
asio::awaitable<bool> wait_state(connection& c, connection_state s, std::chrono::milliseconds limit = 10s,
                                 bool negate = false) {
    co_return co_await wait_until([&] { return (c.state() == s) != negate; }, limit);
}

// An adapter that throws at the first element it is given: a user adapter with a bug.
struct throwing_adapter final : any_adapter::impl_base {
    void on_node(std::size_t, resp::node const&, error_code&) override { throw std::runtime_error("adapter bug"); }
};

// Name lookups that hang on demand, like a resolver whose DNS server never answers. The
// getaddrinfo() below takes the place of libc's in this test binary (Asio calls it on its
// resolver thread): while a stuck_dns exists, lookups of stuck_host block until release();
// every other name goes to the real function.
constexpr char const* stuck_host = "stuck.redstream.test";

struct stuck_lookups {
    std::mutex m;
    std::condition_variable cv;
    int blocked = 0;      // lookups waiting now
    bool released = true; // no stuck_dns: nothing blocks
};

stuck_lookups& stuck() {
    static stuck_lookups s;
    return s;
}

class stuck_dns {
public:
    stuck_dns() {
        std::lock_guard lock{stuck().m};
        stuck().released = false;
    }
    // Declare it after the io_context: the io_context's destructor joins Asio's resolver
    // thread, which must not be blocked any more by then.
    ~stuck_dns() { release(); }
    stuck_dns(stuck_dns const&) = delete;
    stuck_dns& operator=(stuck_dns const&) = delete;

    void release() {
        {
            std::lock_guard lock{stuck().m};
            stuck().released = true;
        }
        stuck().cv.notify_all();
    }
    [[nodiscard]] int blocked() const {
        std::lock_guard lock{stuck().m};
        return stuck().blocked;
    }
};

config stuck_cfg() {
    auto c = quiet("redis://" + std::string{stuck_host} + ":6379");
    c.reconnect.enabled = false;
    return c;
}

} // namespace

extern "C" int getaddrinfo(char const* node, char const* service, addrinfo const* hints, addrinfo** res) {
    if (node && std::string_view{node} == stuck_host) {
        auto& s = stuck();
        std::unique_lock lock{s.m};
        ++s.blocked;
        s.cv.wait_for(lock, 60s, [&] { return s.released; }); // bounded, should a test forget
        --s.blocked;
        return EAI_NONAME;
    }
    using real_getaddrinfo = int (*)(char const*, char const*, addrinfo const*, addrinfo**);
    static auto const real = reinterpret_cast<real_getaddrinfo>(::dlsym(RTLD_NEXT, "getaddrinfo"));
    return real(node, service, hints, res);
}

BOOST_AUTO_TEST_SUITE(connection_tests)

BOOST_AUTO_TEST_CASE(handshake_exec_and_stream_replies) {
    redis_server srv;
    asio::io_context ioc;
    connection conn{ioc.get_executor(), quiet(srv.url()), silent()};
    auto run = start_run(conn);
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        request r;
        r.push("XGROUP", "CREATE", "orders", "g", "$", "MKSTREAM");
        r.push("XADD", "orders", "*", "order_id", "7", "amount", "10");
        r.push("XREADGROUP", "GROUP", "g", "c1", "COUNT", 10, "STREAMS", "orders", ">");
        r.push("XINFO", "GROUPS", "orders");
        std::string ok, id;
        read_reply batch;
        std::vector<group_info> groups;
        co_await conn.async_exec(r, adapt(ok, id, batch, groups));
        BOOST_TEST(conn.protocol() == 3);
        BOOST_TEST(conn.server_version().starts_with("7."));
        BOOST_TEST(ok == "OK");
        BOOST_TEST_REQUIRE(batch.streams.size() == 1u);
        BOOST_TEST(batch.streams[0].size() == 1u);
        BOOST_TEST(*batch.streams[0][0].find("amount") == "10");
        BOOST_TEST(batch.streams[0][0].id().to_string() == id);
        BOOST_TEST_REQUIRE(groups.size() == 1u);
        BOOST_TEST(groups[0].pending == 1u);
        BOOST_TEST(*groups[0].lag == 0u);

        // BUSYGROUP comes back as a comparable code, for this command only.
        request again;
        again.push("XGROUP", "CREATE", "orders", "g", "$");
        again.push("PING");
        result<std::string> created;
        std::string pong;
        auto [ec, n] = co_await conn.async_exec(again, adapt(created, pong), tuple_awaitable);
        BOOST_TEST(!ec);
        BOOST_TEST(n == 2u);
        BOOST_TEST((created.error_code() == server_errc::busygroup));
        BOOST_TEST(pong == "PONG");

        // Empty reads come back as an empty reply, not an error.
        request empty_read;
        empty_read.push("XREADGROUP", "GROUP", "g", "c1", "COUNT", 10, "STREAMS", "orders", ">");
        read_reply nothing;
        co_await conn.async_exec(empty_read, adapt(nothing));
        BOOST_TEST(nothing.streams.empty());
        conn.close();
    });
    BOOST_TEST(run->finished);
    BOOST_TEST(!run->ec);
}

BOOST_AUTO_TEST_CASE(thousand_coroutines_pipeline_100k_commands) {
    redis_server srv;
    asio::io_context ioc;
    connection conn{ioc.get_executor(), quiet(srv.url()), silent()};
    start_run(conn);
    constexpr int workers = 1000, per_worker = 100;
    int mismatches = 0, finished = 0;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        for (int w = 0; w < workers; ++w) {
            asio::co_spawn(ex, [&, w]() -> asio::awaitable<void> {
                request r;
                for (int i = 0; i < per_worker; ++i) {
                    r.clear();
                    auto const key = "k" + std::to_string(w);
                    r.push("INCR", key);
                    std::int64_t v = 0;
                    co_await conn.async_exec(r, adapt(v));
                    if (v != i + 1)
                        ++mismatches;
                }
                if (++finished == workers)
                    conn.close();
            }, asio::detached);
        }
        co_return;
    }, 120s);
    BOOST_TEST(finished == workers);
    BOOST_TEST(mismatches == 0);
}

BOOST_AUTO_TEST_CASE(cancelling_queued_and_written_commands_keeps_fifo) {
    redis_server srv;
    asio::io_context ioc;
    connection conn{ioc.get_executor(), quiet(srv.url()), silent()};
    start_run(conn);
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        request warm;
        warm.push("PING");
        co_await conn.async_exec(warm, adapt_ignore());

        // A slow command on the wire (DEBUG SLEEP) then requests we cancel at once: some are
        // still queued, one is written behind the sleep.
        request slow;
        slow.push("DEBUG", "SLEEP", "0.2");
        request set_a, get_a;
        set_a.push("SET", "a", "1");
        get_a.push("GET", "a");
        auto ex = co_await asio::this_coro::executor;
        asio::cancellation_signal sig_slow, sig_set;
        std::string slow_reply = "untouched";
        error_code ec_slow, ec_set;
        bool slow_done = false, set_done = false;
        conn.async_exec(slow, adapt(slow_reply),
                        asio::bind_cancellation_slot(sig_slow.slot(), [&](error_code ec, std::size_t) {
                            ec_slow = ec;
                            slow_done = true;
                        }));
        conn.async_exec(set_a, adapt_ignore(),
                        asio::bind_cancellation_slot(sig_set.slot(), [&](error_code ec, std::size_t) {
                            ec_set = ec;
                            set_done = true;
                        }));
        // Let the writer put both on the wire, then cancel both.
        asio::steady_timer t{ex};
        t.expires_after(20ms);
        co_await t.async_wait(asio::use_awaitable);
        sig_slow.emit(asio::cancellation_type::terminal);
        sig_set.emit(asio::cancellation_type::terminal);
        std::string a;
        co_await conn.async_exec(get_a, adapt(a));
        BOOST_TEST(slow_done);
        BOOST_TEST((ec_slow == asio::error::operation_aborted), ec_slow.message());
        BOOST_TEST(slow_reply == "untouched");
        BOOST_TEST(set_done);
        BOOST_TEST(a == "1"); // the written SET ran; its reply was consumed, the FIFO held

        // Cancel queued requests before the writer runs: never sent.
        request set_b;
        set_b.push("SET", "b", "1");
        asio::cancellation_signal sig_b;
        error_code ec_b;
        conn.async_exec(set_b, adapt_ignore(),
                        asio::bind_cancellation_slot(sig_b.slot(), [&](error_code ec, std::size_t) { ec_b = ec; }));
        sig_b.emit(asio::cancellation_type::total);
        request get_b;
        get_b.push("EXISTS", "b");
        std::int64_t exists = -1;
        co_await conn.async_exec(get_b, adapt(exists));
        BOOST_TEST((ec_b == asio::error::operation_aborted));
        BOOST_TEST(exists == 0);
        conn.close();
    });
}

BOOST_AUTO_TEST_CASE(server_stop_fails_pending_and_connection_recovers) {
    redis_server srv;
    asio::io_context ioc;
    connection conn{ioc.get_executor(), quiet(srv.url()), silent()};
    std::uint64_t hooks = 0;
    conn.on_connected([&](std::uint64_t n) { hooks = n; });
    start_run(conn);
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        request ping;
        ping.push("PING");
        co_await conn.async_exec(ping, adapt_ignore());
        BOOST_TEST(hooks == 1u);

        request slow;
        slow.push("DEBUG", "SLEEP", "1");
        error_code ec;
        bool done = false;
        conn.async_exec(slow, adapt_ignore(), [&](error_code e, std::size_t) { // starts now
            ec = e;
            done = true;
        });
        asio::steady_timer t{co_await asio::this_coro::executor};
        t.expires_after(50ms);
        co_await t.async_wait(asio::use_awaitable);
        BOOST_TEST(conn.stats().requests_in_flight == 1u);
        srv.kill_hard();
        while (!done) {
            t.expires_after(5ms);
            co_await t.async_wait(asio::use_awaitable);
        }
        BOOST_TEST((ec == errc::connection_lost), ec.message());

        // While down: fail at once...
        auto [ec2, n2] = co_await conn.async_exec(ping, adapt_ignore(), tuple_awaitable);
        BOOST_TEST((ec2 == errc::not_connected || ec2 == errc::connection_lost), ec2.message());

        // ...or wait, when asked, until the server is back.
        srv.start();
        request patient{request::options{5000ms}};
        patient.push("PING");
        std::string pong;
        auto [ec3, n3] = co_await conn.async_exec(patient, adapt(pong), tuple_awaitable);
        BOOST_TEST(!ec3, ec3.message());
        BOOST_TEST(pong == "PONG");
        BOOST_TEST(hooks >= 2u);
        conn.close();
    });
}

BOOST_AUTO_TEST_CASE(kill_mid_pipeline_fails_every_pending_request) {
    redis_server srv;
    asio::io_context ioc;
    connection conn{ioc.get_executor(), quiet(srv.url()), silent()};
    start_run(conn);
    int ok = 0, lost = 0, other = 0, finished = 0;
    constexpr int senders = 200;
    error_code first_ec;
    bool first_done = false;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        request warm;
        warm.push("PING");
        co_await conn.async_exec(warm, adapt_ignore());
        // A blocking command first, so everything behind it is in flight when the server dies.
        request slow;
        slow.push("DEBUG", "SLEEP", "1");
        conn.async_exec(slow, adapt_ignore(), [&](error_code ec, std::size_t) { // starts now
            first_ec = ec;
            first_done = true;
        });
        for (int i = 0; i < senders; ++i)
            asio::co_spawn(ex, [&]() -> asio::awaitable<void> {
                request r;
                for (int k = 0; k < 10; ++k)
                    r.push("XADD", "s", "*", "k", k);
                auto [ec, n] = co_await conn.async_exec(r, adapt_ignore(), tuple_awaitable);
                if (!ec)
                    ++ok;
                else if (ec == errc::connection_lost)
                    ++lost;
                else
                    ++other;
                ++finished;
            }, asio::detached);
        asio::steady_timer t{ex};
        t.expires_after(100ms);
        co_await t.async_wait(asio::use_awaitable);
        BOOST_TEST(conn.stats().requests_in_flight > 1u);
        srv.kill_hard();
        while (finished < senders || !first_done) {
            t.expires_after(5ms);
            co_await t.async_wait(asio::use_awaitable);
        }
        conn.close();
    });
    BOOST_TEST((first_ec == errc::connection_lost));
    BOOST_TEST(finished == senders);
    BOOST_TEST(lost == senders);
    BOOST_TEST(ok == 0);
    BOOST_TEST(other == 0);
}

BOOST_AUTO_TEST_CASE(health_check_drops_an_unresponsive_server) {
    redis_server srv;
    asio::io_context ioc;
    auto cfg = quiet(srv.url());
    cfg.health_check_interval = 100ms;
    cfg.health_check_timeout = 300ms;
    cfg.connect_timeout = 300ms;
    connection conn{ioc.get_executor(), cfg, silent()};
    connection other{ioc.get_executor(), quiet(srv.url()), silent()};
    start_run(conn);
    start_run(other);
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        request ping;
        ping.push("PING");
        co_await conn.async_exec(ping, adapt_ignore());
        BOOST_TEST(conn.stats().connects == 1u);
        // Freeze the whole server from another connection: our PING goes unanswered.
        request freeze;
        freeze.push("DEBUG", "SLEEP", "1.5");
        co_await other.async_exec(freeze, adapt_ignore());
        bool const reconnected = co_await [&]() -> asio::awaitable<bool> {
            asio::steady_timer t{co_await asio::this_coro::executor};
            for (int i = 0; i < 1000 && conn.stats().connects < 2; ++i) {
                t.expires_after(10ms);
                co_await t.async_wait(asio::use_awaitable);
            }
            co_return conn.stats().connects >= 2;
        }();
        BOOST_TEST(reconnected);
        conn.close();
        other.close();
    });
}

BOOST_AUTO_TEST_CASE(waiting_request_times_out_while_down) {
    redis_server srv;
    asio::io_context ioc;
    connection conn{ioc.get_executor(), quiet(srv.url()), silent()};
    start_run(conn);
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        request ping;
        ping.push("PING");
        co_await conn.async_exec(ping, adapt_ignore());
        srv.kill_hard();
        bool const left = co_await wait_state(conn, connection_state::connected, 10s, true);
        BOOST_TEST(left);
        request patient{request::options{150ms}};
        patient.push("PING");
        auto const t0 = std::chrono::steady_clock::now();
        auto [ec, n] = co_await conn.async_exec(patient, adapt_ignore(), tuple_awaitable);
        auto const waited = std::chrono::steady_clock::now() - t0;
        BOOST_TEST((ec == errc::not_connected || ec == errc::connection_lost), ec.message());
        BOOST_TEST((waited < 3s));
        conn.close();
    });
}

BOOST_AUTO_TEST_CASE(keyspace_pushes_interleave_with_replies) {
    redis_server::options o;
    o.notify_keyspace_events = "Kt";
    redis_server srv{o};
    asio::io_context ioc;
    connection conn{ioc.get_executor(), quiet(srv.url()), silent()};
    start_run(conn);
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        request sub;
        sub.push("SUBSCRIBE", "__keyspace@0__:events");
        co_await conn.async_exec(sub, adapt_ignore());
        request r;
        for (int i = 0; i < 50; ++i)
            r.push("XADD", "events", "*", "n", i);
        std::vector<std::string> ids;
        co_await conn.async_exec(r, adapt_each(ids));
        BOOST_TEST(ids.size() == 50u);
        for (int i = 0; i < 50; ++i) {
            auto p = co_await conn.async_receive_push(asio::use_awaitable);
            BOOST_TEST(p.kind == "message");
            BOOST_TEST_REQUIRE(p.args.size() == 2u);
            BOOST_TEST(p.args[0] == "__keyspace@0__:events");
            BOOST_TEST(p.args[1] == "xadd");
        }
        // Subscriptions come back after a reconnect. The server kills our own connection; its
        // reply may or may not arrive first, so only the reconnect is awaited.
        request kill;
        kill.push("CLIENT", "KILL", "TYPE", "pubsub", "SKIPME", "no");
        co_await conn.async_exec(kill, adapt_ignore(), tuple_awaitable);
        asio::steady_timer t{co_await asio::this_coro::executor};
        for (int i = 0; i < 1000 && (conn.stats().connects < 2 || conn.state() != connection_state::connected); ++i) {
            t.expires_after(10ms);
            co_await t.async_wait(asio::use_awaitable);
        }
        BOOST_TEST(conn.stats().connects >= 2u);
        request ping;
        ping.push("PING");
        co_await conn.async_exec(ping, adapt_ignore()); // the SUBSCRIBE restore went before it
        request add;
        add.push("XADD", "events", "*", "n", "after");
        co_await conn.async_exec(add, adapt_ignore());
        auto p = co_await conn.async_receive_push(asio::use_awaitable);
        BOOST_TEST(p.args.at(1) == "xadd");
        BOOST_TEST(conn.stats().connects >= 2u);
        conn.close();
    });
}

BOOST_AUTO_TEST_CASE(bad_password_fails_clearly_without_leaking_it) {
    redis_server::options o;
    o.requirepass = "right-secret";
    redis_server srv{o};
    asio::io_context ioc;
    std::vector<std::string> logs;
    logger capture{log_level::trace, [&](log_level, std::string_view m) { logs.emplace_back(m); }};
    auto cfg = quiet("redis://:wrong-secret-xyz@127.0.0.1:" + std::to_string(srv.port()));
    connection conn{ioc.get_executor(), cfg, capture};
    auto run = start_run(conn);
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        request ping;
        ping.push("PING");
        auto [ec, n] = co_await conn.async_exec(ping, adapt_ignore(), tuple_awaitable);
        BOOST_TEST((ec == server_errc::wrongpass), ec.message());
        co_return;
    });
    BOOST_TEST(run->finished);
    BOOST_TEST((run->ec == server_errc::wrongpass));
    BOOST_TEST(!logs.empty());
    for (auto const& l : logs)
        BOOST_TEST(l.find("wrong-secret-xyz") == std::string::npos, l);

    // The right password works, password-only (default user).
    asio::io_context ioc2;
    connection good{ioc2.get_executor(), quiet("redis://:right-secret@127.0.0.1:" + std::to_string(srv.port())), silent()};
    start_run(good);
    run_coro(ioc2, [&]() -> asio::awaitable<void> {
        request ping;
        ping.push("PING");
        std::string pong;
        co_await good.async_exec(ping, adapt(pong));
        BOOST_TEST(pong == "PONG");
        good.close();
    });
}

BOOST_AUTO_TEST_CASE(acl_user_gets_noperm_per_command) {
    redis_server::options o;
    o.acl_users = {"user default on nopass ~* &* +@all",
                   "user app on >app-pw ~events:* resetchannels &__keyspace@0__:events:* -@all +@stream +hello +ping +client|setname +select"};
    redis_server srv{o};
    asio::io_context ioc;
    connection conn{ioc.get_executor(), quiet("redis://app:app-pw@127.0.0.1:" + std::to_string(srv.port())), silent()};
    start_run(conn);
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        request r;
        r.push("XADD", "events:a", "*", "k", "v");
        r.push("XADD", "other", "*", "k", "v");
        r.push("FLUSHALL");
        std::vector<result<std::string>> out;
        co_await conn.async_exec(r, adapt_each(out));
        BOOST_TEST_REQUIRE(out.size() == 3u);
        BOOST_TEST(out[0].has_value());
        BOOST_TEST((out[1].error_code() == server_errc::noperm), out[1].error().message);
        BOOST_TEST((out[2].error_code() == server_errc::noperm));
        conn.close();
    });
}

BOOST_AUTO_TEST_CASE(resp2_fallback_when_hello_is_renamed_away) {
    redis_server::options o;
    o.extra_args = {"--rename-command", "HELLO", "\"\""};
    o.requirepass = "pw";
    redis_server srv{o};
    asio::io_context ioc;
    auto cfg = quiet("redis://:pw@127.0.0.1:" + std::to_string(srv.port()) + "/3");
    connection conn{ioc.get_executor(), cfg, silent()};
    start_run(conn);
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        request r;
        r.push("XADD", "s", "*", "f", "v");
        r.push("XRANGE", "s", "-", "+");
        r.push("CLIENT", "INFO");
        std::string id, info;
        entry_batch entries;
        co_await conn.async_exec(r, adapt(id, entries, info));
        BOOST_TEST(conn.protocol() == 2);
        BOOST_TEST(conn.server_version().starts_with("7."));
        BOOST_TEST(entries.size() == 1u);
        BOOST_TEST(info.find("db=3") != std::string::npos, info);
        BOOST_TEST(info.find("name=redstream") != std::string::npos, info);
        request sub;
        sub.push("SUBSCRIBE", "x");
        auto [ec, n] = co_await conn.async_exec(sub, adapt_ignore(), tuple_awaitable);
        BOOST_TEST((ec == errc::resp2_no_pushes));
        conn.close();
    });
}

BOOST_AUTO_TEST_CASE(unix_socket_connection) {
    redis_server::options o;
    o.unix_socket = true;
    redis_server srv{o};
    asio::io_context ioc;
    connection conn{ioc.get_executor(), quiet("unix://" + srv.unix_path() + "?db=1"), silent()};
    start_run(conn);
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        request r;
        r.push("CLIENT", "INFO");
        std::string info;
        co_await conn.async_exec(r, adapt(info));
        BOOST_TEST(info.find("db=1") != std::string::npos, info);
        conn.close();
    });
}

BOOST_AUTO_TEST_CASE(tls_verified_against_ca_and_wrong_name_refused) {
    redis_server::options o;
    o.tls = true;
    redis_server srv{o};
    asio::io_context ioc;
    auto cfg = quiet(srv.url() + "?ca=" + srv.ca_file().string());
    connection conn{ioc.get_executor(), cfg, silent()};
    start_run(conn);
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        request r;
        r.push("PING");
        std::string pong;
        co_await conn.async_exec(r, adapt(pong));
        BOOST_TEST(pong == "PONG");
        conn.close();
    });

    // The certificate is for "localhost": asking for another name must be refused.
    asio::io_context ioc2;
    auto wrong = quiet(srv.url() + "?ca=" + srv.ca_file().string() + "&sni=other.example");
    wrong.reconnect.enabled = false;
    connection bad{ioc2.get_executor(), wrong, silent()};
    auto run = start_run(bad);
    run_coro(ioc2, [&]() -> asio::awaitable<void> {
        request r;
        r.push("PING");
        auto [ec, n] = co_await bad.async_exec(r, adapt_ignore(), tuple_awaitable);
        BOOST_TEST(ec.failed());
        co_return;
    });
    BOOST_TEST(run->finished);
    BOOST_TEST(run->ec.failed());
}

BOOST_AUTO_TEST_CASE(a_throwing_adapter_fails_its_request_and_the_connection_goes_on) {
    redis_server srv;
    asio::io_context ioc;
    auto cfg = quiet(srv.url());
    // Quick health checks: a reply loop stopped by the exception is noticed (and the
    // connection replaced) within a second instead of seven.
    cfg.health_check_interval = 100ms;
    cfg.health_check_timeout = 300ms;
    std::vector<std::string> logs;
    connection conn{ioc.get_executor(), cfg, capture_lines(logs, log_level::warn)};
    start_run(conn);
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        request set;
        set.push("SET", "k", "v");
        co_await conn.async_exec(set, adapt_ignore());
        request twice;
        twice.push("GET", "k");
        twice.push("GET", "k");
        any_adapter throwing{std::make_unique<throwing_adapter>()};
        auto [ec, n] = co_await conn.async_exec(twice, std::move(throwing), tuple_awaitable);
        BOOST_TEST((ec == errc::adapter_failed), ec.message());
        BOOST_TEST(n == 2u); // both replies were read (and dropped)
        request get;
        get.push("GET", "k");
        std::string v;
        auto [ec2, n2] = co_await conn.async_exec(get, adapt(v), tuple_awaitable);
        BOOST_TEST(!ec2, ec2.message());
        BOOST_TEST(v == "v"); // the next reply went to the next request
        BOOST_TEST(conn.stats().connects == 1u); // on the same connection
        conn.close();
    }, 15s);
    BOOST_TEST(any_line_has(logs, "adapter bug"));
}

BOOST_AUTO_TEST_CASE(run_ended_by_an_exception_completes_and_fails_what_waits) {
    asio::io_context ioc;
    auto cfg = quiet("redis://127.0.0.1:" + std::to_string(free_port())); // nobody listens there
    // The log sink is the user code run() itself calls: it throws on the "connect failed ...;
    // reconnecting in N ms" line.
    std::vector<std::string> logs;
    logger throwing{log_level::info, [&](log_level, std::string_view m) {
                        if (m.find("reconnecting in") != std::string_view::npos)
                            throw std::runtime_error("log sink failed");
                        logs.emplace_back(m);
                    }};
    connection conn{ioc.get_executor(), cfg, throwing};
    auto run = start_run(conn);
    request ping;
    ping.push("PING");
    error_code exec_ec, push_ec;
    bool exec_done = false, push_done = false;
    conn.async_exec(ping, adapt_ignore(), [&](error_code ec, std::size_t) {
        exec_ec = ec;
        exec_done = true;
    });
    conn.async_receive_push([&](error_code ec, push_message) {
        push_ec = ec;
        push_done = true;
    });
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        bool const ended = co_await wait_until([&] { return run->finished && exec_done && push_done; }, 5s);
        BOOST_TEST(ended, "async_run finished: " << run->finished << ", request: " << exec_done
                                                 << ", push receiver: " << push_done);
        conn.close(); // ends whatever is still waiting (before the fix)
    });
    BOOST_TEST((run->ec == errc::internal_error), run->ec.message());
    BOOST_TEST(exec_ec.failed()); // the connect failure or the exception, whichever came first
    BOOST_TEST(push_ec.failed());
    BOOST_TEST(any_line_has(logs, "log sink failed"), "the exception was not reported");
}

// The worker's reads complete inline, from the reader (connection_internals): a reply parsed
// behind an ordinary one reaches its handler before the ordinary one's posted completion, and
// a handler may close the connection from there.
BOOST_AUTO_TEST_CASE(inline_completions_run_from_the_reader_and_may_close_the_connection) {
    redis_server srv;
    asio::io_context ioc;
    connection conn{ioc.get_executor(), quiet(srv.url()), silent()};
    auto run = start_run(conn);
    std::vector<std::string> order;
    error_code blocked_ec;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        request warm;
        warm.push("PING");
        co_await conn.async_exec(warm, adapt_ignore()); // connected: the next three go in one write
        request first, second, blocked;
        first.push("PING");
        second.push("PING");
        blocked.push("XREAD", "BLOCK", 0, "STREAMS", "inline:nothing", "$"); // never answered
        conn.async_exec(first, adapt_ignore(), [&](error_code, std::size_t) { order.emplace_back("posted"); });
        detail::connection_internals::exec_completing_inline(conn, second, adapt_ignore(), [&](error_code ec, std::size_t) {
            order.emplace_back(ec ? "inline failed" : "inline");
            conn.close(); // from inside the reader: only queues the failures
        });
        conn.async_exec(blocked, adapt_ignore(), [&](error_code ec, std::size_t) { blocked_ec = ec; });
        co_await wait_until([&] { return run->finished && order.size() == 2 && blocked_ec; }, 5s);
    }, 15s);
    BOOST_TEST(order == (std::vector<std::string>{"inline", "posted"}), fmt::format("{}", fmt::join(order, ", ")));
    BOOST_TEST((blocked_ec == errc::closed), blocked_ec.message());
    BOOST_TEST(run->finished);
}

// What an inline completion throws is not the reader's failure: it leaves io_context::run(),
// as a posted handler's would, and the connection goes on.
BOOST_AUTO_TEST_CASE(a_throwing_inline_completion_leaves_run_and_the_connection_goes_on) {
    redis_server srv;
    asio::io_context ioc;
    connection conn{ioc.get_executor(), quiet(srv.url()), silent()};
    start_run(conn);
    request ping;
    ping.push("PING");
    detail::connection_internals::exec_completing_inline(conn, ping, adapt_ignore(), [](error_code, std::size_t) {
        throw std::runtime_error("handler bug");
    });
    std::string what;
    try {
        ioc.run_for(10s);
    } catch (std::runtime_error const& e) {
        what = e.what();
    }
    BOOST_TEST(what == "handler bug");
    ioc.restart();
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        std::string pong;
        auto [ec, n] = co_await conn.async_exec(ping, adapt(pong), tuple_awaitable);
        BOOST_TEST(!ec, ec.message());
        BOOST_TEST(pong == "PONG");
        BOOST_TEST(conn.stats().connects == 1u); // the same connection
        conn.close();
    }, 15s);
}

// What an inline completion queues, the reader writes itself right after the delivery, with
// one non-blocking write; what the socket does not take then (16 MiB does not fit a socket
// buffer) the writer sends, ahead of anything queued later, and the replies keep their order.
BOOST_AUTO_TEST_CASE(requests_queued_inline_are_written_whole_and_in_order) {
    redis_server srv;
    asio::io_context ioc;
    auto cfg = quiet(srv.url());
    cfg.health_check_interval = 0ms; // its PING would carry a stuck tail out
    connection conn{ioc.get_executor(), cfg, silent()};
    start_run(conn);
    std::string const big(16u << 20, 'x');
    std::vector<std::string> order;
    result<std::string> set_reply;
    std::int64_t length = -1;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        request ping, set, strlen;
        ping.push("PING");
        set.push("SET", "inline:big", big);
        set.push("PING");
        strlen.push("STRLEN", "inline:big");
        detail::connection_internals::exec_completing_inline(conn, ping, adapt_ignore(), [&](error_code, std::size_t) {
            order.emplace_back("ping");
            conn.async_exec(set, adapt(set_reply), [&](error_code, std::size_t) { order.emplace_back("set"); });
        });
        // Nothing else is queued meanwhile: the SET's tail must leave without a new request.
        BOOST_TEST(co_await wait_until([&] { return order.size() == 2; }, 5s), "the SET's tail was never written");
        auto [ec, n] = co_await conn.async_exec(strlen, adapt(length), tuple_awaitable);
        BOOST_TEST(!ec, ec.message());
        order.emplace_back("strlen");
        conn.close();
    }, 30s);
    BOOST_TEST(order == (std::vector<std::string>{"ping", "set", "strlen"}), fmt::format("{}", fmt::join(order, ", ")));
    BOOST_TEST((set_reply.has_value() && *set_reply == "OK"));
    BOOST_TEST(length == static_cast<std::int64_t>(big.size()));
}

BOOST_AUTO_TEST_CASE(connect_timeout_covers_a_name_lookup_that_hangs) {
    asio::io_context ioc;
    stuck_dns dns;
    auto cfg = stuck_cfg();
    cfg.connect_timeout = 200ms;
    connection conn{ioc.get_executor(), cfg, silent()};
    auto run = start_run(conn);
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        BOOST_TEST(co_await wait_until([&] { return dns.blocked() == 1; }, 5s), "the lookup never started");
        bool const gave_up = co_await wait_until([&] { return run->finished; }, 3s);
        BOOST_TEST(gave_up, "still connecting 3 s after a 200 ms connect_timeout");
        BOOST_TEST(dns.blocked() == 1); // it gave up on a lookup that still hangs
        dns.release();                  // which then ends in the background
        conn.close();
    });
    BOOST_TEST((run->ec == errc::connect_timeout), run->ec.message());
}

BOOST_AUTO_TEST_CASE(close_abandons_a_name_lookup_that_hangs) {
    asio::io_context ioc;
    stuck_dns dns;
    auto cfg = stuck_cfg();
    cfg.connect_timeout = 60s; // only close() can end this attempt in time
    connection conn{ioc.get_executor(), cfg, silent()};
    auto run = start_run(conn);
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        BOOST_TEST(co_await wait_until([&] { return dns.blocked() == 1; }, 5s), "the lookup never started");
        conn.close();
        bool const ended = co_await wait_until([&] { return run->finished; }, 3s);
        BOOST_TEST(ended, "async_run still running 3 s after close()");
        BOOST_TEST(dns.blocked() == 1);
        dns.release();
    });
    BOOST_TEST(!run->ec, run->ec.message()); // success after close()
}

BOOST_AUTO_TEST_CASE(keyspace_listeners_hear_only_xadd) {
    redis_server::options o;
    o.notify_keyspace_events = "Kgt"; // stream events and generic ones (del)
    redis_server srv{o};
    asio::io_context ioc;
    client cl{ioc.get_executor(), quiet(srv.url()), silent()};
    int stream_calls = 0, marker_calls = 0;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        // Named arguments: GCC 12 may destroy temporaries inside a co_await expression twice.
        std::string const stream = "s", marker = "marker";
        std::function<void()> on_stream = [&] { ++stream_calls; };
        std::function<void()> on_marker = [&] { ++marker_calls; };
        co_await detail::client_internals::add_keyspace_listener(cl, stream, on_stream);
        co_await detail::client_internals::add_keyspace_listener(cl, marker, on_marker);
        // Every kind of event a worker causes on its own stream, and one XADD among them.
        request r;
        r.push("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"); // xgroup-create
        r.push("XGROUP", "CREATECONSUMER", "s", "g", "c");     // xgroup-createconsumer
        r.push("XGROUP", "DELCONSUMER", "s", "g", "c");        // xgroup-delconsumer
        r.push("XSETID", "s", "5-0");                          // xsetid
        r.push("XADD", "s", "*", "k", "v");                    // xadd: the one listened for
        r.push("XTRIM", "s", "MAXLEN", 0);                     // xtrim
        r.push("DEL", "s");                                    // del
        // Pushes arrive in order: once the marker's has been routed, all of the above have been.
        r.push("XADD", "marker", "*", "k", "v");
        std::vector<result<std::string>> replies;
        co_await cl.connection().async_exec(r, adapt_each(replies), asio::use_awaitable);
        for (auto const& x : replies)
            BOOST_TEST(x.has_value(), x.error_code().message());
        BOOST_TEST(co_await wait_until([&] { return marker_calls > 0; }, 5s), "the marker's xadd never arrived");
        BOOST_TEST(stream_calls == 1);
        cl.close();
    });
}

BOOST_AUTO_TEST_CASE(a_throwing_keyspace_listener_does_not_stop_the_others) {
    redis_server::options o;
    o.notify_keyspace_events = "Kt";
    redis_server srv{o};
    asio::io_context ioc;
    std::vector<std::string> logs;
    client cl{ioc.get_executor(), quiet(srv.url()), capture_lines(logs, log_level::error)};
    int thrown = 0, heard = 0;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        std::function<void()> bad = [&] {
            ++thrown;
            throw std::runtime_error("listener bug");
        };
        std::function<void()> good = [&] { ++heard; };
        std::string const stream = "s";
        co_await detail::client_internals::add_keyspace_listener(cl, stream, bad); // called first (ids in order)
        co_await detail::client_internals::add_keyspace_listener(cl, stream, good);
        request r;
        r.push("XADD", "s", "*", "k", "v");
        r.push("XADD", "s", "*", "k", "v");
        co_await cl.connection().async_exec(r, adapt_ignore(), asio::use_awaitable);
        BOOST_TEST(co_await wait_until([&] { return heard == 2; }, 5s), "heard " << heard << " of 2 xadds");
        BOOST_TEST(thrown == 2);
        cl.close();
    });
    BOOST_TEST(any_line_has(logs, "listener bug"));
}

BOOST_AUTO_TEST_SUITE_END()
