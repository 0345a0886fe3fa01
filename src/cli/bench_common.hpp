#pragma once
// What `redstream bench` measures, shared by the one-stream and the partitioned runs.

#include "cli_common.hpp"

#include <redstream/consume/worker.hpp>
#include <redstream/consume/worker_options.hpp>
#include <redstream/io/client.hpp>

#include "io/use_tuple.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace redstream::cli {

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
    std::size_t partitions = 0;      // 0: one stream; else a partitioned stream of this many keys
    std::size_t cluster_masters = 0; // --cluster M: a private cluster of M masters
};

// One server's share of a partitioned run.
struct node_share {
    std::string node;           // "host:port"
    std::size_t partitions = 0; // partitions it served
    std::uint64_t messages = 0; // messages acked from its partitions
    double server_cpu_us = 0;   // its main thread's CPU over the consume phase, per message of the whole run
    std::uint64_t commands = 0; // commands it ran over the consume phase
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
    double commands_per_msg = 0;   // server commands over the consume phase per message (all nodes)
    std::uint64_t redirects = 0;   // MOVED + ASK met by the routed commands (cluster)
    std::vector<node_share> nodes; // partitioned runs: per server
};

double now_cpu();
std::uint64_t wall_ns();
// The server main thread's CPU seconds so far (INFO cpu).
asio::awaitable<double> server_cpu(client& c);
// Commands the server has run since CONFIG RESETSTAT (INFO commandstats, summed).
asio::awaitable<std::uint64_t> server_commands(client& c);
double percentile(std::vector<std::uint32_t>& v, double p);
bool progress_enabled(bench_config const& cfg);
void progress(bench_config const& cfg, std::string_view phase, std::uint64_t done, std::uint64_t total, double rate,
              std::string_view extra);
// Spins for `us` microseconds: a handler's CPU work.
asio::awaitable<void> burn(std::uint64_t us);
wakeup_mode parse_wakeup(std::string const& s);
void print_result(bench_config const& cfg, bench_result& r, std::string const& where);

// One benchmark message: the send time (for produce->handle latency) and the payload fields.
field_list bench_message(bench_config const& cfg);

// Publishes cfg.messages entries, pipelined from 8 coroutines (batches of 500 through
// `publish_batch`), or paced at cfg.rate from one (`publish_one`). `produced` counts them.
template <class PublishOne, class PublishBatch>
asio::awaitable<void> produce_with(bench_config const& cfg, std::uint64_t& produced, bool const& interrupted,
                                   PublishOne publish_one, PublishBatch publish_batch) {
    auto ex = co_await asio::this_coro::executor;
    if (cfg.rate > 0) {
        asio::steady_timer t{ex};
        auto next = clk::now();
        auto const interval = std::chrono::nanoseconds{1'000'000'000 / cfg.rate};
        while (produced < cfg.messages && !interrupted) {
            next += interval;
            t.expires_at(next);
            co_await t.async_wait(asio::use_awaitable);
            auto const f = bench_message(cfg);
            co_await publish_one(f);
            ++produced;
        }
        co_return;
    }
    std::size_t running = 8;
    asio::steady_timer all_done{ex, clk::time_point::max()};
    for (int w = 0; w < 8; ++w)
        asio::co_spawn(
            ex,
            [&]() -> asio::awaitable<void> {
                std::vector<field_list> batch;
                while (produced < cfg.messages && !interrupted) {
                    auto const n = std::min<std::uint64_t>(500, cfg.messages - produced);
                    produced += n; // claimed before the await so the 8 writers never overshoot
                    batch.clear();
                    for (std::uint64_t i = 0; i < n; ++i)
                        batch.push_back(bench_message(cfg));
                    co_await publish_batch(batch);
                }
                if (--running == 0)
                    all_done.cancel();
            },
            asio::detached);
    co_await all_done.async_wait(detail::use_tuple);
}

// Runs `producer` to the end with a progress bar, and records the produce rate.
asio::awaitable<void> fill_phase(bench_config const& cfg, std::uint64_t const& produced, bench_result& res,
                                 asio::awaitable<void> producer);

// The benchmark's handler: records produce->handle latency, then burns cfg.handler_cpu_us and
// waits cfg.handler_io_ms.
worker::handler bench_handler(bench_config const& cfg, std::vector<std::uint32_t>& latency_us);

// The partitioned run (--partitions, --cluster): see cmd_bench_partitioned.cpp.
asio::awaitable<void> run_partitioned_bench(client& seed, bench_config const& cfg, bench_result& res,
                                            bool& interrupted);

} // namespace redstream::cli
