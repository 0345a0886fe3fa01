// Patterns from the articles users learn from, on one client and one io_context:
//  - several groups on one stream: "billing" and "audit" each see every order;
//  - partitioned streams: orders:{0..3} read by one worker in one XREADGROUP with four keys;
//  - batch acknowledgement: acks flushed in batches of 64 ids (or 1 ms);
//  - dead letters: a poison message moves to <stream>:dlq after max_deliveries attempts;
//  - graceful shutdown: stop() drains handlers and flushes acks.
// The producer shares the workers' connection, so the workers use dedicated wake-up
// connections: a BLOCK on the shared connection would delay every XADD behind it.
// Without --url it starts a private redis-server. Exits non-zero if any expectation fails.
//
//   patterns [--url redis://host:port] [--orders N]

#include <redstream/worker.hpp>

#include "support/private_redis.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/core.h>

#include <functional>
#include <map>
#include <optional>

namespace asio = boost::asio;
using namespace std::chrono_literals;

// A template, not std::function: a non-trivial temporary inside a co_await expression may be
// destroyed twice by GCC 12 (see README, notes for contributors).
template <class Pred>
asio::awaitable<void> wait_until(Pred done, std::chrono::milliseconds limit) {
    asio::steady_timer t{co_await asio::this_coro::executor};
    auto const end = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < end) {
        t.expires_after(5ms);
        co_await t.async_wait(asio::use_awaitable);
    }
}

int main(int argc, char** argv) {
    std::string url;
    int orders = 1000;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string_view const arg = argv[i];
        if (arg == "--url")
            url = argv[i + 1];
        else if (arg == "--orders")
            orders = std::stoi(argv[i + 1]);
    }
    std::optional<redstream::support::private_redis> server;
    if (url.empty()) {
        server.emplace();
        url = server->url();
    }
    asio::io_context ioc;
    redstream::client client{ioc.get_executor(), redstream::config::from_url(url)};

    // [groups]
    // Two groups on one stream: each keeps its own cursor and pending list.
    redstream::worker billing{client, {.stream = "orders", .group = "billing", .start_id = "0", .consumers = 4,
                                       .ack_batch = 64, .wakeup = redstream::wakeup_mode::dedicated,
                                       .min_idle = 200ms, .max_deliveries = 3}};
    redstream::worker audit{client, {.stream = "orders", .group = "audit", .start_id = "0",
                                     .wakeup = redstream::wakeup_mode::dedicated}};
    // [groups]
    int billed = 0, audited = 0;
    billing.on_message([&](redstream::message const& m) -> asio::awaitable<redstream::outcome> {
        if (m.field_or("amount", "") == "poison")
            throw std::runtime_error("cannot parse amount"); // fails every time: dead-lettered
        ++billed;
        co_return redstream::ack;
    });
    audit.on_message([&](redstream::message const&) -> asio::awaitable<redstream::outcome> {
        ++audited;
        co_return redstream::ack;
    });
    // [partitions]
    // Partitioned streams: one worker reads orders:0..3 in one XREADGROUP (four keys).
    redstream::worker partitions{client, {.streams = {"orders:0", "orders:1", "orders:2", "orders:3"},
                                          .group = "shipping", .start_id = "0", .consumers = 2,
                                          .wakeup = redstream::wakeup_mode::dedicated}};
    // [partitions]
    std::map<std::string, int> per_partition;
    partitions.on_message([&](redstream::message const& m) -> asio::awaitable<redstream::outcome> {
        ++per_partition[std::string{m.stream()}];
        co_return redstream::ack;
    });

    // The poison message is retried after min_idle (200 ms here, 60 s by default) and moved to
    // orders:dlq on its third failed delivery.
    bool ok = true;
    asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
        std::vector<redstream::field_list> batch;
        for (int i = 0; i < orders; ++i)
            batch.push_back({{"order_id", std::to_string(i)}, {"amount", "10"}});
        co_await client.publish_batch("orders", batch);
        redstream::field_list const poison{{"order_id", "x"}, {"amount", "poison"}};
        co_await client.publish("orders", poison);
        for (int i = 0; i < orders; ++i) {
            redstream::field_list const f{{"order_id", std::to_string(i)}};
            auto const partition = fmt::format("orders:{}", i % 4);
            co_await client.publish(partition, f);
        }
        co_return;
    }, asio::detached);

    auto run = [&](redstream::worker& w) {
        asio::co_spawn(ioc, w.run(), [](std::exception_ptr e) {
            if (e)
                std::rethrow_exception(e);
        });
    };
    run(billing);
    run(audit);
    run(partitions);
    asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
        auto const total_partitioned = [&] {
            int n = 0;
            for (auto const& [k, v] : per_partition)
                n += v;
            return n;
        };
        co_await wait_until([&] {
            return billed == orders && audited == orders + 1 && total_partitioned() == orders &&
                   billing.stats().dead_lettered == 1;
        }, 20s);
        // [shutdown]
        billing.stop(); // stop reading, let handlers finish, flush acks, delete idle consumers
        audit.stop();
        partitions.stop();
        // [shutdown]
        co_await wait_until([&] { return !billing.running() && !audit.running() && !partitions.running(); }, 20s);
        fmt::print("billing handled {} orders ({} ack batches), dead-lettered {}; audit saw {} entries (poison "
                   "included)\n",
                   billed, billing.stats().ack_batches, billing.stats().dead_lettered, audited);
        for (auto const& [stream, n] : per_partition)
            fmt::print("shipping: {} entries from {}\n", n, stream);
        ok = billed == orders && audited == orders + 1 && total_partitioned() == orders && per_partition.size() == 4 &&
             billing.stats().dead_lettered == 1;
        client.close();
    }, asio::detached);
    ioc.run();
    if (!ok) {
        fmt::print(stderr, "patterns: an expectation failed\n");
        return 1;
    }
    return 0;
}
