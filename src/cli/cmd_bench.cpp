// `redstream bench`: the main job. Fills a stream, consumes it with the framework, reports
// throughput, CPU per message on both sides, produce->handle latency and memory.

#include "cli_common.hpp"
#include "commands.hpp"
#include "io/use_tuple.hpp"

#include <redstream/scaling/autoscaler.hpp>
#include <redstream/protocol/stream_readers.hpp>
#include <redstream/consume/worker.hpp>

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

using clk = std::chrono::steady_clock;

struct bench_config {
    std::uint64_t messages = 200000;
    std::size_t payload = 16;
    std::size_t fields = 1;
    std::size_t consumers = 4; // 0: auto (autoscaler)
    std::size_t max_consumers = 64;
    std::size_t batch = 128;
    std::size_t in_flight = 65536;
    std::uint64_t handler_cpu_us = 0;
    std::uint64_t handler_io_ms = 0;
    wakeup_mode wakeup = wakeup_mode::dedicated;
    std::uint64_t rate = 0; // 0: pre-fill; else produce at this rate while consuming
    bool json = false;
};

struct bench_result {
    double produce_rate = 0, consume_rate = 0;
    double client_cpu_us = 0, server_cpu_us = 0;
    double server_busy_pct = 0; // the server main thread's CPU over the wall time: near 100 = server-bound
    double p50 = 0, p99 = 0, p999 = 0;
    long peak_rss = 0;
    std::size_t consumers_max = 0;
    std::uint64_t acked = 0, lost = 0, pending_after = 0;
    std::vector<std::pair<double, std::size_t>> consumer_timeline; // (s, consumers) at changes
};

double now_cpu() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

std::uint64_t wall_ns() {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

asio::awaitable<double> server_cpu(client& c) {
    request r;
    r.push("INFO", "cpu");
    std::string info;
    co_await c.connection().async_exec(r, adapt(info), asio::use_awaitable);
    double total = 0;
    for (std::string_view key : {"used_cpu_sys_main_thread:", "used_cpu_user_main_thread:"})
        if (auto p = info.find(key); p != std::string::npos)
            total += std::stod(info.substr(p + key.size()));
    co_return total;
}

double percentile(std::vector<std::uint32_t>& v, double p) {
    if (v.empty())
        return 0;
    auto const k = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1));
    std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
    return v[k];
}

bool progress_enabled(bench_config const& cfg) { return !cfg.json && ::isatty(2); }

void progress(bench_config const& cfg, std::string_view phase, std::uint64_t done, std::uint64_t total, double rate,
              std::string_view extra) {
    if (!progress_enabled(cfg))
        return;
    int const width = 30;
    auto const filled = total ? static_cast<int>(static_cast<double>(done) / static_cast<double>(total) * width) : 0;
    fmt::print(stderr, "\r{:<8} [{:<{}}] {:>3.0f}% {:>10} msgs {:>9.0f} msg/s {}\x1b[K", phase,
               std::string(static_cast<std::size_t>(std::min(filled, width)), '#'), width,
               total ? 100.0 * static_cast<double>(done) / static_cast<double>(total) : 0.0, done, rate, extra);
}

// Publishes `n` entries, pipelined from 8 coroutines, or paced at cfg.rate from one.
asio::awaitable<void> produce(client& c, std::string const& stream, bench_config const& cfg, std::uint64_t& produced,
                              bool const& interrupted) {
    std::string const value(cfg.payload, 'x');
    auto make = [&]() {
        field_list f{{"ts", std::to_string(wall_ns())}};
        for (std::size_t i = 0; i < cfg.fields; ++i)
            f.emplace_back(fmt::format("f{}", i), value);
        return f;
    };
    auto ex = co_await asio::this_coro::executor;
    if (cfg.rate > 0) {
        asio::steady_timer t{ex};
        auto next = clk::now();
        auto const interval = std::chrono::nanoseconds{1'000'000'000 / cfg.rate};
        while (produced < cfg.messages && !interrupted) {
            next += interval;
            t.expires_at(next);
            co_await t.async_wait(asio::use_awaitable);
            auto const f = make();
            co_await c.publish(stream, f);
            ++produced;
        }
        co_return;
    }
    std::size_t running = 8;
    asio::steady_timer all_done{ex, clk::time_point::max()};
    for (int w = 0; w < 8; ++w)
        asio::co_spawn(ex, [&]() -> asio::awaitable<void> {
            std::vector<field_list> batch;
            while (produced < cfg.messages && !interrupted) {
                auto const n = std::min<std::uint64_t>(500, cfg.messages - produced);
                produced += n; // claimed before the await so the 8 writers never overshoot
                batch.clear();
                for (std::uint64_t i = 0; i < n; ++i)
                    batch.push_back(make());
                co_await c.publish_batch(stream, batch);
            }
            if (--running == 0)
                all_done.cancel();
        }, asio::detached);
    co_await all_done.async_wait(detail::use_tuple);
}

asio::awaitable<void> burn(std::uint64_t us) {
    auto const end = clk::now() + std::chrono::microseconds(us);
    while (clk::now() < end) {
    }
    co_return;
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
    if (cfg.rate == 0) {
        auto const t0 = clk::now();
        bool filled = false;
        asio::co_spawn(ex, produce(c, stream, cfg, produced, interrupted), [&](std::exception_ptr) { filled = true; });
        while (!filled) {
            tick.expires_after(std::chrono::milliseconds(100));
            co_await tick.async_wait(asio::use_awaitable);
            double const s = std::chrono::duration<double>(clk::now() - t0).count();
            progress(cfg, "produce", produced, cfg.messages, static_cast<double>(produced) / s, "");
        }
        res.produce_rate = static_cast<double>(produced) / std::chrono::duration<double>(clk::now() - t0).count();
        if (progress_enabled(cfg))
            fmt::print(stderr, "\n");
    }

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
    w.on_message([&](message const& m) -> asio::awaitable<outcome> {
        if (auto ts = m.field("ts")) {
            std::uint64_t sent = 0;
            std::from_chars(ts->data(), ts->data() + ts->size(), sent);
            auto const now = wall_ns();
            latency_us.push_back(static_cast<std::uint32_t>(now > sent ? (now - sent) / 1000 : 0));
        }
        if (cfg.handler_cpu_us > 0)
            co_await burn(cfg.handler_cpu_us);
        if (cfg.handler_io_ms > 0) {
            asio::steady_timer io{co_await asio::this_coro::executor};
            io.expires_after(std::chrono::milliseconds(cfg.handler_io_ms));
            co_await io.async_wait(asio::use_awaitable);
        }
        co_return ack;
    });
    std::optional<autoscaler> scaler;
    if (cfg.consumers == 0) {
        autoscaler_options ao;
        ao.policy.max_consumers = cfg.max_consumers;
        ao.interval = std::chrono::milliseconds(500);
        scaler.emplace(c, w, ao);
    }
    auto const server0 = co_await server_cpu(c);
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

wakeup_mode parse_wakeup(std::string const& s) {
    if (s == "keyspace")
        return wakeup_mode::keyspace;
    if (s == "block_slice")
        return wakeup_mode::block_slice;
    if (s == "dedicated")
        return wakeup_mode::dedicated;
    if (s == "automatic")
        return wakeup_mode::automatic;
    throw cli_error(exit_usage, fmt::format("--wakeup: expected keyspace, block_slice, dedicated or automatic, got '{}'", s));
}

void print_result(bench_config const& cfg, bench_result& r, std::string const& where) {
    std::string timeline;
    for (auto const& [s, n] : r.consumer_timeline)
        timeline += fmt::format("{}{:.1f}s:{}", timeline.empty() ? "" : " ", s, n);
    if (cfg.json) {
        fmt::print("{{\"messages\":{},\"acked\":{},\"lost\":{},\"pending_after\":{},\"produce_msgs_per_s\":{:.0f},"
                   "\"consume_msgs_per_s\":{:.0f},\"client_cpu_us_per_msg\":{:.3f},\"server_cpu_us_per_msg\":{:.3f},"
                   "\"server_busy_pct\":{:.1f},"
                   "\"latency_us\":{{\"p50\":{:.0f},\"p99\":{:.0f},\"p999\":{:.0f}}},\"peak_rss_bytes\":{},"
                   "\"consumers_max\":{},\"consumers\":{},\"server\":{}}}\n",
                   cfg.messages, r.acked, r.lost, r.pending_after, r.produce_rate, r.consume_rate, r.client_cpu_us,
                   r.server_cpu_us, r.server_busy_pct, r.p50, r.p99, r.p999, r.peak_rss, r.consumers_max,
                   cfg.consumers == 0 ? std::string{"\"auto\""} : std::to_string(cfg.consumers), json_string(where));
        return;
    }
    fmt::print("\nredstream bench: {} messages, {} B payload x {} field(s), {} consumer(s), batch {}, wake-up {}, {}\n",
               cfg.messages, cfg.payload, cfg.fields, cfg.consumers == 0 ? std::string{"auto"} : std::to_string(cfg.consumers),
               cfg.batch, to_string(cfg.wakeup), where);
    fmt::print("  {:<28} {:>14}\n", "produce", fmt::format("{:.0f} msg/s", r.produce_rate));
    fmt::print("  {:<28} {:>14}\n", "consume + ack", fmt::format("{:.0f} msg/s", r.consume_rate));
    fmt::print("  {:<28} {:>14}\n", "client CPU", fmt::format("{:.2f} us/msg", r.client_cpu_us));
    fmt::print("  {:<28} {:>14}\n", "server CPU (main thread)", fmt::format("{:.2f} us/msg", r.server_cpu_us));
    fmt::print("  {:<28} {:>14}  {}\n", "server main thread busy", fmt::format("{:.0f}%", r.server_busy_pct),
               r.server_busy_pct >= 90 ? "(the server is the limit)" : "(the server has room)");
    fmt::print("  {:<28} {:>14}\n", "produce->handle p50", fmt::format("{:.0f} us", r.p50));
    fmt::print("  {:<28} {:>14}\n", "produce->handle p99", fmt::format("{:.0f} us", r.p99));
    fmt::print("  {:<28} {:>14}\n", "produce->handle p99.9", fmt::format("{:.0f} us", r.p999));
    fmt::print("  {:<28} {:>14}\n", "peak RSS", fmt::format("{:.1f} MiB", static_cast<double>(r.peak_rss) / 1048576.0));
    fmt::print("  {:<28} {:>14}\n", "consumers (max)", r.consumers_max);
    if (cfg.consumers == 0)
        fmt::print("  {:<28} {}\n", "consumers over time", timeline);
    fmt::print("  {:<28} {:>14}\n", "acked / lost", fmt::format("{} / {}", r.acked, r.lost));
    if (cfg.rate == 0)
        fmt::print("  (latency includes the time entries waited in the pre-filled backlog; use --rate for a\n"
                   "   latency run)\n");
}

} // namespace

int cmd_bench(args& a) {
    if (a.help()) {
        fmt::print(
            "usage: redstream bench [--url URL] [--messages N] [--payload BYTES] [--fields N]\n"
            "                       [--consumers N|auto] [--max-consumers N] [--batch N] [--in-flight N]\n"
            "                       [--handler-cpu-us US] [--handler-io-ms MS] [--wakeup MODE] [--rate MSGS_PER_S]\n"
            "                       [--json]\n"
            "Fills a stream with N messages, consumes and acks them with a redstream worker, and prints throughput,\n"
            "client and server CPU per message, produce->handle latency, peak RSS and consumer counts.\n"
            "Without --url it runs a private redis-server (found on PATH) and stops it afterwards; with --url it\n"
            "uses that server and deletes only its own key. --rate produces at that rate while consuming\n"
            "(a latency run). Defaults: 200000 messages, 16 B, 1 field, 4 consumers, batch 128, wake-up dedicated.\n");
        return exit_ok;
    }
    bench_config cfg;
    auto url = a.option_or("--url", "");
    cfg.messages = a.number_or("--messages", cfg.messages);
    cfg.payload = a.number_or("--payload", cfg.payload);
    cfg.fields = a.number_or("--fields", cfg.fields);
    auto const consumers = a.option_or("--consumers", "4");
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
    if (!a.positionals().empty())
        throw cli_error(exit_usage, "bench takes no positional arguments (see --help)");
    if (cfg.messages == 0 || cfg.batch == 0 || cfg.in_flight == 0 || cfg.fields == 0)
        throw cli_error(exit_usage, "--messages, --batch, --in-flight and --fields must be positive");

    std::optional<support::private_redis> server;
    std::string where;
    if (url.empty()) {
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
