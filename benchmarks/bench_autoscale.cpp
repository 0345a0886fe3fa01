// Autoscaler reaction and stability with an I/O-bound handler (it awaits a --handler-ms timer).
//  1. Fixed counts: for each consumer count (1, 2, 4, ... up to --max), the throughput on a
//     deep backlog over --window seconds; the best is the target.
//  2. Ramp: a worker starting at 1 consumer with the default policy (max_consumers --max) on a
//     deep backlog: time until a 1 s window reaches 90% of the best fixed throughput.
//  3. Steady: a producer at --steady-rate msg/s for --steady-seconds; scale decisions counted
//     after the first --settle seconds (flapping).
//
//   bench_autoscale [--url URL] [--handler-ms 5] [--max 64] [--window 3] [--steady-rate 3000]
//                   [--steady-seconds 60] [--settle 15]

#include <redstream/scaling/autoscaler.hpp>
#include <redstream/consume/worker.hpp>

#include "bench_common.hpp"
#include "support/private_redis.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/core.h>

#include <optional>

using namespace redstream;
namespace asio = boost::asio;
using clk = std::chrono::steady_clock;

namespace {

std::size_t handler_ms = 5;

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
    asio::steady_timer t{co_await asio::this_coro::executor};
    t.expires_after(d);
    co_await t.async_wait(asio::use_awaitable);
}

asio::awaitable<void> fill(client& cl, std::string const& stream, std::size_t n) {
    request del;
    del.push("DEL", stream);
    co_await cl.connection().async_exec(del, adapt_ignore(), asio::use_awaitable);
    std::vector<field_list> batch(1000, field_list{{"k", "v"}});
    for (std::size_t done = 0; done < n; done += batch.size())
        co_await cl.publish_batch(stream, batch);
}

void on_io_message(worker& w) {
    w.on_message([](message const&) -> asio::awaitable<outcome> {
        asio::steady_timer io{co_await asio::this_coro::executor};
        io.expires_after(std::chrono::milliseconds{handler_ms});
        co_await io.async_wait(asio::use_awaitable);
        co_return ack;
    });
}

worker_options options_for(std::string const& stream, std::size_t consumers) {
    worker_options o;
    o.stream = stream;
    o.group = "scale";
    o.start_id = "0";
    o.consumers = consumers;
    o.batch = 16; // small batches spread a backlog over many consumers
    o.wakeup = wakeup_mode::dedicated;
    return o;
}

// Throughput of a fixed consumer count on a deep backlog.
asio::awaitable<double> fixed_rate(client& cl, std::size_t consumers, double window_s) {
    std::string const stream = fmt::format("scale:fixed:{}", consumers);
    auto const backlog = static_cast<std::size_t>(static_cast<double>(consumers) * (1000.0 / static_cast<double>(handler_ms)) * (window_s + 2) * 1.5);
    co_await fill(cl, stream, backlog);
    worker w{cl, options_for(stream, consumers)};
    on_io_message(w);
    bool finished = false;
    asio::co_spawn(co_await asio::this_coro::executor, w.run(), [&](std::exception_ptr) { finished = true; });
    co_await sleep_for(std::chrono::milliseconds{1000}); // warm-up
    auto const h0 = w.stats().handled;
    auto const t0 = clk::now();
    co_await sleep_for(std::chrono::milliseconds{static_cast<long>(window_s * 1000)});
    double const rate = static_cast<double>(w.stats().handled - h0) / bench::seconds_since(t0);
    w.stop();
    while (!finished)
        co_await sleep_for(std::chrono::milliseconds{5});
    co_return rate;
}

struct ramp_result {
    double seconds_to_90 = -1;
    std::size_t consumers_then = 0;
};

asio::awaitable<ramp_result> ramp(client& cl, double best, std::size_t max) {
    std::string const stream = "scale:ramp";
    co_await fill(cl, stream, static_cast<std::size_t>(best * 40));
    worker w{cl, options_for(stream, 1)};
    on_io_message(w);
    autoscaler_options ao;
    ao.policy.max_consumers = max;
    autoscaler scaler{cl, w, ao};
    bool finished = false;
    asio::co_spawn(co_await asio::this_coro::executor, w.run(), [&](std::exception_ptr) { finished = true; });
    asio::co_spawn(co_await asio::this_coro::executor, scaler.run(), asio::detached);
    ramp_result r;
    auto const t0 = clk::now();
    std::vector<std::pair<double, std::uint64_t>> history; // (time, handled), every 100 ms
    while (bench::seconds_since(t0) < 60) {
        co_await sleep_for(std::chrono::milliseconds{100});
        double const now = bench::seconds_since(t0);
        history.emplace_back(now, w.stats().handled);
        // Rate over the last second.
        for (auto it = history.rbegin(); it != history.rend(); ++it) {
            if (now - it->first >= 1.0) {
                double const rate = static_cast<double>(history.back().second - it->second) / (now - it->first);
                if (rate >= 0.9 * best) {
                    r.seconds_to_90 = now;
                    r.consumers_then = w.stats().consumers;
                }
                break;
            }
        }
        if (r.seconds_to_90 >= 0)
            break;
    }
    fmt::print("  ramp: autoscaler said: {}\n", scaler.status().last_reason);
    scaler.stop();
    w.stop();
    while (!finished)
        co_await sleep_for(std::chrono::milliseconds{5});
    co_return r;
}

struct steady_result {
    std::uint64_t decisions_after_settle = 0;
    std::size_t min_consumers = SIZE_MAX;
    std::size_t max_consumers = 0;
    double handled_per_s = 0;
};

asio::awaitable<steady_result> steady(client& cl, std::size_t rate, double seconds, double settle, std::size_t max) {
    std::string const stream = "scale:steady";
    co_await fill(cl, stream, 0);
    worker w{cl, options_for(stream, 1)};
    on_io_message(w);
    autoscaler_options ao;
    ao.policy.max_consumers = max;
    autoscaler scaler{cl, w, ao};
    bool finished = false;
    asio::co_spawn(co_await asio::this_coro::executor, w.run(), [&](std::exception_ptr) { finished = true; });
    asio::co_spawn(co_await asio::this_coro::executor, scaler.run(), asio::detached);
    steady_result r;
    auto const t0 = clk::now();
    auto next = t0;
    std::uint64_t decisions_at_settle = 0, handled_at_settle = 0;
    bool settled = false;
    std::size_t const per_tick = std::max<std::size_t>(1, rate / 100);
    std::vector<field_list> batch(per_tick, field_list{{"k", "v"}});
    while (bench::seconds_since(t0) < seconds) {
        next += std::chrono::milliseconds{10};
        asio::steady_timer t{co_await asio::this_coro::executor};
        t.expires_at(next);
        co_await t.async_wait(asio::use_awaitable);
        co_await cl.publish_batch(stream, batch);
        if (!settled && bench::seconds_since(t0) >= settle) {
            settled = true;
            decisions_at_settle = scaler.status().decisions;
            handled_at_settle = w.stats().handled;
        }
        if (settled) {
            r.min_consumers = std::min(r.min_consumers, w.stats().consumers);
            r.max_consumers = std::max(r.max_consumers, w.stats().consumers);
        }
    }
    r.decisions_after_settle = scaler.status().decisions - decisions_at_settle;
    r.handled_per_s = static_cast<double>(w.stats().handled - handled_at_settle) / (seconds - settle);
    scaler.stop();
    w.stop();
    while (!finished)
        co_await sleep_for(std::chrono::milliseconds{5});
    co_return r;
}

} // namespace

int main(int argc, char** argv) {
    try {
        bench::args a{argc, argv};
        auto url = a.get("--url", "");
        handler_ms = a.get_size("--handler-ms", 5);
        auto const max = a.get_size("--max", 64);
        auto const window = static_cast<double>(a.get_size("--window", 3));
        auto const steady_rate = a.get_size("--steady-rate", 3000);
        auto const steady_seconds = static_cast<double>(a.get_size("--steady-seconds", 60));
        auto const settle = static_cast<double>(a.get_size("--settle", 15));
        a.finish();
        std::optional<support::private_redis> server;
        if (url.empty()) {
            server.emplace();
            url = server->url();
        }
        asio::io_context ioc;
        client cl{ioc.get_executor(), config::from_url(url), logger{log_level::warn, [](log_level, std::string_view m) {
                                                                        fmt::print(stderr, "{}\n", m);
                                                                    }}};
        fmt::print("autoscaling with a {} ms I/O-bound handler, max {} consumers\n", handler_ms, max);
        double best = 0;
        std::size_t best_count = 0;
        for (std::size_t n = 1; n <= max; n *= 2) {
            double rate = 0;
            bench::run_to_completion(ioc, [&]() -> asio::awaitable<void> { rate = co_await fixed_rate(cl, n, window); });
            fmt::print("  fixed {:>3} consumers: {:>8.0f} msg/s\n", n, rate);
            if (rate > best) {
                best = rate;
                best_count = n;
            }
        }
        ramp_result rr;
        bench::run_to_completion(ioc, [&]() -> asio::awaitable<void> { rr = co_await ramp(cl, best, max); });
        fmt::print("ramp from 1 consumer: 90% of the best fixed throughput ({:.0f} msg/s with {}) after {:.1f} s "
                   "with {} consumers\n",
                   best, best_count, rr.seconds_to_90, rr.consumers_then);
        steady_result sr;
        bench::run_to_completion(ioc, [&]() -> asio::awaitable<void> {
            sr = co_await steady(cl, steady_rate, steady_seconds, settle, max);
        });
        fmt::print("steady {} msg/s for {:.0f} s: {} scale decisions after the first {:.0f} s, consumers {}..{}, "
                   "handled {:.0f} msg/s\n",
                   steady_rate, steady_seconds, sr.decisions_after_settle, settle, sr.min_consumers, sr.max_consumers,
                   sr.handled_per_s);
        cl.close();
        ioc.restart();
        ioc.run_for(std::chrono::seconds(2));
        return 0;
    } catch (std::exception const& e) {
        fmt::print(stderr, "error: {}\n", e.what());
        return 2;
    }
}
