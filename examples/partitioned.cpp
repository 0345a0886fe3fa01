// Partitioned stream: "orders" split into P partitions, produced by customer (one customer's
// orders stay in one partition, in order) and consumed by one partitioned_worker. The same code
// runs on one server and on a Redis Cluster (detected from the URL: INFO cluster, or
// ?cluster=yes|no), where each partition is read on its master. Without --url it starts a
// private redis-server:
//
//   partitioned [--url redis://host:port[,host:port...]] [--partitions P] [--orders N]

#include <redstream/redstream.hpp>

#include "support/private_redis.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/core.h>

#include <map>
#include <memory>
#include <optional>

namespace asio = boost::asio;

// Waits on a timer until `done()`: the demo's own pacing, not the library's.
template <class Pred>
asio::awaitable<void> until(Pred done) {
    asio::steady_timer t{co_await asio::this_coro::executor};
    while (!done()) {
        t.expires_after(std::chrono::milliseconds{5});
        co_await t.async_wait(asio::use_awaitable);
    }
}

int main(int argc, char** argv) {
    std::string url;
    std::size_t partitions = 6;
    int orders = 600;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string_view a = argv[i];
        if (a == "--url")
            url = argv[i + 1];
        else if (a == "--partitions")
            partitions = std::stoul(argv[i + 1]);
        else if (a == "--orders")
            orders = std::stoi(argv[i + 1]);
    }
    std::optional<redstream::support::private_redis> server;
    if (url.empty()) {
        server.emplace();
        url = server->url();
    }

    asio::io_context ioc;
    auto const cfg = redstream::config::from_url(url);
    redstream::client single{ioc.get_executor(), cfg}; // a cluster node is fine here: used for detection only then
    std::unique_ptr<redstream::cluster_client> cluster;
    std::unique_ptr<redstream::partitioned_producer> producer;
    std::unique_ptr<redstream::partitioned_worker> billing;
    std::map<std::string, int> per_partition;
    int failures = 0;
    bool finished = false;

    asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
        // [partitioned]
        redstream::worker_options opts{.stream = "orders", .group = "billing", .start_id = "0", .consumers = 2};
        if (co_await redstream::cluster_client::is_cluster(cfg)) {
            cluster = std::make_unique<redstream::cluster_client>(ioc.get_executor(), cfg);
            producer = std::make_unique<redstream::partitioned_producer>(*cluster, "orders", partitions, "customer");
            billing = std::make_unique<redstream::partitioned_worker>(*cluster, opts, partitions);
        } else {
            producer = std::make_unique<redstream::partitioned_producer>(single, "orders", partitions, "customer");
            billing = std::make_unique<redstream::partitioned_worker>(single, opts, partitions);
        }
        billing->on_message([&](redstream::message const& m) -> asio::awaitable<redstream::outcome> {
            ++per_partition[std::string{m.stream()}]; // the partition key, "orders:{p<i>-<k>}"
            co_return redstream::ack;
        });
        // [partitioned]
        asio::co_spawn(ioc, billing->run(), [&](std::exception_ptr e) {
            finished = true;
            if (e) {
                ++failures;
                try { std::rethrow_exception(e); } catch (std::exception const& x) { fmt::print(stderr, "worker: {}\n", x.what()); }
            }
        });
        std::vector<redstream::field_list> batch;
        for (int i = 0; i < orders; ++i)
            batch.push_back({{"customer", fmt::format("customer-{}", i % 50)}, {"amount", "9.99"}});
        co_await producer->publish_batch(batch);
        co_await until([&] { return billing->stats().total.acked >= static_cast<std::uint64_t>(orders); });
        billing->stop();
        co_await until([&] { return finished; });
        if (cluster)
            cluster->close();
        single.close();
    }, [&](std::exception_ptr e) {
        if (e) {
            ++failures;
            try { std::rethrow_exception(e); } catch (std::exception const& x) { fmt::print(stderr, "demo: {}\n", x.what()); }
            single.close();
        }
    });
    ioc.run();

    int total = 0;
    for (auto const& [key, n] : per_partition) {
        fmt::print("{}: {} orders\n", key, n);
        total += n;
    }
    fmt::print("{} orders over {} partitions ({})\n", total, per_partition.size(), cluster ? "cluster" : "one server");
    return failures == 0 && total >= orders ? 0 : 1;
}
