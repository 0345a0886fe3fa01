// Quick start: a worker consuming "orders" with the group "billing", stopped by SIGINT/SIGTERM
// with a graceful drain. Without --url it starts a private redis-server and publishes a few
// orders itself, so it runs anywhere:
//
//   quickstart [--url redis://host:port] [--orders N]

#include <redstream/stream_readers.hpp>
#include <redstream/worker.hpp>

#include "support/private_redis.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/core.h>

#include <optional>

namespace asio = boost::asio;

// [handler]
// A handler is an awaitable callback: it may await I/O; returning ack acknowledges the message,
// throwing or returning retry leaves it pending for redelivery.
asio::awaitable<redstream::outcome> charge(redstream::message const& m) {
    auto amount = m.field_or("amount", "0");
    if (amount == "bad")
        co_return redstream::dead_letter("amount is not a number");
    if (m.deliveries() > 1)
        fmt::print("redelivery {} of {}\n", m.deliveries(), m.id().to_string());
    fmt::print("charged order {} amount {}\n", m.field_or("order_id", "?"), amount);
    co_return redstream::ack;
}
// [handler]

int main(int argc, char** argv) {
    std::string url;
    int orders = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string_view a = argv[i];
        if (a == "--url")
            url = argv[i + 1];
        else if (a == "--orders")
            orders = std::stoi(argv[i + 1]);
    }
    std::optional<redstream::support::private_redis> server;
    bool const demo = url.empty();
    if (demo) {
        server.emplace();
        url = server->url();
    }

    // [setup]
    asio::io_context ioc;
    redstream::client client{ioc.get_executor(), redstream::config::from_url(url)};
    redstream::worker orders_worker{client, {.stream = "events:orders", .group = "billing", .consumers = 4}};
    orders_worker.on_message(charge);

    asio::signal_set signals{ioc, SIGINT, SIGTERM};
    signals.async_wait([&](auto ec, int) {
        if (!ec)
            orders_worker.stop(); // graceful: drain handlers, flush acks, delete idle consumers
    });
    asio::co_spawn(ioc, orders_worker.run(), [&](std::exception_ptr e) {
        if (e) {
            try { std::rethrow_exception(e); } catch (std::exception const& x) { fmt::print(stderr, "worker: {}\n", x.what()); }
        }
        signals.cancel();
        client.close();
    });
    // [setup]

    if (demo) {
        // Publish a few orders, then stop once they are all acknowledged.
        asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
            asio::steady_timer t{ioc};
            while (!orders_worker.running() || orders_worker.stats().consumers == 0) {
                t.expires_after(std::chrono::milliseconds{5});
                co_await t.async_wait(asio::use_awaitable);
            }
            for (int i = 0; i < orders; ++i) {
                // A named field list: GCC 12 mishandles braced temporaries inside co_await.
                redstream::field_list const order{{"order_id", std::to_string(1000 + i)}, {"amount", "9.99"}};
                co_await client.publish("events:orders", order);
            }
            while (orders_worker.stats().acked < static_cast<std::uint64_t>(orders)) {
                t.expires_after(std::chrono::milliseconds{5});
                co_await t.async_wait(asio::use_awaitable);
            }
            orders_worker.stop();
        }, asio::detached);
    }
    ioc.run();
    auto s = orders_worker.stats();
    fmt::print("handled {}, acked {}, dead-lettered {}\n", s.handled, s.acked, s.dead_lettered);
    return demo && s.acked != static_cast<std::uint64_t>(orders) ? 1 : 0;
}
