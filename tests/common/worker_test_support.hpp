#pragma once

// Helpers shared by the tests that run workers against a real server.

#include <redstream/protocol/stream_readers.hpp>
#include <redstream/consume/worker.hpp>

#include "redis_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

namespace redstream::test {

namespace asio = boost::asio;
using namespace std::chrono_literals;

inline config cfg_for(redis_server const& srv) {
    auto c = config::from_url(srv.url());
    c.reconnect.initial_delay = 20ms;
    c.reconnect.max_delay = 200ms;
    return c;
}

// A server with an all-powerful `default` user (password "admin-pw") and one more ACL user,
// given as its ACL line ("user app on >app-pw ..."): configs for both.
struct acl_setup {
    static std::string admin_line() { return "user default on >admin-pw ~* &* +@all"; }
    static config admin(redis_server const& srv) {
        auto c = cfg_for(srv);
        c.password = "admin-pw";
        return c;
    }
    static config user(redis_server const& srv, std::string name, std::string password) {
        auto c = cfg_for(srv);
        c.username = std::move(name);
        c.password = std::move(password);
        return c;
    }
};

// Silent unless REDSTREAM_TEST_LOG is set (then everything goes to stderr).
inline logger quiet() {
    if (std::getenv("REDSTREAM_TEST_LOG"))
        return logger{log_level::trace, [](log_level l, std::string_view m) {
                          std::fprintf(stderr, "[%s] %.*s\n", std::string{to_string(l)}.c_str(), int(m.size()), m.data());
                      }};
    return logger::none();
}

inline asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
    asio::steady_timer t{co_await asio::this_coro::executor};
    t.expires_after(d);
    co_await t.async_wait(asio::use_awaitable);
}

// Polls `pred` on timer ticks until true or `limit`; returns its last value.
template <class Pred>
asio::awaitable<bool> eventually(Pred pred, std::chrono::milliseconds limit = 20s) {
    auto const end = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > end)
            co_return false;
        co_await sleep_for(5ms);
    }
    co_return true;
}

inline asio::awaitable<void> produce(client& cl, std::string const& stream, int n, std::string const& tag = "m") {
    std::vector<field_list> batch;
    for (int i = 0; i < n; ++i) {
        batch.push_back({{"n", std::to_string(i)}, {"tag", tag}});
        if (batch.size() == 500 || i == n - 1) {
            co_await cl.publish_batch(stream, batch);
            batch.clear();
        }
    }
}

inline asio::awaitable<pending_summary> pending_of(client& cl, std::string const& stream, std::string const& group) {
    request r;
    r.push("XPENDING", stream, group);
    pending_summary s;
    co_await cl.connection().async_exec(r, adapt(s), asio::use_awaitable);
    co_return s;
}

// What a scenario delivered: each id with the number of times a handler saw it.
struct delivery_tally {
    std::map<std::string, int> seen;
    std::size_t handled = 0;
    void record(message const& m) {
        ++seen[m.id().to_string()];
        ++handled;
    }
    std::size_t duplicates() const {
        std::size_t d = 0;
        for (auto const& [id, n] : seen)
            d += static_cast<std::size_t>(n - 1);
        return d;
    }
};

// The usual handler of a scenario: record the delivery, acknowledge it.
inline void record_and_ack(worker& w, delivery_tally& t) {
    w.on_message([&t](message const& m) -> asio::awaitable<outcome> {
        t.record(m);
        co_return ack;
    });
}

// A handler that takes `d` (on a timer) per message: records it, waits, acknowledges.
inline void record_slowly_and_ack(worker& w, delivery_tally& t, std::chrono::milliseconds d) {
    w.on_message([&t, d](message const& m) -> asio::awaitable<outcome> {
        t.record(m);
        co_await sleep_for(d);
        co_return ack;
    });
}

// CPU seconds this process has used (user + system): "no busy loop" checks.
inline double process_cpu_seconds() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// The group's pending summary once it is empty, or after `limit` (the last acks, retries and
// claims of a scenario settle asynchronously).
inline asio::awaitable<pending_summary> pending_after_settling(client& cl, std::string const& stream,
                                                               std::string const& group,
                                                               std::chrono::milliseconds limit = 20s) {
    auto const end = std::chrono::steady_clock::now() + limit;
    for (;;) {
        pending_summary p = co_await pending_of(cl, stream, group);
        if (p.count == 0 || std::chrono::steady_clock::now() > end)
            co_return p;
        co_await sleep_for(50ms);
    }
}

// Runs w.run() in the background; returns a flag set when it has returned.
inline std::shared_ptr<bool> start_worker(asio::io_context& ioc, worker& w) {
    auto done = std::make_shared<bool>(false);
    asio::co_spawn(ioc, w.run(), [done](std::exception_ptr e) {
        *done = true;
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (std::exception const& x) {
                BOOST_ERROR("worker.run() threw: " << x.what());
            }
        }
    });
    return done;
}

} // namespace redstream::test
