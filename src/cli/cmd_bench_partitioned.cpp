// `redstream bench --partitions N [--cluster M]`: the same measurement over a partitioned
// stream, on one server or on a Redis Cluster, with per-node figures.

#include "bench_common.hpp"
#include "io/use_tuple.hpp"

#include <redstream/cluster/partitions.hpp>
#include <redstream/consume/partitioned_worker.hpp>
#include <redstream/io/cluster_client.hpp>
#include <redstream/io/partitioned_producer.hpp>
#include <redstream/protocol/stream_readers.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <map>
#include <memory>

namespace redstream::cli {

namespace {

// Where each partition lives: its key, its node and that node's client.
struct partition_place {
    std::string key;
    std::string node;
    client* on = nullptr;
};

struct node_place {
    std::string node;
    client* on = nullptr;
    double cpu0 = 0;
    std::uint64_t commands0 = 0;
};

asio::awaitable<void> produce_partitioned(partitioned_producer& producer, bench_config const& cfg,
                                          std::uint64_t& produced, bool const& interrupted) {
    co_await produce_with(
        cfg, produced, interrupted, [&](field_list const& f) { return producer.publish(f); },
        [&](std::vector<field_list> const& batch) { return producer.publish_batch(batch); });
}

// The partitions' keys on their nodes, the group created on each at 0, their nodes' stats reset.
asio::awaitable<std::vector<partition_place>> prepare(client& seed, cluster_client* cc, std::string const& stream,
                                                      std::size_t partitions, std::string const& group) {
    std::vector<partition_place> out;
    for (auto& key : cluster::partition_keys(stream, partitions)) {
        partition_place p{std::move(key), {}, &seed};
        if (cc) {
            p.on = co_await cc->owner_of(p.key);
            p.node = fmt::format("{}:{}", p.on->connection().get_config().host, p.on->connection().get_config().port);
        } else {
            p.node = fmt::format("{}:{}", seed.connection().get_config().host, seed.connection().get_config().port);
        }
        request r;
        r.push("DEL", p.key);
        r.push("XGROUP", "CREATE", p.key, group, "0", "MKSTREAM");
        std::vector<result<std::string>> ignored;
        co_await p.on->connection().async_exec(r, adapt_each(ignored), asio::use_awaitable);
        out.push_back(std::move(p));
    }
    co_return out;
}

std::vector<node_place> nodes_of(std::vector<partition_place> const& parts) {
    std::vector<node_place> nodes;
    for (auto const& p : parts)
        if (std::none_of(nodes.begin(), nodes.end(), [&](auto const& n) { return n.node == p.node; }))
            nodes.push_back({p.node, p.on, 0, 0});
    return nodes;
}

} // namespace

asio::awaitable<void> run_partitioned_bench(client& seed, bench_config const& cfg, bench_result& res,
                                            bool& interrupted) {
    std::string const stream = fmt::format("redstream:bench:{}", ::getpid());
    std::string const group = "bench";
    auto const& seed_cfg = seed.connection().get_config();
    std::unique_ptr<cluster_client> cc;
    if (co_await cluster_client::is_cluster(seed_cfg))
        cc = std::make_unique<cluster_client>(co_await asio::this_coro::executor, seed_cfg, seed.get_logger());
    auto parts = co_await prepare(seed, cc.get(), stream, cfg.partitions, group);
    auto nodes = nodes_of(parts);
    for (auto& n : nodes) {
        request r;
        r.push("CONFIG", "RESETSTAT");
        co_await n.on->connection().async_exec(r, adapt_ignore(), asio::use_awaitable);
    }
    std::unique_ptr<partitioned_producer> producer =
        cc ? std::make_unique<partitioned_producer>(*cc, stream, cfg.partitions)
           : std::make_unique<partitioned_producer>(seed, stream, cfg.partitions);
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer tick{ex};
    std::uint64_t produced = 0;

    // 1. Fill (unless the producer runs beside the consumers at a fixed rate).
    if (cfg.rate == 0)
        co_await fill_phase(cfg, produced, res, produce_partitioned(*producer, cfg, produced, interrupted));

    // 2. Consume.
    worker_options o;
    o.stream = stream;
    o.group = group;
    o.create_group = false;
    o.consumers = cfg.consumers;
    o.batch = cfg.batch;
    o.max_in_flight = cfg.in_flight;
    o.wakeup = cfg.wakeup;
    o.configure_keyspace_events = cfg.wakeup == wakeup_mode::keyspace;
    auto w = cc ? std::make_unique<partitioned_worker>(*cc, o, cfg.partitions)
                : std::make_unique<partitioned_worker>(seed, o, cfg.partitions);
    std::vector<std::uint32_t> latency_us;
    latency_us.reserve(static_cast<std::size_t>(cfg.messages));
    w->on_message(bench_handler(cfg, latency_us));
    for (auto& n : nodes) {
        n.cpu0 = co_await server_cpu(*n.on);
        n.commands0 = co_await server_commands(*n.on);
    }
    auto const cpu0 = now_cpu();
    auto const t0 = clk::now();
    bool stopped = false;
    asio::co_spawn(ex, w->run(), [&](std::exception_ptr e) {
        stopped = true;
        if (e)
            std::rethrow_exception(e);
    });
    if (cfg.rate > 0)
        asio::co_spawn(ex, produce_partitioned(*producer, cfg, produced, interrupted), asio::detached);
    clk::time_point all_acked{};
    while (!interrupted) {
        tick.expires_after(std::chrono::milliseconds(100));
        co_await tick.async_wait(asio::use_awaitable);
        auto const st = w->stats().total;
        double const s = std::chrono::duration<double>(clk::now() - t0).count();
        res.consumers_max = std::max(res.consumers_max, st.consumers);
        auto const lag = produced > st.messages_read ? produced - st.messages_read : 0;
        progress(cfg, "consume", st.acked, cfg.messages, static_cast<double>(st.acked) / s,
                 fmt::format("lag {:>8} consumers {:>3}", lag, st.consumers));
        if (st.acked >= cfg.messages) {
            all_acked = clk::now();
            break;
        }
    }
    if (all_acked == clk::time_point{})
        all_acked = clk::now();
    double const wall = std::chrono::duration<double>(all_acked - t0).count();
    double const client_cpu = now_cpu() - cpu0;
    double server = 0;
    std::uint64_t commands = 0;
    std::vector<double> node_cpu;
    std::vector<std::uint64_t> node_commands;
    for (auto& n : nodes) {
        node_cpu.push_back(co_await server_cpu(*n.on) - n.cpu0);
        node_commands.push_back(co_await server_commands(*n.on) - n.commands0);
        server += node_cpu.back();
        commands += node_commands.back();
    }
    if (progress_enabled(cfg))
        fmt::print(stderr, "\n");
    w->stop();
    while (!stopped) {
        tick.expires_after(std::chrono::milliseconds(5));
        co_await tick.async_wait(asio::use_awaitable);
    }
    auto const st = w->stats();
    res.acked = st.total.acked;
    auto const n = static_cast<double>(std::max<std::uint64_t>(res.acked, 1));
    res.consume_rate = static_cast<double>(res.acked) / wall;
    if (cfg.rate > 0)
        res.produce_rate = static_cast<double>(produced) / wall;
    res.client_cpu_us = client_cpu * 1e6 / n;
    res.server_cpu_us = server * 1e6 / n;
    // The busiest node's share: the one that limits a cluster.
    double busiest = 0;
    for (auto c : node_cpu)
        busiest = std::max(busiest, c);
    res.server_busy_pct = wall > 0 ? busiest / wall * 100 : 0;
    res.commands_per_msg = static_cast<double>(commands) / n;
    res.p50 = percentile(latency_us, 50);
    res.p99 = percentile(latency_us, 99);
    res.p999 = percentile(latency_us, 99.9);
    res.redirects = cc ? cc->routed().stats().moved + cc->routed().stats().ask : 0;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        node_share share{nodes[i].node, 0, 0, node_cpu[i] * 1e6 / n, node_commands[i]};
        for (std::size_t p = 0; p < parts.size(); ++p)
            if (parts[p].node == nodes[i].node) {
                ++share.partitions;
                share.messages += st.partitions.size() == parts.size() ? st.partitions[p].stats.acked : 0;
            }
        if (st.partitions.size() != parts.size()) // one server: one worker read them all
            share.messages = res.acked;
        res.nodes.push_back(std::move(share));
    }
    for (auto const& p : parts) {
        request r;
        r.push("XPENDING", p.key, group);
        r.push("DEL", p.key); // only our own keys
        pending_summary pend;
        std::int64_t deleted = 0;
        co_await p.on->connection().async_exec(r, adapt(pend, deleted), asio::use_awaitable);
        res.pending_after += pend.count;
    }
    res.lost = produced > res.acked ? produced - res.acked : 0;
    if (cc)
        cc->close();
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    res.peak_rss = ru.ru_maxrss * 1024;
}

} // namespace redstream::cli
