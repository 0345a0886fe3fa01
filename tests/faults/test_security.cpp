// Security: a worker running as an ACL user with only the rights examples/deploy/README.md
// lists; NOPERM as a clear error outside them; a wrong password that never shows up in logs
// or exception texts; TLS verified against a CA (another CA, or another name, is refused).

#include <redstream/consume/worker.hpp>

#include "io/client_internals.hpp"
#include "redis_server.hpp"
#include "run_coro.hpp"
#include "worker_test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <functional>

using namespace redstream;
using namespace redstream::test;

namespace {

// The consumer ACL of examples/deploy/README.md, for keys under events: (keyspace wake-ups
// included). Keep the two in step: this test is what proves the documented list is enough.
std::string const consumer_acl =
    "user events-consumer on >consumer-pw ~events:* ~redstream:done:* resetchannels &__keyspace@*__:events:* "
    "-@all +xreadgroup +xack +xclaim +xpending +xinfo +xgroup|create +xgroup|delconsumer "
    "+xadd +xrange +xlen +eval +evalsha +multi +exec +time +hello +client|setname +ping +select "
    "+subscribe +config|get (~redstream:done:* +get +set +del)";

logger capture_all(std::vector<std::string>& lines) {
    return logger{log_level::trace, [&lines](log_level, std::string_view m) { lines.emplace_back(m); }};
}

} // namespace

BOOST_AUTO_TEST_SUITE(security)

BOOST_AUTO_TEST_CASE(worker_runs_with_the_documented_acl_and_noperm_is_clear) {
    redis_server::options o;
    o.notify_keyspace_events = "Kt";
    o.acl_users = {acl_setup::admin_line(), consumer_acl};
    redis_server srv{o};
    asio::io_context ioc;
    auto const admin_cfg = acl_setup::admin(srv);
    auto const user_cfg = acl_setup::user(srv, "events-consumer", "consumer-pw");
    std::vector<std::string> logs;
    client admin{ioc.get_executor(), admin_cfg, quiet()};
    client cl{ioc.get_executor(), user_cfg, capture_all(logs)};
    worker_options opts{.stream = "events:orders", .group = "billing", .start_id = "0", .consumers = 2};
    opts.idempotency.enabled = true; // scripts on redstream:done:* keys
    worker w{cl, opts};
    delivery_tally t;
    w.on_message([&](message const& m) -> asio::awaitable<outcome> {
        t.record(m);
        if (m.field_or("n", "") == "7")
            co_return dead_letter("poison");
        co_return ack;
    });
    error_code outside_code, publish_code;
    std::string outside_text;
    std::size_t dead_letters = 0;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await produce(admin, "events:orders", 500);
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return w.stats().acked + w.stats().dead_lettered >= 500u; }, 30s),
                   "acked " << w.stats().acked);
        BOOST_TEST((w.stats().wakeup == wakeup_mode::keyspace)); // the documented rights allow keyspace wake-ups
        request len;
        len.push("XLEN", "events:orders:dlq");
        co_await admin.connection().async_exec(len, adapt(dead_letters), asio::use_awaitable);

        // A stream outside events:* is refused, and says so.
        worker outside{cl, {.stream = "payments", .group = "billing"}};
        outside.on_message([](message const&) -> asio::awaitable<outcome> { co_return ack; });
        try {
            co_await outside.run();
            BOOST_ERROR("a worker ran on a key outside the user's rights");
        } catch (boost::system::system_error const& e) {
            outside_code = e.code();
            outside_text = e.what();
        }
        try {
            field_list const f{{"k", "v"}};
            co_await cl.publish("payments", f);
        } catch (boost::system::system_error const& e) {
            publish_code = e.code();
        }
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }, 30s));
        cl.close();
        admin.close();
    }, 90s);
    if (t.seen.size() != 500u)
        for (auto const& l : logs)
            BOOST_TEST_MESSAGE("log: " << l);
    BOOST_TEST_MESSAGE("ACL worker: handled " << t.seen.size() << ", dead-lettered " << dead_letters
                                              << "; outside its keys: " << outside_text);
    BOOST_TEST(t.seen.size() == 500u);
    BOOST_TEST(dead_letters == 1u);
    BOOST_TEST((outside_code == server_errc::noperm), outside_code.message());
    BOOST_TEST(outside_text.find("payments") != std::string::npos, outside_text);
    BOOST_TEST((publish_code == server_errc::noperm), publish_code.message());
    for (auto const& l : logs)
        BOOST_TEST(l.find("consumer-pw") == std::string::npos, l);
}

BOOST_AUTO_TEST_CASE(wrong_password_is_clear_and_never_printed) {
    redis_server::options o;
    o.requirepass = "right-pw";
    redis_server srv{o};
    asio::io_context ioc;
    auto cfg = config::from_url(fmt::format("redis://:Secret-Wrong-123@127.0.0.1:{}", srv.port()));
    std::vector<std::string> logs;
    client cl{ioc.get_executor(), cfg, capture_all(logs)};
    worker w{cl, {.stream = "s", .group = "g"}};
    w.on_message([](message const&) -> asio::awaitable<outcome> { co_return ack; });
    error_code code;
    std::string text;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        try {
            co_await w.run();
            BOOST_ERROR("run() succeeded with a wrong password");
        } catch (boost::system::system_error const& e) {
            code = e.code();
            text = e.what();
        }
        cl.close();
    });
    BOOST_TEST_MESSAGE("wrong password: " << text);
    BOOST_TEST((code == server_errc::wrongpass), code.message());
    BOOST_TEST(text.find("Secret-Wrong-123") == std::string::npos, text);
    BOOST_TEST(!logs.empty());
    for (auto const& l : logs)
        BOOST_TEST(l.find("Secret-Wrong-123") == std::string::npos, l);
    BOOST_TEST(cfg.redacted_address().find("Secret-Wrong-123") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(tls_worker_verifies_the_server_and_refuses_another_ca) {
    redis_server::options o;
    o.tls = true;
    o.notify_keyspace_events = "Kt";
    redis_server srv{o};
    // A second CA the server's certificate does not come from.
    std::string const other_ca = (srv.dir() / "other-ca.crt").string();
    std::string const make_other = fmt::format("openssl req -x509 -newkey rsa:2048 -nodes -keyout '{}' -out '{}' "
                                               "-days 2 -subj '/CN=another-ca' >/dev/null 2>&1",
                                               (srv.dir() / "other-ca.key").string(), other_ca);
    BOOST_TEST_REQUIRE(std::system(make_other.c_str()) == 0);

    asio::io_context ioc;
    auto good = config::from_url(srv.url() + "?ca=" + srv.ca_file().string());
    client cl{ioc.get_executor(), good, quiet()};
    worker w{cl, {.stream = "s", .group = "g", .start_id = "0", .consumers = 2}};
    delivery_tally t;
    record_and_ack(w, t);
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await produce(cl, "s", 1000);
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return w.stats().acked == 1000u; }, 30s));
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }, 30s));
        cl.close();
    });
    BOOST_TEST(t.seen.size() == 1000u);

    // The same server checked against another CA: the handshake fails, nothing is sent.
    for (std::string const& query : {"?ca=" + other_ca, "?ca=" + srv.ca_file().string() + "&sni=other.example"}) {
        asio::io_context ioc2;
        auto bad = config::from_url(srv.url() + query);
        bad.reconnect.enabled = false;
        std::vector<std::string> logs;
        client refused{ioc2.get_executor(), bad, capture_all(logs)};
        error_code ec;
        run_coro(ioc2, [&]() -> asio::awaitable<void> {
            try {
                field_list const f{{"k", "v"}};
                co_await refused.publish("s", f);
            } catch (boost::system::system_error const& e) {
                ec = e.code();
            }
            refused.close();
        });
        BOOST_TEST(ec.failed(), query);
        bool const explained = std::any_of(logs.begin(), logs.end(), [](std::string const& l) {
            return l.find("certificate") != std::string::npos;
        });
        BOOST_TEST(explained, query << ": " << ec.message());
    }
}

BOOST_AUTO_TEST_CASE(keyspace_listener_without_channel_rights_throws_and_keeps_nothing) {
    redis_server::options o;
    o.notify_keyspace_events = "Kt";
    // Like any new Redis 7 user, app has no channel rights (resetchannels): SUBSCRIBE to its
    // stream's keyspace channel is NOPERM.
    o.acl_users = {acl_setup::admin_line(),
                   "user app on >app-pw ~* resetchannels -@all +@stream +subscribe +unsubscribe +hello +ping "
                   "+client|setname +select"};
    redis_server srv{o};
    asio::io_context ioc;
    auto const admin_cfg = acl_setup::admin(srv);
    auto const app_cfg = acl_setup::user(srv, "app", "app-pw");
    client admin{ioc.get_executor(), admin_cfg, quiet()};
    client app{ioc.get_executor(), app_cfg, quiet()};
    std::vector<error_code> codes;
    std::vector<std::string> texts;
    int wakeups = 0;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        // Named arguments: GCC 12 may destroy temporaries inside a co_await expression twice.
        std::string const key = "orders";
        std::function<void()> on_xadd = [&] { ++wakeups; };
        // Twice: a retry must SUBSCRIBE again, not find the listener of the failed attempt.
        for (int attempt = 0; attempt < 2; ++attempt) {
            try {
                co_await detail::client_internals::add_keyspace_listener(app, key, on_xadd);
                BOOST_ERROR("attempt " << attempt << ": subscribed without the channel right");
            } catch (boost::system::system_error const& e) {
                codes.push_back(e.code());
                texts.emplace_back(e.what());
            }
        }
        // Granted the right, the same call subscribes and an XADD reaches the listener.
        request grant;
        grant.push("ACL", "SETUSER", "app", "&__keyspace@0__:orders");
        co_await admin.connection().async_exec(grant, adapt_ignore(), asio::use_awaitable);
        co_await detail::client_internals::add_keyspace_listener(app, key, on_xadd);
        field_list const f{{"k", "v"}};
        co_await admin.publish(key, f);
        BOOST_TEST(co_await eventually([&] { return wakeups > 0; }, 10s), "the XADD never reached the listener");
        app.close();
        admin.close();
    });
    BOOST_TEST_REQUIRE(codes.size() == 2u);
    for (std::size_t i = 0; i < codes.size(); ++i) {
        BOOST_TEST_MESSAGE("SUBSCRIBE refused: " << texts[i]);
        BOOST_TEST((codes[i] == server_errc::noperm), codes[i].message());
        // The server's own words ("...no permissions to access ... channel..."), not only the
        // category's message.
        BOOST_TEST(texts[i].find("channel") != std::string::npos, texts[i]);
    }
    BOOST_TEST(wakeups == 1);
}

BOOST_AUTO_TEST_SUITE_END()
