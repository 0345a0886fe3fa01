// The embedding case: an application publishes on the same client as an idle worker.
//
// On a stock redis-server (notify-keyspace-events off), for each wake-up mode asked for, a
// worker with default options otherwise idles on an empty stream, and the application sends
// --publishes XADDs one after the other on the worker's client, waiting each time until the
// worker is idle again (its one message handled, its consumers parked). Each publish's round
// trip is timed. The first row is the same client with no worker: the loopback round trip.
// Then each worker idles for --idle-seconds with no traffic at all, and the process's CPU time
// over that span is its idle cost (% of one core).
//
//   bench_embedded [--url redis://...] [--publishes 500] [--consumers 4] [--idle-seconds 10]
//                  [--modes automatic,block_slice,dedicated]

#include <redstream/consume/worker.hpp>
#include <redstream/protocol/stream_readers.hpp>

#include "bench_common.hpp"
#include "support/private_redis.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/core.h>

#include <memory>
#include <optional>

namespace asio = boost::asio;
using namespace redstream;
using clk = std::chrono::steady_clock;

namespace {

asio::awaitable<void> pause(std::chrono::microseconds d) {
    asio::steady_timer timer{co_await asio::this_coro::executor};
    timer.expires_after(d);
    co_await timer.async_wait(asio::use_awaitable);
}

std::optional<wakeup_mode> parse_mode(std::string_view s) {
    for (auto m : {wakeup_mode::automatic, wakeup_mode::keyspace, wakeup_mode::block_slice, wakeup_mode::dedicated})
        if (to_string(m) == s)
            return m;
    return std::nullopt;
}

struct run_result {
    std::vector<double> publish_us;
    wakeup_mode resolved = wakeup_mode::automatic;
    double idle_cpu_pct = 0;
};

// Times `n` publishes on `cl`; between them waits (bounded) until `idle()` holds. `stream` is
// taken by value: a coroutine must not keep a reference to its caller's temporary.
template <class Idle>
asio::awaitable<void> time_publishes(client& cl, std::string stream, std::size_t n, Idle idle,
                                     std::vector<double>& out) {
    field_list const fields{{"k", "v"}};
    for (std::size_t i = 0; i < n; ++i) {
        for (int spins = 0; !idle(i) && spins < 2000; ++spins)
            co_await pause(std::chrono::microseconds{500});
        auto const t0 = clk::now();
        co_await cl.publish(stream, fields);
        out.push_back(std::chrono::duration<double, std::micro>(clk::now() - t0).count());
    }
}

asio::awaitable<void> with_worker(client& cl, wakeup_mode mode, std::size_t consumers, std::size_t n,
                                  double idle_seconds, run_result& out) {
    std::string const stream = fmt::format("embedded:{}", to_string(mode));
    worker_options opts;
    opts.stream = stream;
    opts.group = "app";
    opts.consumers = consumers;
    opts.wakeup = mode;
    worker w{cl, opts};
    std::size_t handled = 0;
    w.on_message([&](message const&) -> asio::awaitable<outcome> {
        ++handled;
        co_return ack;
    });
    bool finished = false;
    asio::co_spawn(co_await asio::this_coro::executor, w.run(), [&](std::exception_ptr) { finished = true; });
    auto const idle_parked = [&] {
        auto const s = w.stats();
        // Parked: all of them with keyspace pushes; all but the BLOCK holder otherwise.
        std::size_t const want = s.wakeup == wakeup_mode::keyspace ? consumers : consumers - 1;
        return w.running() && s.consumers == consumers && s.parked >= want;
    };
    for (int spins = 0; !idle_parked() && spins < 10000; ++spins)
        co_await pause(std::chrono::microseconds{500});
    out.resolved = w.stats().wakeup;
    co_await time_publishes(cl, stream, n, [&](std::size_t i) { return handled == i && idle_parked(); },
                            out.publish_us);
    auto const cpu0 = bench::cpu_seconds();
    auto const t0 = clk::now();
    co_await pause(std::chrono::microseconds{static_cast<long>(idle_seconds * 1e6)});
    out.idle_cpu_pct = (bench::cpu_seconds() - cpu0) / std::max(1e-9, bench::seconds_since(t0)) * 100;
    w.stop();
    while (!finished)
        co_await pause(std::chrono::milliseconds{1});
}

void print_row(std::string_view what, std::vector<double> const& us, double baseline_p50, std::string const& idle) {
    auto const p50 = bench::percentile(us, 50);
    fmt::print("| {} | {:.0f} us | {:.0f} us | {:.0f} us | {:.1f}x | {} |\n", what, p50, bench::percentile(us, 99),
               bench::percentile(us, 100), baseline_p50 > 0 ? p50 / baseline_p50 : 0.0, idle);
}

std::vector<wakeup_mode> parse_modes(std::string const& list) {
    std::vector<wakeup_mode> modes;
    std::size_t at = 0;
    while (at <= list.size()) {
        auto const end = std::min(list.find(',', at), list.size());
        auto const name = std::string_view{list}.substr(at, end - at);
        auto m = parse_mode(name);
        if (!m)
            throw std::invalid_argument(fmt::format("--modes: unknown wake-up mode '{}'", name));
        modes.push_back(*m);
        at = end + 1;
    }
    return modes;
}

} // namespace

int main(int argc, char** argv) {
    try {
        bench::args a{argc, argv};
        auto url = a.get("--url", "");
        auto const n = a.get_size("--publishes", 500);
        auto const consumers = a.get_size("--consumers", 4);
        auto const idle_seconds = static_cast<double>(a.get_size("--idle-seconds", 10));
        auto const modes = parse_modes(a.get("--modes", "automatic,block_slice,dedicated"));
        a.finish();
        if (consumers == 0)
            throw std::invalid_argument("--consumers must be at least 1");
        std::unique_ptr<support::private_redis> server;
        if (url.empty()) {
            server = std::make_unique<support::private_redis>();
            url = server->url();
        }
        asio::io_context ioc;
        client cl{ioc.get_executor(), config::from_url(url), logger{log_level::error, [](log_level, std::string_view m) {
                                                                        fmt::print(stderr, "{}\n", m);
                                                                    }}};
        fmt::print("publish round trip on the worker's client: {} publishes, {} consumers idle, default options\n",
                   n, consumers);
        fmt::print("| worker on the client | publish p50 | p99 | max | p50 / no worker | idle CPU (% of a core) |\n"
                   "|---|---|---|---|---|---|\n");
        std::vector<double> alone;
        bench::run_to_completion(ioc, [&] {
            return time_publishes(cl, "embedded:alone", n, [](std::size_t) { return true; }, alone);
        });
        auto const baseline = bench::percentile(alone, 50);
        print_row("none (loopback round trip)", alone, baseline, "");
        for (auto mode : modes) {
            run_result res;
            bench::run_to_completion(ioc, [&] { return with_worker(cl, mode, consumers, n, idle_seconds, res); });
            auto const label = mode == wakeup_mode::automatic
                                   ? fmt::format("automatic (resolved: {})", to_string(res.resolved))
                                   : std::string{to_string(mode)};
            print_row(label, res.publish_us, baseline, fmt::format("{:.2f}%", res.idle_cpu_pct));
        }
        cl.close();
        ioc.restart();
        ioc.run_for(std::chrono::seconds(2));
        return 0;
    } catch (std::exception const& e) {
        fmt::print(stderr, "error: {}\n", e.what());
        return 2;
    }
}
