// `redstream bench`: the main job. Fills a stream, consumes it with the framework, reports
// throughput, CPU per message on both sides, produce->handle latency and memory.

#include "bench_common.hpp"
#include "cli_common.hpp"
#include "commands.hpp"
#include "io/use_tuple.hpp"

#include <redstream/scaling/autoscaler.hpp>
#include <redstream/protocol/stream_readers.hpp>
#include <redstream/consume/worker.hpp>

#include "support/private_cluster.hpp"
#include "support/private_redis.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <optional>

namespace redstream::cli {

namespace {

asio::awaitable<void> produce(client& c, std::string const& stream, bench_config const& cfg, std::uint64_t& produced,
                              bool const& interrupted) {
    co_await produce_with(
        cfg, produced, interrupted, [&](field_list const& f) { return c.publish(stream, f); },
        [&](std::vector<field_list> const& batch) { return c.publish_batch(stream, batch); });
}

asio::awaitable<void> run_bench(client& c, bench_config const& cfg, bench_result& res, bool& interrupted) {
    std::string const stream = fmt::format("redstream:bench:{}", ::getpid());
    std::string const group = "bench";
    {
        request r;
        r.push("DEL", stream);
        r.push("XGROUP", "CREATE", stream, group, "0", "MKSTREAM");
        r.push("CONFIG", "RESETSTAT");
        std::vector<result<std::string>> ignored;
        co_await c.connection().async_exec(r, adapt_each(ignored), asio::use_awaitable);
    }
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer tick{ex};
    std::uint64_t produced = 0;

    // 1. Fill (unless the producer runs beside the consumers at a fixed rate).
    if (cfg.rate == 0)
        co_await fill_phase(cfg, produced, res, produce(c, stream, cfg, produced, interrupted));

    // 2. Consume.
    worker_options o;
    o.stream = stream;
    o.group = group;
    o.create_group = false;
    o.consumers = cfg.consumers == 0 ? 1 : cfg.consumers;
    o.batch = cfg.batch;
    o.max_in_flight = cfg.in_flight;
    o.wakeup = cfg.wakeup;
    o.configure_keyspace_events = cfg.wakeup == wakeup_mode::keyspace;
    o.delete_consumers_on_stop = true;
    worker w{c, o};
    std::vector<std::uint32_t> latency_us;
    latency_us.reserve(static_cast<std::size_t>(cfg.messages));
    w.on_message(bench_handler(cfg, latency_us));
    std::optional<autoscaler> scaler;
    if (cfg.consumers == 0) {
        autoscaler_options ao;
        ao.policy.max_consumers = cfg.max_consumers;
        ao.interval = std::chrono::milliseconds(500);
        scaler.emplace(c, w, ao);
    }
    auto const server0 = co_await server_cpu(c);
    auto const commands0 = co_await server_commands(c);
    auto const cpu0 = now_cpu();
    auto const t0 = clk::now();
    bool stopped = false;
    asio::co_spawn(ex, w.run(), [&](std::exception_ptr e) {
        stopped = true;
        if (e)
            std::rethrow_exception(e);
    });
    if (scaler)
        asio::co_spawn(ex, scaler->run(), asio::detached);
    if (cfg.rate > 0)
        asio::co_spawn(ex, produce(c, stream, cfg, produced, interrupted), asio::detached);
    std::size_t last_consumers = 0;
    clk::time_point all_acked{};
    while (!interrupted) {
        tick.expires_after(std::chrono::milliseconds(100));
        co_await tick.async_wait(asio::use_awaitable);
        auto const st = w.stats();
        double const s = std::chrono::duration<double>(clk::now() - t0).count();
        if (st.consumers != last_consumers) {
            res.consumer_timeline.emplace_back(s, st.consumers);
            last_consumers = st.consumers;
        }
        res.consumers_max = std::max(res.consumers_max, st.consumers);
        auto const lag = produced > st.messages_read ? produced - st.messages_read : 0;
        std::string const extra = fmt::format("lag {:>8} consumers {:>3}", lag, st.consumers);
        progress(cfg, "consume", st.acked, cfg.messages, static_cast<double>(st.acked) / s, extra);
        if (st.acked >= cfg.messages) {
            all_acked = clk::now();
            break;
        }
    }
    if (all_acked == clk::time_point{})
        all_acked = clk::now();
    double const wall = std::chrono::duration<double>(all_acked - t0).count();
    double const client_cpu = now_cpu() - cpu0;
    auto const server = co_await server_cpu(c) - server0;
    auto const commands = co_await server_commands(c) - commands0;
    if (progress_enabled(cfg))
        fmt::print(stderr, "\n");
    if (scaler)
        scaler->stop();
    w.stop();
    while (!stopped) {
        tick.expires_after(std::chrono::milliseconds(5));
        co_await tick.async_wait(asio::use_awaitable);
    }
    auto const st = w.stats();
    res.acked = st.acked;
    auto const n = static_cast<double>(std::max<std::uint64_t>(st.acked, 1));
    res.consume_rate = static_cast<double>(st.acked) / wall;
    if (cfg.rate > 0)
        res.produce_rate = static_cast<double>(produced) / wall;
    res.client_cpu_us = client_cpu * 1e6 / n;
    res.server_cpu_us = server * 1e6 / n;
    res.commands_per_msg = static_cast<double>(commands) / n;
    res.server_busy_pct = wall > 0 ? server / wall * 100 : 0;
    res.p50 = percentile(latency_us, 50);
    res.p99 = percentile(latency_us, 99);
    res.p999 = percentile(latency_us, 99.9);
    {
        request r;
        r.push("XPENDING", stream, group);
        r.push("DEL", stream); // only our own key
        pending_summary p;
        std::int64_t deleted = 0;
        co_await c.connection().async_exec(r, adapt(p, deleted), asio::use_awaitable);
        res.pending_after = p.count;
    }
    res.lost = produced > st.acked ? produced - st.acked : 0;
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    res.peak_rss = ru.ru_maxrss * 1024;
}

} // namespace

int cmd_bench(args& a) {
    if (a.help()) {
        fmt::print(
            "usage: redstream bench [--url URL] [--messages N] [--payload BYTES] [--fields N]\n"
            "                       [--consumers N|auto] [--max-consumers N] [--batch N] [--in-flight N]\n"
            "                       [--handler-cpu-us US] [--handler-io-ms MS] [--wakeup MODE] [--rate MSGS_PER_S]\n"
            "                       [--partitions N] [--cluster M] [--json]\n"
            "Fills a stream with N messages, consumes and acks them with a redstream worker, and prints throughput,\n"
            "client and server CPU per message, produce->handle latency, peak RSS and consumer counts.\n"
            "Without --url it runs a private redis-server (found on PATH) and stops it afterwards; with --url it\n"
            "uses that server and deletes only its own key. --rate produces at that rate while consuming\n"
            "(a latency run). Defaults: 200000 messages, 16 B, 1 field, 4 consumers, batch 128, wake-up dedicated.\n"
            "--partitions N runs a partitioned stream of N keys (partitioned_producer round-robin, one\n"
            "partitioned_worker, shared assignment): on one server one worker of --consumers reads them all; on a\n"
            "Redis Cluster each partition has its worker of --consumers (1 with --cluster) on its master. It adds\n"
            "per-node figures (partitions, messages, server CPU, commands) and redirects. --cluster M starts a\n"
            "private cluster of M masters instead of one server (default --partitions 12).\n");
        return exit_ok;
    }
    bench_config cfg;
    auto url = a.option_or("--url", "");
    cfg.messages = a.number_or("--messages", cfg.messages);
    cfg.payload = a.number_or("--payload", cfg.payload);
    cfg.fields = a.number_or("--fields", cfg.fields);
    auto const consumers_given = a.option("--consumers");
    auto const consumers = consumers_given.value_or("4");
    if (consumers == "auto")
        cfg.consumers = 0;
    else if (consumers.find_first_not_of("0123456789") == std::string::npos && !consumers.empty() && consumers != "0")
        cfg.consumers = std::stoul(consumers);
    else
        throw cli_error(exit_usage, fmt::format("--consumers: expected a positive number or auto, got '{}'", consumers));
    cfg.max_consumers = a.number_or("--max-consumers", cfg.max_consumers);
    cfg.batch = a.number_or("--batch", cfg.batch);
    cfg.in_flight = a.number_or("--in-flight", cfg.in_flight);
    cfg.handler_cpu_us = a.number_or("--handler-cpu-us", 0);
    cfg.handler_io_ms = a.number_or("--handler-io-ms", 0);
    cfg.wakeup = parse_wakeup(a.option_or("--wakeup", "dedicated"));
    cfg.rate = a.number_or("--rate", 0);
    cfg.json = a.flag("--json");
    cfg.cluster_masters = a.number_or("--cluster", 0);
    cfg.partitions = a.number_or("--partitions", cfg.cluster_masters > 0 ? 12 : 0);
    if (cfg.cluster_masters > 0 && !url.empty())
        throw cli_error(exit_usage, "--cluster starts a private cluster: give no --url (or a cluster's URL without --cluster)");
    if (cfg.cluster_masters > 0 && cfg.cluster_masters < 3)
        throw cli_error(exit_usage, "--cluster M: a Redis Cluster needs at least 3 masters");
    if (cfg.partitions > 0 && cfg.consumers == 0)
        throw cli_error(exit_usage, "--consumers auto (the autoscaler) does not cover --partitions yet");
    if (cfg.cluster_masters > 0 && !consumers_given)
        cfg.consumers = 1; // one per partition on its master
    if (!a.positionals().empty())
        throw cli_error(exit_usage, "bench takes no positional arguments (see --help)");
    if (cfg.messages == 0 || cfg.batch == 0 || cfg.in_flight == 0 || cfg.fields == 0)
        throw cli_error(exit_usage, "--messages, --batch, --in-flight and --fields must be positive");

    std::optional<support::private_redis> server;
    std::optional<support::private_cluster> private_cluster;
    std::string where;
    if (cfg.cluster_masters > 0) {
        try {
            private_cluster.emplace(cfg.cluster_masters);
        } catch (std::exception const& e) {
            throw cli_error(exit_unreachable, fmt::format("cannot start a private cluster: {}", e.what()));
        }
        url = private_cluster->url();
        where = fmt::format("private {}-master cluster", cfg.cluster_masters);
    } else if (url.empty()) {
        try {
            server.emplace();
        } catch (std::exception const& e) {
            throw cli_error(exit_unreachable, fmt::format("cannot start a private redis-server: {}", e.what()));
        }
        url = server->url();
        where = "private redis-server";
    } else {
        where = config::from_url(url).redacted_address();
    }
    bench_result res;
    bool interrupted = false;
    {
        session s{url};
        asio::signal_set signals{s.io(), SIGINT, SIGTERM};
        signals.async_wait([&](boost::system::error_code ec, int) {
            if (!ec)
                interrupted = true;
        });
        s.run([&]() -> asio::awaitable<void> {
            if (cfg.partitions > 0)
                co_await run_partitioned_bench(s.client(), cfg, res, interrupted);
            else
                co_await run_bench(s.client(), cfg, res, interrupted);
            signals.cancel();
        });
    }
    if (interrupted) {
        fmt::print(stderr, "\ninterrupted\n");
        return 130;
    }
    print_result(cfg, res, where);
    return res.lost == 0 ? exit_ok : exit_failure;
}

} // namespace redstream::cli
