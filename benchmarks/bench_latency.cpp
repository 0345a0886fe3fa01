// Wake-up latency per mode. For each wake-up mode (keyspace pushes, block_slice, dedicated):
//  1. a producer publishes at --rate msg/s for --seconds, each message carrying its send time;
//     handlers record produce->handle latency (p50/p99/p99.9);
//  2. idle acks: --idle-samples single messages spaced 100 ms apart; for each, the time from the
//     handler returning ack until a second connection sees the message leave the pending list
//     (polled every 200 us), i.e. how long an ack issued while idle waits to reach the server.
//
// The first row is `automatic` on the stock server (no keyspace events): what a user gets with
// default options. The last row, when the hiredis peer is built, is a blocking C consumer in its
// own process (XREADGROUP COUNT 100 BLOCK, then XACK) fed by the same producer: the reference
// the ratios are taken against.
//
//   bench_latency [--url URL] [--rate 5000] [--seconds 5] [--consumers 4] [--idle-samples 20] [--producer shared|separate]

#include <redstream/protocol/stream_readers.hpp>
#include <redstream/consume/worker.hpp>

#include "bench_common.hpp"
#include "hiredis_peer.hpp"
#include "support/private_redis.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/core.h>

#include <unistd.h>

#include <filesystem>
#include <optional>

namespace asio = boost::asio;
using namespace redstream;
using clk = std::chrono::steady_clock;

namespace {

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clk::now().time_since_epoch()).count();
}

asio::awaitable<void> sleep_until(clk::time_point t) {
    asio::steady_timer timer{co_await asio::this_coro::executor};
    timer.expires_at(t);
    co_await timer.async_wait(asio::use_awaitable);
}

struct mode_result {
    std::vector<double> latency_us;
    std::vector<double> idle_ack_us;
    wakeup_mode resolved = wakeup_mode::automatic;
};

std::string_view mode_name(wakeup_mode mode) {
    switch (mode) {
    case wakeup_mode::keyspace: return "keyspace";
    case wakeup_mode::block_slice: return "block_slice";
    case wakeup_mode::dedicated: return "dedicated";
    default: return "automatic";
    }
}


// Sends one XADD with the send time without waiting for its reply, so a stalled connection
// delays the message (and shows in its latency) but not the schedule of the next ones.
void publish_stamped(connection& via, std::string const& stream) {
    auto r = std::make_shared<request>();
    r->push("XADD", stream, "*", "ts", now_ns());
    via.async_exec(*r, adapt_ignore(), [r](error_code, std::size_t) {});
}

// Publishes `total` stamped messages at `rate` per second, on a fixed schedule.
asio::awaitable<void> produce_at_rate(connection& producer, std::string const& stream, std::size_t rate,
                                      std::size_t total) {
    auto const interval = std::chrono::nanoseconds{1'000'000'000 / rate};
    auto next = clk::now();
    for (std::size_t i = 0; i < total; ++i) {
        next += interval;
        co_await sleep_until(next);
        publish_stamped(producer, stream);
    }
}

// The blocking C consumer in its own process, fed at `rate` by `producer`.
asio::awaitable<bench::peer_result> run_peer(connection& producer, config const& server, std::size_t rate,
                                             double seconds) {
    std::string const stream = "lat:peer";
    request setup;
    setup.push("DEL", stream);
    setup.push("XGROUP", "CREATE", stream, "lat", "$", "MKSTREAM");
    co_await producer.async_exec(setup, adapt_ignore(), asio::use_awaitable);
    auto const total = static_cast<std::size_t>(static_cast<double>(rate) * seconds);
    auto const ready = std::filesystem::temp_directory_path() / fmt::format("redstream-peer-{}.ready", ::getpid());
    std::filesystem::remove(ready);
    bench::peer_options o;
    o.mode = "blocking";
    o.count = 100;
    o.messages = total;
    o.seconds = seconds + 10; // a bound, should a message go missing
    o.ready_file = ready.string();
    bench::hiredis_peer peer{server, stream, "lat", o};
    for (int i = 0; i < 5000 && !std::filesystem::exists(ready); ++i)
        co_await sleep_until(clk::now() + std::chrono::milliseconds{1});
    co_await sleep_until(clk::now() + std::chrono::milliseconds{50}); // its first BLOCK is on the server
    std::filesystem::remove(ready);
    fmt::print(stderr, "  lat:peer: blocking C consumer ready, producing\n");
    co_await produce_at_rate(producer, stream, rate, total);
    co_return peer.wait();
}

asio::awaitable<void> run_mode(client& cl, connection& producer, connection& observer, wakeup_mode mode,
                               std::size_t rate, double seconds, std::size_t consumers, std::size_t idle_samples,
                               mode_result& out) {
    std::string const stream = fmt::format("lat:{}", mode_name(mode));
    request del;
    del.push("DEL", stream);
    co_await cl.connection().async_exec(del, adapt_ignore(), asio::use_awaitable);
    worker_options opts;
    opts.stream = stream;
    opts.group = "lat";
    opts.consumers = consumers;
    opts.wakeup = mode;
    opts.configure_keyspace_events = mode == wakeup_mode::keyspace;
    worker w{cl, opts};
    bool measuring_latency = true;
    clk::time_point handled_at{};
    w.on_message([&](message const& m) -> asio::awaitable<outcome> {
        if (measuring_latency) {
            auto sent = std::stoll(std::string{m.field_or("ts", "0")});
            out.latency_us.push_back(static_cast<double>(now_ns() - sent) / 1e3);
        } else {
            handled_at = clk::now();
        }
        co_return ack;
    });
    bool finished = false;
    asio::co_spawn(co_await asio::this_coro::executor, w.run(), [&](std::exception_ptr) { finished = true; });
    // Idle: every consumer parked (in the blocking modes one holds the BLOCK instead).
    auto const idle_parked = [&] { return w.stats().wakeup == wakeup_mode::keyspace ? consumers : consumers - 1; };
    while (!w.running() || w.stats().consumers < consumers || w.stats().parked < idle_parked())
        co_await sleep_until(clk::now() + std::chrono::milliseconds{5});
    out.resolved = w.stats().wakeup;

    fmt::print(stderr, "  {}: consumers ready, producing\n", stream);
    // 1. Produce at a fixed rate.
    auto const total = static_cast<std::size_t>(static_cast<double>(rate) * seconds);
    co_await produce_at_rate(producer, stream, rate, total);
    while (w.stats().acked < total)
        co_await sleep_until(clk::now() + std::chrono::milliseconds{1});

    fmt::print(stderr, "  {}: {} handled, measuring idle acks\n", stream, total);
    // 2. Idle acks, observed from a second connection.
    measuring_latency = false;
    request pending;
    pending.push("XPENDING", stream, "lat");
    for (std::size_t i = 0; i < idle_samples; ++i) {
        co_await sleep_until(clk::now() + std::chrono::milliseconds{100});
        handled_at = {};
        publish_stamped(producer, stream);
        pending_summary s;
        for (;;) {
            co_await observer.async_exec(pending, adapt(s), asio::use_awaitable);
            if (handled_at != clk::time_point{} && s.count == 0)
                break;
            co_await sleep_until(clk::now() + std::chrono::microseconds{200});
        }
        out.idle_ack_us.push_back(std::chrono::duration<double, std::micro>(clk::now() - handled_at).count());
    }
    w.stop();
    while (!finished)
        co_await sleep_until(clk::now() + std::chrono::milliseconds{1});
}

} // namespace

int main(int argc, char** argv) {
    try {
        bench::args a{argc, argv};
        auto url = a.get("--url", ""); // empty: a private redis-server
        auto const rate = a.get_size("--rate", 5000);
        auto const seconds = static_cast<double>(a.get_size("--seconds", 5));
        auto const consumers = a.get_size("--consumers", 4);
        auto const idle = a.get_size("--idle-samples", 20);
        auto const producer_kind = a.get("--producer", "shared"); // shared: on the workers' connection
        a.finish();
        if (producer_kind != "shared" && producer_kind != "separate")
            throw std::invalid_argument("--producer must be shared or separate");
        std::optional<support::private_redis> server;
        if (url.empty()) {
            server.emplace();
            url = server->url();
        }
        asio::io_context ioc;
        client cl{ioc.get_executor(), config::from_url(url), logger{log_level::error, [](log_level, std::string_view m) {
                                                                               fmt::print(stderr, "{}\n", m);
                                                                           }}};
        connection observer{ioc.get_executor(), config::from_url(url), logger::none()};
        observer.async_run([](error_code) {});
        connection separate{ioc.get_executor(), config::from_url(url), logger::none()};
        separate.async_run([](error_code) {});
        auto& producer = producer_kind == "shared" ? cl.connection() : separate;
        fmt::print("wake-up latency: {} msg/s for {:.0f} s, {} consumers, {} idle-ack samples, producer on {} "
                   "connection\n",
                   rate, seconds, consumers, idle, producer_kind == "shared" ? "the workers'" : "a separate");
        fmt::print("| mode | produce->handle p50 | p99 | p99.9 | idle ack wait p50 | max |\n|---|---|---|---|---|---|\n");
        // automatic first, while the server still has its stock settings (keyspace mode turns
        // notifications on).
        std::optional<mode_result> automatic;
        for (auto mode : {wakeup_mode::automatic, wakeup_mode::keyspace, wakeup_mode::block_slice,
                          wakeup_mode::dedicated}) {
            mode_result res;
            bench::run_to_completion(
                ioc, [&] { return run_mode(cl, producer, observer, mode, rate, seconds, consumers, idle, res); });
            fmt::print("| {}{} | {:.0f} us | {:.0f} us | {:.0f} us | {:.0f} us | {:.0f} us |\n", mode_name(mode),
                       mode == wakeup_mode::automatic ? fmt::format(" (resolved: {})", to_string(res.resolved)) : "",
                       bench::percentile(res.latency_us, 50), bench::percentile(res.latency_us, 99),
                       bench::percentile(res.latency_us, 99.9), bench::percentile(res.idle_ack_us, 50),
                       bench::percentile(res.idle_ack_us, 100));
            if (mode == wakeup_mode::automatic)
                automatic = std::move(res);
        }
        if (bench::hiredis_peer::available()) {
            bench::peer_result peer;
            auto const server_cfg = config::from_url(url);
            bench::run_to_completion(ioc, [&]() -> asio::awaitable<void> {
                peer = co_await run_peer(producer, server_cfg, rate, seconds);
            });
            fmt::print("| hiredis blocking C consumer (own process, COUNT 100) | {:.0f} us | {:.0f} us | {:.0f} us | | |\n",
                       peer.latency_p50_us, peer.latency_p99_us, peer.latency_p999_us);
            auto const ratio = [](double x, double y) { return y > 0 ? x / y : 0.0; };
            fmt::print("default options (automatic) / blocking C consumer: p50 {:.2f}x, p99 {:.2f}x, p99.9 {:.2f}x\n",
                       ratio(bench::percentile(automatic->latency_us, 50), peer.latency_p50_us),
                       ratio(bench::percentile(automatic->latency_us, 99), peer.latency_p99_us),
                       ratio(bench::percentile(automatic->latency_us, 99.9), peer.latency_p999_us));
        }
        observer.close();
        separate.close();
        cl.close();
        ioc.restart();
        ioc.run_for(std::chrono::seconds(2));
        return 0;
    } catch (std::exception const& e) {
        fmt::print(stderr, "error: {}\n", e.what());
        return 2;
    }
}
