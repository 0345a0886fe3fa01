// Wake-up latency per mode. For each wake-up mode (keyspace pushes, block_slice, dedicated):
//  1. a producer publishes at --rate msg/s for --seconds, each message carrying its send time;
//     handlers record produce->handle latency (p50/p99/p99.9);
//  2. idle acks (in-process consumers only): --idle-samples single messages spaced 100 ms apart;
//     for each, the time from the handler returning ack until a second connection sees the
//     message leave the pending list (polled every 200 us), i.e. how long an ack issued while
//     idle waits to reach the server.
//
// With --consumer-process yes (the default) the worker runs in a process of its own (this
// program, started with --role consumer), as the blocking C consumer does, so neither consumer
// shares a thread with the producer. With no, it runs on the producer's io_context.
//
// The reference is a blocking C consumer in its own process (XREADGROUP COUNT 100 BLOCK, then
// XACK; the hiredis peer, when built) fed by the same producer. The default options
// (`automatic`, on the stock server: no keyspace events) and the reference run --pairs times in
// alternating order; each pair's ratio compares two runs next to each other in time, and the
// medians of those ratios are the figures to quote. The other modes run once each afterwards
// (keyspace mode turns notifications on).
//
//   bench_latency [--url URL] [--rate 5000] [--seconds 5] [--consumers 4] [--idle-samples 20]
//                 [--producer shared|separate] [--consumer-process yes|no] [--pairs 3]

#include <redstream/protocol/stream_readers.hpp>
#include <redstream/consume/worker.hpp>

#include "bench_common.hpp"
#include "child_process.hpp"
#include "hiredis_peer.hpp"
#include "support/private_redis.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/core.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
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

// A round trip on `via`: every command sent on it before has been written and answered. Run
// before blocking on a child process, which waits for the last publishes.
asio::awaitable<void> flush(connection& via) {
    request ping;
    ping.push("PING");
    co_await via.async_exec(ping, adapt_ignore(), asio::use_awaitable);
}

// Waits (up to 5 s) for a child process to write `ready` once it listens, then 50 ms more so its
// first read is on the server.
asio::awaitable<void> wait_ready(std::filesystem::path const& ready) {
    for (int i = 0; i < 5000 && !std::filesystem::exists(ready); ++i)
        co_await sleep_until(clk::now() + std::chrono::milliseconds{1});
    co_await sleep_until(clk::now() + std::chrono::milliseconds{50});
    std::filesystem::remove(ready);
}

std::filesystem::path ready_file_path(std::string_view who) {
    auto const path = std::filesystem::temp_directory_path() / fmt::format("redstream-{}-{}.ready", who, ::getpid());
    std::filesystem::remove(path);
    return path;
}

// What one consumer run measured.
struct figures {
    double p50 = 0, p99 = 0, p999 = 0;
    std::optional<double> idle_ack_p50, idle_ack_max; // in-process consumers only
    wakeup_mode resolved = wakeup_mode::automatic;
};

// The blocking C consumer in its own process, fed at `rate` by `producer`.
asio::awaitable<figures> run_peer(connection& producer, config const& server, std::size_t rate, double seconds) {
    std::string const stream = "lat:peer";
    request setup;
    setup.push("DEL", stream);
    setup.push("XGROUP", "CREATE", stream, "lat", "$", "MKSTREAM");
    co_await producer.async_exec(setup, adapt_ignore(), asio::use_awaitable);
    auto const total = static_cast<std::size_t>(static_cast<double>(rate) * seconds);
    auto const ready = ready_file_path("peer");
    bench::peer_options o;
    o.mode = "blocking";
    o.count = 100;
    o.messages = total;
    o.seconds = seconds + 10; // a bound, should a message go missing
    o.ready_file = ready.string();
    bench::hiredis_peer peer{server, stream, "lat", o};
    co_await wait_ready(ready);
    fmt::print(stderr, "  lat:peer: blocking C consumer ready, producing\n");
    co_await produce_at_rate(producer, stream, rate, total);
    co_await flush(producer);
    auto const r = peer.wait();
    co_return figures{r.latency_p50_us, r.latency_p99_us, r.latency_p999_us, {}, {}, wakeup_mode::automatic};
}

worker_options latency_worker_options(std::string const& stream, wakeup_mode mode, std::size_t consumers) {
    worker_options opts;
    opts.stream = stream;
    opts.group = "lat";
    opts.consumers = consumers;
    opts.wakeup = mode;
    opts.configure_keyspace_events = mode == wakeup_mode::keyspace;
    return opts;
}

// Until the worker idles: every consumer parked (in the blocking modes one holds the BLOCK).
asio::awaitable<void> wait_until_idle(worker& w, std::size_t consumers) {
    auto const idle_parked = [&] { return w.stats().wakeup == wakeup_mode::keyspace ? consumers : consumers - 1; };
    while (!w.running() || w.stats().consumers < consumers || w.stats().parked < idle_parked())
        co_await sleep_until(clk::now() + std::chrono::milliseconds{5});
}

std::optional<wakeup_mode> mode_from_name(std::string_view name) {
    for (auto mode : {wakeup_mode::automatic, wakeup_mode::keyspace, wakeup_mode::block_slice, wakeup_mode::dedicated})
        if (mode_name(mode) == name)
            return mode;
    return std::nullopt;
}

// --role consumer: the worker in a process of its own. It writes --ready-file once it idles,
// handles --messages stamped messages and prints one line of their latencies.
int consumer_role(bench::args& a) {
    auto const url = a.get("--url", "");
    auto const stream = a.get("--stream", "lat:process");
    auto const mode = mode_from_name(a.get("--mode", "automatic"));
    auto const consumers = a.get_size("--consumers", 4);
    auto const total = a.get_size("--messages", 0);
    auto const ready = a.get("--ready-file", "");
    a.finish();
    if (!mode)
        throw std::invalid_argument("--mode: automatic, keyspace, block_slice or dedicated");
    asio::io_context ioc;
    client cl{ioc.get_executor(), config::from_url(url), logger{log_level::error, [](log_level, std::string_view m) {
                                                                           fmt::print(stderr, "{}\n", m);
                                                                       }}};
    worker w{cl, latency_worker_options(stream, *mode, consumers)};
    std::vector<double> latency_us;
    latency_us.reserve(total);
    // The last handler ends the wait: a polling loop here would wake the process every
    // millisecond, a cost the blocking C consumer does not pay.
    asio::steady_timer all_handled{ioc, std::chrono::minutes{2}}; // a bound, should a message go missing
    w.on_message([&](message const& m) -> asio::awaitable<outcome> {
        auto const sent = std::stoll(std::string{m.field_or("ts", "0")});
        latency_us.push_back(static_cast<double>(now_ns() - sent) / 1e3);
        if (latency_us.size() == total)
            all_handled.cancel();
        co_return ack;
    });
    bench::run_to_completion(ioc, [&]() -> asio::awaitable<void> {
        bool finished = false;
        asio::co_spawn(co_await asio::this_coro::executor, w.run(), [&](std::exception_ptr) { finished = true; });
        co_await wait_until_idle(w, consumers);
        std::FILE* f = std::fopen(ready.c_str(), "w");
        if (f != nullptr)
            std::fclose(f);
        if (latency_us.size() < total)
            co_await all_handled.async_wait(asio::as_tuple(asio::use_awaitable));
        w.stop();
        while (!finished)
            co_await sleep_until(clk::now() + std::chrono::milliseconds{1});
    });
    fmt::print("consumer resolved={} messages={} latency_us_p50={:.1f} latency_us_p99={:.1f} latency_us_p999={:.1f}\n",
               mode_name(w.stats().wakeup), latency_us.size(), bench::percentile(latency_us, 50),
               bench::percentile(latency_us, 99), bench::percentile(latency_us, 99.9));
    cl.close();
    ioc.restart();
    ioc.run_for(std::chrono::seconds(1));
    return latency_us.size() == total ? 0 : 1;
}

// The worker in a child process (this program, --role consumer), fed at `rate` by `producer`.
asio::awaitable<figures> run_in_child(connection& producer, std::string const& url, wakeup_mode mode,
                                      std::size_t rate, double seconds, std::size_t consumers) {
    std::string const stream = fmt::format("lat:{}:process", mode_name(mode));
    request del;
    del.push("DEL", stream);
    co_await producer.async_exec(del, adapt_ignore(), asio::use_awaitable);
    auto const total = static_cast<std::size_t>(static_cast<double>(rate) * seconds);
    auto const ready = ready_file_path("consumer");
    bench::child_process child{{std::filesystem::read_symlink("/proc/self/exe").string(), "--role", "consumer",
                                "--url", url, "--stream", stream, "--mode", std::string{mode_name(mode)},
                                "--consumers", std::to_string(consumers), "--messages", std::to_string(total),
                                "--ready-file", ready.string()}};
    co_await wait_ready(ready);
    fmt::print(stderr, "  {}: consumer process ready, producing\n", stream);
    co_await produce_at_rate(producer, stream, rate, total);
    co_await flush(producer);
    auto const text = child.wait();
    figures f{bench::child_process::field(text, "latency_us_p50"), bench::child_process::field(text, "latency_us_p99"),
              bench::child_process::field(text, "latency_us_p999"), {}, {}, mode};
    if (auto at = text.find(" resolved="); at != std::string::npos) {
        auto const name = text.substr(at + 10, text.find(' ', at + 10) - at - 10);
        f.resolved = mode_from_name(name).value_or(mode);
    }
    co_return f;
}

asio::awaitable<void> run_mode(client& cl, connection& producer, connection& observer, wakeup_mode mode,
                               std::size_t rate, double seconds, std::size_t consumers, std::size_t idle_samples,
                               mode_result& out) {
    std::string const stream = fmt::format("lat:{}", mode_name(mode));
    request del;
    del.push("DEL", stream);
    co_await cl.connection().async_exec(del, adapt_ignore(), asio::use_awaitable);
    worker w{cl, latency_worker_options(stream, mode, consumers)};
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
    co_await wait_until_idle(w, consumers);
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
        if (a.get("--role", "") == "consumer")
            return consumer_role(a);
        auto url = a.get("--url", ""); // empty: a private redis-server
        auto const rate = a.get_size("--rate", 5000);
        auto const seconds = static_cast<double>(a.get_size("--seconds", 5));
        auto const consumers = a.get_size("--consumers", 4);
        auto const idle = a.get_size("--idle-samples", 20);
        auto const producer_kind = a.get("--producer", "shared"); // shared: on the workers' connection
        bool const in_child = a.get("--consumer-process", "yes") == "yes";
        auto const pairs = std::max<std::size_t>(1, a.get_size("--pairs", 3));
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
        fmt::print("wake-up latency: {} msg/s for {:.0f} s, {} consumers, {}, {} pair(s) against the blocking C "
                   "consumer\n",
                   rate, seconds, consumers,
                   in_child ? std::string{"worker in a consumer process of its own"}
                            : fmt::format("worker in the producing process, producer on {} connection, {} idle-ack "
                                          "samples",
                                          producer_kind == "shared" ? "the workers'" : "a separate", idle),
                   pairs);
        auto const run_redstream = [&](wakeup_mode mode) {
            figures f;
            if (in_child) {
                bench::run_to_completion(ioc, [&]() -> asio::awaitable<void> {
                    f = co_await run_in_child(producer, url, mode, rate, seconds, consumers);
                });
                return f;
            }
            mode_result res;
            bench::run_to_completion(
                ioc, [&] { return run_mode(cl, producer, observer, mode, rate, seconds, consumers, idle, res); });
            return figures{bench::percentile(res.latency_us, 50),
                           bench::percentile(res.latency_us, 99),
                           bench::percentile(res.latency_us, 99.9),
                           bench::percentile(res.idle_ack_us, 50),
                           bench::percentile(res.idle_ack_us, 100),
                           res.resolved};
        };
        bool const with_peer = bench::hiredis_peer::available();
        auto const server_cfg = config::from_url(url);
        auto const run_reference = [&] {
            figures f;
            bench::run_to_completion(ioc, [&]() -> asio::awaitable<void> {
                f = co_await run_peer(producer, server_cfg, rate, seconds);
            });
            return f;
        };
        // The default options and the reference, in alternating order, while the server still has
        // its stock settings (keyspace mode turns notifications on).
        std::vector<figures> defaults, references;
        std::vector<double> r50, r99, r999; // default / reference, pair by pair
        for (std::size_t p = 0; p < pairs; ++p) {
            bool const reference_first = p % 2 == 1;
            if (with_peer && reference_first)
                references.push_back(run_reference());
            defaults.push_back(run_redstream(wakeup_mode::automatic));
            if (with_peer && !reference_first)
                references.push_back(run_reference());
            if (with_peer) {
                auto const& d = defaults.back();
                auto const& r = references.back();
                r50.push_back(d.p50 / r.p50);
                r99.push_back(d.p99 / r.p99);
                r999.push_back(d.p999 / r.p999);
                fmt::print("  pair {}: default p50 {:.0f} us p99 {:.0f} us p99.9 {:.0f} us | blocking C p50 {:.0f} us p99 "
                           "{:.0f} us p99.9 {:.0f} us | ratios {:.2f} {:.2f} {:.2f}\n",
                           p + 1, d.p50, d.p99, d.p999, r.p50, r.p99, r.p999, r50.back(), r99.back(), r999.back());
            }
        }
        auto const median_of = [](std::vector<figures> const& v, double figures::*field) {
            std::vector<double> x;
            for (auto const& f : v)
                x.push_back(f.*field);
            return bench::median(x);
        };
        auto const row = [&](std::string const& name, figures const& f) {
            fmt::print("| {} | {:.0f} us | {:.0f} us | {:.0f} us | {} | {} |\n", name, f.p50, f.p99, f.p999,
                       f.idle_ack_p50 ? fmt::format("{:.0f} us", *f.idle_ack_p50) : "",
                       f.idle_ack_max ? fmt::format("{:.0f} us", *f.idle_ack_max) : "");
        };
        fmt::print("| mode | produce->handle p50 | p99 | p99.9 | idle ack wait p50 | max |\n|---|---|---|---|---|---|\n");
        figures median_default = defaults.front();
        median_default.p50 = median_of(defaults, &figures::p50);
        median_default.p99 = median_of(defaults, &figures::p99);
        median_default.p999 = median_of(defaults, &figures::p999);
        row(fmt::format("automatic (resolved: {}){}", to_string(defaults.front().resolved),
                        pairs > 1 ? fmt::format(", median of {}", pairs) : ""),
            median_default);
        for (auto mode : {wakeup_mode::keyspace, wakeup_mode::block_slice, wakeup_mode::dedicated})
            row(std::string{mode_name(mode)}, run_redstream(mode));
        if (defaults.front().resolved != wakeup_mode::keyspace) {
            // Leave the server as we found it: the keyspace row turned notifications on, and the
            // next run's `automatic` would pick them.
            bench::run_to_completion(ioc, [&]() -> asio::awaitable<void> {
                request off;
                off.push("CONFIG", "SET", "notify-keyspace-events", "");
                co_await observer.async_exec(off, adapt_ignore(), asio::use_awaitable);
            });
        }
        if (with_peer) {
            figures median_reference;
            median_reference.p50 = median_of(references, &figures::p50);
            median_reference.p99 = median_of(references, &figures::p99);
            median_reference.p999 = median_of(references, &figures::p999);
            row(fmt::format("hiredis blocking C consumer (own process, COUNT 100){}",
                            pairs > 1 ? fmt::format(", median of {}", pairs) : ""),
                median_reference);
            fmt::print("default options (automatic) / blocking C consumer, median of the pairs' ratios: p50 {:.2f}x, "
                       "p99 {:.2f}x, p99.9 {:.2f}x\n",
                       bench::median(r50), bench::median(r99), bench::median(r999));
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
