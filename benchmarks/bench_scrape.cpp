// Scrape cost: what one /metrics render costs the io_context it shares with the consumers.
// Renders a registry of W workers whose groups hold C consumers each (the per-consumer gauges
// dominate), from a fixed sample, so only rendering is timed (no server). With the prometheus-cpp
// adapter built, also times its conversion and prometheus-cpp's serializer.
//
//   bench_scrape [--workers W] [--consumers-per-group C] [--rounds R] [--prometheus-cpp 0|1]

#include <redstream/io/client.hpp>
#include <redstream/ops/metrics.hpp>
#ifdef REDSTREAM_BENCH_PROMETHEUS_CPP
#include <redstream/ops/prometheus_collectable.hpp>
#include <prometheus/text_serializer.h>
#endif

#include "bench_common.hpp"

#include <boost/asio/io_context.hpp>

#include <fmt/core.h>

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <vector>

using namespace redstream;

int main(int argc, char** argv) {
    bench::args a{argc, argv};
    auto const workers = a.get_size("--workers", 10);
    auto const per_group = a.get_size("--consumers-per-group", 100);
    auto const rounds = a.get_size("--rounds", 201);
    [[maybe_unused]] auto const adapter = a.get_size("--prometheus-cpp", 1);
    a.finish();

    boost::asio::io_context ioc;
    client cl{ioc.get_executor(), config::from_url("redis://127.0.0.1:1")};
    std::deque<worker> ws;
    metrics_registry registry;
    registry.add(cl);
    registry_sample sample;
    for (std::size_t w = 0; w < workers; ++w) {
        auto const stream = fmt::format("orders:{}", w);
        worker_options o;
        o.stream = stream;
        o.group = "billing";
        registry.add(ws.emplace_back(cl, o));
        group_sample g;
        g.stream = stream;
        g.group = "billing";
        g.stream_exists = g.group_exists = true;
        g.lag = 1000 + w;
        for (std::size_t c = 0; c < per_group; ++c)
            g.consumers.push_back({fmt::format("redstream.host-{}.{}", w, c), c, 10 * c, std::nullopt});
        sample.groups.push_back(std::move(g));
    }

    std::vector<double> text_us;
    std::size_t bytes = 0;
    for (std::size_t r = 0; r < rounds; ++r) {
        auto const t0 = std::chrono::steady_clock::now();
        auto const text = registry.render(sample);
        text_us.push_back(bench::seconds_since(t0) * 1e6);
        bytes = text.size();
    }
    fmt::print("scrape: {} workers x {} consumers: render {:.0f} us median, p99 {:.0f} us, {} bytes\n", workers,
               per_group, bench::median(text_us), bench::percentile(text_us, 99), bytes);
#ifdef REDSTREAM_BENCH_PROMETHEUS_CPP
    std::vector<double> convert_us, serialize_us;
    for (std::size_t r = 0; adapter != 0 && r < rounds; ++r) {
        auto const t0 = std::chrono::steady_clock::now();
        auto const families = prometheus_collectable::convert(registry.collect(sample));
        convert_us.push_back(bench::seconds_since(t0) * 1e6);
        auto const t1 = std::chrono::steady_clock::now();
        auto const text = prometheus::TextSerializer{}.Serialize(families);
        serialize_us.push_back(bench::seconds_since(t1) * 1e6);
        bytes = text.size();
    }
    if (adapter != 0)
        fmt::print("scrape: prometheus-cpp: collect+convert {:.0f} us median (on the io_context, per refresh), "
               "TextSerializer {:.0f} us median (on the caller's thread), {} bytes\n",
               bench::median(convert_us), bench::median(serialize_us), bytes);
#endif
    return 0;
}
