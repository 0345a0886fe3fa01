// Embedding redstream in an async HTTP server, all on one io_context:
//   POST /orders      publishes the request body to the stream "orders" (202 + the entry id)
//   GET  /metrics     Prometheus metrics of the worker, its autoscaler and the connection
//   GET  /healthz     health as JSON (503 when unhealthy)
// A worker with an autoscaler consumes "orders" with a handler that awaits simulated I/O.
// SIGINT/SIGTERM drain the worker and stop the server. Without --url it starts a private
// redis-server.
//
//   http_orders [--url redis://host:port] [--port 8080] (--port 0 picks a free port)

#include <redstream/autoscaler.hpp>
#include <redstream/http_endpoint.hpp>
#include <redstream/metrics.hpp>
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
using namespace std::chrono_literals;

int main(int argc, char** argv) {
    std::string url;
    unsigned short port = 8080;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string_view const arg = argv[i];
        if (arg == "--url")
            url = argv[i + 1];
        else if (arg == "--port")
            port = static_cast<unsigned short>(std::stoi(argv[i + 1]));
        else {
            fmt::print(stderr, "usage: http_orders [--url redis://host:port] [--port N]\n");
            return 2;
        }
    }
    try {
        std::optional<redstream::support::private_redis> server;
        if (url.empty()) {
            server.emplace();
            url = server->url();
        }
        asio::io_context ioc;
        redstream::client client{ioc.get_executor(), redstream::config::from_url(url),
                                 redstream::logger{redstream::log_level::info, [](redstream::log_level l, std::string_view m) {
                                                       fmt::print(stderr, "[{}] {}\n", to_string(l), m);
                                                   }}};

        // [embed]
        redstream::worker orders{client, {.stream = "orders", .group = "fulfilment", .start_id = "0",
                                          .wakeup = redstream::wakeup_mode::dedicated}};
        orders.on_message([](redstream::message const&) -> asio::awaitable<redstream::outcome> {
            asio::steady_timer io{co_await asio::this_coro::executor}; // stands for a call to another service
            io.expires_after(2ms);
            co_await io.async_wait(asio::use_awaitable);
            co_return redstream::ack;
        });
        redstream::autoscaler scaler{client, orders, {.policy = {.min_consumers = 1, .max_consumers = 32}}};

        redstream::metrics_registry registry;
        registry.add(client);
        registry.add(orders);
        registry.add(scaler);
        redstream::http_endpoint http{ioc.get_executor(), registry, {asio::ip::make_address("0.0.0.0"), port}};
        http.add_route("POST", "/orders", [&client](redstream::http_request_view const& req)
                                              -> asio::awaitable<redstream::http_reply> {
            redstream::field_list const fields{{"order", std::string{req.body}}};
            auto const id = co_await client.publish("orders", fields, {.maxlen = 1'000'000});
            redstream::http_reply reply{202, "text/plain", id.to_string()};
            reply.body += '\n';
            co_return reply;
        });
        // [embed]

        asio::signal_set signals{ioc, SIGINT, SIGTERM};
        signals.async_wait([&](boost::system::error_code, int) {
            http.stop();
            scaler.stop();
            orders.stop(); // drains in-flight handlers, flushes acks
        });
        asio::co_spawn(ioc, orders.run(), [&](std::exception_ptr e) {
            if (e) {
                try {
                    std::rethrow_exception(e);
                } catch (std::exception const& x) {
                    fmt::print(stderr, "worker failed: {}\n", x.what());
                }
            }
            fmt::print("worker stopped: {} handled, {} acked\n", orders.stats().handled, orders.stats().acked);
            http.stop();
            scaler.stop();
            client.close();
            signals.cancel();
        });
        asio::co_spawn(ioc, scaler.run(), asio::detached);
        asio::co_spawn(ioc, http.run(), asio::detached);
        fmt::print("listening on port {}\n", http.port());
        std::fflush(stdout);
        ioc.run();
        return 0;
    } catch (std::exception const& e) {
        fmt::print(stderr, "error: {}\n", e.what());
        return 1;
    }
}
