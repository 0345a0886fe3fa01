#include "bench_common.hpp"

#include <redstream/protocol/request.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>

namespace redstream::cli {

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

asio::awaitable<std::uint64_t> server_commands(client& c) {
    request r;
    r.push("INFO", "commandstats");
    std::string info;
    co_await c.connection().async_exec(r, adapt(info), asio::use_awaitable);
    std::uint64_t total = 0;
    for (auto at = info.find("calls="); at != std::string::npos; at = info.find("calls=", at + 6))
        total += std::stoull(info.substr(at + 6));
    co_return total;
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


asio::awaitable<void> burn(std::uint64_t us) {
    auto const end = clk::now() + std::chrono::microseconds(us);
    while (clk::now() < end) {
    }
    co_return;
}


field_list bench_message(bench_config const& cfg) {
    std::string const value(cfg.payload, 'x');
    field_list f{{"ts", std::to_string(wall_ns())}};
    for (std::size_t i = 0; i < cfg.fields; ++i)
        f.emplace_back(fmt::format("f{}", i), value);
    return f;
}

asio::awaitable<void> fill_phase(bench_config const& cfg, std::uint64_t const& produced, bench_result& res,
                                 asio::awaitable<void> producer) {
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer tick{ex};
    auto const t0 = clk::now();
    bool filled = false;
    asio::co_spawn(ex, std::move(producer), [&](std::exception_ptr) { filled = true; });
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

worker::handler bench_handler(bench_config const& cfg, std::vector<std::uint32_t>& latency_us) {
    return [&cfg, &latency_us](message const& m) -> asio::awaitable<outcome> {
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
    };
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

// The partitioned run's keys, after the one-stream run's (which stay as they are).
std::string partitioned_json(bench_config const& cfg, bench_result const& r) {
    if (cfg.partitions == 0)
        return {};
    std::string nodes;
    for (auto const& n : r.nodes)
        nodes += fmt::format("{}{{\"node\":{},\"partitions\":{},\"messages\":{},\"server_cpu_us_per_msg\":{:.3f},"
                             "\"commands\":{}}}",
                             nodes.empty() ? "" : ",", json_string(n.node), n.partitions, n.messages, n.server_cpu_us,
                             n.commands);
    return fmt::format(",\"partitions\":{},\"masters\":{},\"redirects\":{},\"nodes\":[{}]", cfg.partitions,
                       r.nodes.size(), r.redirects, nodes);
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
                   "\"consumers_max\":{},\"consumers\":{},\"server\":{},\"commands_per_msg\":{:.3f}{}}}\n",
                   cfg.messages, r.acked, r.lost, r.pending_after, r.produce_rate, r.consume_rate, r.client_cpu_us,
                   r.server_cpu_us, r.server_busy_pct, r.p50, r.p99, r.p999, r.peak_rss, r.consumers_max,
                   cfg.consumers == 0 ? std::string{"\"auto\""} : std::to_string(cfg.consumers), json_string(where),
                   r.commands_per_msg, partitioned_json(cfg, r));
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
    fmt::print("  {:<28} {:>14}\n", "server commands", fmt::format("{:.3f} /msg", r.commands_per_msg));
    if (cfg.partitions > 0) {
        fmt::print("  {:<28} {:>14}\n", "partitions", cfg.partitions);
        fmt::print("  {:<28} {:>14}\n", "redirects (MOVED + ASK)", r.redirects);
        for (auto const& n : r.nodes)
            fmt::print("  node {:<23} {:>3} partitions {:>9} msgs ({:.1f}%) {:>7.3f} us/msg server {:>9} commands\n",
                       n.node, n.partitions, n.messages,
                       r.acked ? 100.0 * static_cast<double>(n.messages) / static_cast<double>(r.acked) : 0.0,
                       n.server_cpu_us, n.commands);
    }
    if (cfg.rate == 0)
        fmt::print("  (latency includes the time entries waited in the pre-filled backlog; use --rate for a\n"
                   "   latency run)\n");
}


} // namespace redstream::cli
