// A bounded soak: moderate load for REDSTREAM_SOAK_SECONDS (60 s by default) with retries,
// dead letters and a dropped connection every 10 s. Samples live heap, RSS and every internal
// queue each second; they must stay flat after warm-up, and nothing may be lost.
//
// Longer runs: REDSTREAM_SOAK_SECONDS=900 build/release/tests/soak_tests (benchmarks/README.md).

#include <redstream/consume/worker.hpp>

#include "fault_proxy.hpp"
#include "redis_server.hpp"
#include "run_coro.hpp"
#include "worker_test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <fstream>

#if defined(__SANITIZE_ADDRESS__)
// The sanitizer runtime's own count of live bytes (GCC ships no header for it).
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#else
#include <malloc.h>
#endif

#include <unistd.h>

using namespace redstream;
using namespace redstream::test;

namespace {

std::size_t live_heap_bytes() {
#if defined(__SANITIZE_ADDRESS__)
    return __sanitizer_get_current_allocated_bytes();
#else
    return mallinfo2().uordblks;
#endif
}

std::size_t rss_bytes() {
    std::ifstream statm("/proc/self/statm");
    std::size_t pages = 0, resident = 0;
    statm >> pages >> resident;
    return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

int soak_seconds() {
    char const* s = std::getenv("REDSTREAM_SOAK_SECONDS");
    return s ? std::max(20, std::atoi(s)) : 60;
}

struct sample {
    int second = 0;
    std::size_t heap = 0, rss = 0;
    std::size_t in_flight = 0, pending_acks = 0, waiting = 0, written = 0;
    std::uint64_t handled = 0;
};

std::size_t median_of(std::vector<sample> const& v, std::size_t sample::*field, int from, int to) {
    std::vector<std::size_t> xs;
    for (auto const& s : v)
        if (s.second >= from && s.second < to)
            xs.push_back(s.*field);
    if (xs.empty())
        return 0;
    std::nth_element(xs.begin(), xs.begin() + static_cast<std::ptrdiff_t>(xs.size() / 2), xs.end());
    return xs[xs.size() / 2];
}

double mib(std::size_t bytes) { return static_cast<double>(bytes) / 1048576.0; }

std::size_t max_of(std::vector<sample> const& v, std::size_t sample::*field, int from) {
    std::size_t m = 0;
    for (auto const& s : v)
        if (s.second >= from)
            m = std::max(m, s.*field);
    return m;
}

} // namespace

BOOST_AUTO_TEST_SUITE(soak)

BOOST_AUTO_TEST_CASE(steady_load_keeps_memory_and_queues_flat) {
    int const seconds = soak_seconds();
    constexpr int rate = 2000;     // messages a second
    constexpr int warm_up = 10;    // seconds before the baseline window
    redis_server::options o;
    o.notify_keyspace_events = "Kt";
    redis_server srv{o};
    asio::io_context ioc;
    fault_proxy proxy{ioc.get_executor(), srv.port(), 7};
    auto via_cfg = config::from_url(fmt::format("redis://127.0.0.1:{}", proxy.port()));
    via_cfg.reconnect.initial_delay = 10ms;
    via_cfg.reconnect.max_delay = 100ms;
    client producer{ioc.get_executor(), cfg_for(srv), quiet()};
    client via{ioc.get_executor(), via_cfg, quiet()};
    worker_options opts{.stream = "soak", .group = "g", .start_id = "0", .consumers = 4, .min_idle = 3000ms};
    opts.dead_letter_maxlen = 1000;
    worker w{via, opts};
    // Allocated up front: the test's own bookkeeping must not grow the heap it measures.
    std::vector<std::uint8_t> seen(static_cast<std::size_t>(rate) * static_cast<std::size_t>(seconds + 5), 0);
    std::size_t distinct = 0;
    std::uint64_t handlings = 0;
    w.on_message([&](message const& m) -> asio::awaitable<outcome> {
        ++handlings;
        auto const n = std::stoul(std::string{m.field_or("n", "0")});
        if (n < seen.size() && seen[n]++ == 0)
            ++distinct;
        if (n % 1000 == 999)
            co_return dead_letter("soak: every thousandth message is poison");
        if (n % 100 == 42 && m.deliveries() == 1)
            co_return retry_after(20ms, "soak: every hundredth fails once");
        co_return ack;
    });
    std::vector<sample> samples;
    samples.reserve(static_cast<std::size_t>(seconds) + 10);
    std::uint64_t produced = 0;
    pending_summary after{};
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto done = start_worker(ioc, w);
        proxy.drop_every(10s);
        auto const start = std::chrono::steady_clock::now();
        auto next_sample = start;
        std::vector<field_list> batch;
        batch.reserve(rate / 20);
        std::uint64_t n = 0;
        while (std::chrono::steady_clock::now() - start < std::chrono::seconds(seconds)) {
            batch.clear();
            for (int i = 0; i < rate / 20; ++i, ++n)
                batch.push_back({{"n", std::to_string(n)}, {"payload", "soak-payload-0123456789"}});
            co_await producer.publish_batch("soak", batch);
            produced += batch.size();
            co_await sleep_for(50ms); // the load's pace: 20 batches a second
            if (auto now = std::chrono::steady_clock::now(); now >= next_sample) {
                next_sample += 1s;
                auto const st = w.stats();
                auto const cs = via.connection().stats();
                samples.push_back({static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(now - start).count()),
                                   live_heap_bytes(), rss_bytes(), st.in_flight, st.pending_acks, cs.requests_waiting,
                                   cs.requests_in_flight, st.handled});
            }
        }
        proxy.drop_every(0ms);
        BOOST_TEST(co_await eventually([&] { return distinct == produced; }, 60s),
                   "handled " << distinct << " of " << produced);
        after = co_await pending_after_settling(producer, "soak", "g");
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }, 30s));
        via.close();
        producer.close();
        proxy.close();
    }, std::chrono::seconds(seconds + 180));

    for (auto const& s : samples)
        if (s.second % 10 == 0)
            BOOST_TEST_MESSAGE(fmt::format("t={:>3}s heap {:>6.2f} MiB rss {:>6.1f} MiB in_flight {:>4} pending_acks {:>4} "
                                           "waiting {:>3} written {:>3} handled {}",
                                           s.second, mib(s.heap), mib(s.rss), s.in_flight, s.pending_acks,
                                           s.waiting, s.written, s.handled));
    int const end = seconds;
    auto const heap_base = median_of(samples, &sample::heap, warm_up, warm_up + 10);
    auto const heap_end = median_of(samples, &sample::heap, end - 10, end + 1);
    auto const rss_base = median_of(samples, &sample::rss, warm_up, warm_up + 10);
    auto const rss_end = median_of(samples, &sample::rss, end - 10, end + 1);
    BOOST_TEST_MESSAGE(fmt::format("soak {} s at {} msg/s, drop every 10 s: produced {}, handled {} distinct ({} handlings), "
                                   "dead-lettered {}, pending after {}; live heap {:.2f} -> {:.2f} MiB, RSS {:.1f} -> {:.1f} MiB; "
                                   "max in_flight {}, max pending_acks {}, max waiting {}, connections dropped {}",
                                   seconds, rate, produced, distinct, handlings, w.stats().dead_lettered, after.count,
                                   mib(heap_base), mib(heap_end), mib(rss_base), mib(rss_end),
                                   max_of(samples, &sample::in_flight, 0), max_of(samples, &sample::pending_acks, 0),
                                   max_of(samples, &sample::waiting, 0), proxy.drops()));
    BOOST_TEST(samples.size() >= static_cast<std::size_t>(seconds - 2));
    BOOST_TEST(distinct == produced); // 0 lost
    BOOST_TEST(after.count == 0u);
    // Flat after warm-up: live heap within 25% (+1 MiB of noise), RSS within 50% (+8 MiB).
    BOOST_TEST(heap_end <= heap_base + heap_base / 4 + (1u << 20), heap_base << " -> " << heap_end);
    BOOST_TEST(rss_end <= rss_base + rss_base / 2 + (8u << 20), rss_base << " -> " << rss_end);
    // Internal queues bounded by the load, not growing with time.
    auto const late = end - 10;
    BOOST_TEST(max_of(samples, &sample::in_flight, late) <= opts.max_in_flight);
    BOOST_TEST(max_of(samples, &sample::waiting, late) <= 64u);
    BOOST_TEST(max_of(samples, &sample::pending_acks, late) <= 4 * opts.ack_batch);
}

BOOST_AUTO_TEST_SUITE_END()
