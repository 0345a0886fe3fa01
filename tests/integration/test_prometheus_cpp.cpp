// The prometheus-cpp adapter against a real server: prometheus-cpp's serializer says exactly what
// the built-in exposition says (same families, types, label sets, buckets and values), passes
// promtool, and refresh()/run() keep Collect()'s snapshot current.

#include <redstream/ops/prometheus_collectable.hpp>
#include <redstream/scaling/autoscaler.hpp>

#include "exposition_parser.hpp"
#include "redis_server.hpp"
#include "run_coro.hpp"
#include "shell.hpp"
#include "worker_test_support.hpp"

#include <prometheus/text_serializer.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/test/unit_test.hpp>

#include <fmt/format.h>


using namespace redstream;
using namespace redstream::test;

namespace {

std::string serialize(std::vector<prometheus::MetricFamily> const& families) {
    return prometheus::TextSerializer{}.Serialize(families);
}

double series_value(std::vector<prometheus::MetricFamily> const& families, std::string const& name) {
    for (auto const& f : families)
        if (f.name == name && !f.metric.empty())
            return f.metric.front().counter.value;
    return -1;
}

} // namespace

BOOST_AUTO_TEST_SUITE(prometheus_cpp_adapter)

BOOST_AUTO_TEST_CASE(serializes_the_same_series_as_the_builtin_exposition_and_passes_promtool) {
    redis_server srv;
    asio::io_context ioc;
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    // A label value with a quote and a backslash: both writers must escape it the same way.
    std::string const stream = "orders \"eu\\1\"";
    worker w{cl, {.stream = stream, .group = "billing", .start_id = "0", .consumers = 2}};
    w.on_message([](message const&) -> asio::awaitable<outcome> { co_return ack; });
    metrics_registry registry;
    registry.add(cl);
    registry.add(w);
    autoscaler scaler{cl, w};
    registry.add(scaler);
    std::string builtin, ported;
    std::vector<prometheus::MetricFamily> before_refresh, refreshed;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await produce(cl, stream, 60);
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return w.stats().acked == 60; }));
        // One sample, rendered both ways: every value must agree.
        auto const sampled = co_await registry.sample();
        builtin = registry.render(sampled);
        ported = serialize(prometheus_collectable::convert(registry.collect(sampled)));
        prometheus_collectable collectable{ioc.get_executor(), registry};
        before_refresh = collectable.Collect();
        co_await collectable.refresh();
        refreshed = collectable.Collect();
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }));
        cl.close();
    });

    auto const a = parse_exposition(builtin);
    auto const b = parse_exposition(ported);
    BOOST_TEST(a.duplicates.empty());
    BOOST_TEST(b.duplicates.empty(), "prometheus-cpp repeated series, e.g. " << (b.duplicates.empty() ? "" : b.duplicates[0]));
    BOOST_TEST(a.families == b.families);
    BOOST_TEST(a.series.size() == b.series.size());
    for (auto const& [key, value] : a.series) {
        auto it = b.series.find(key);
        BOOST_TEST_CONTEXT(key) {
            BOOST_TEST_REQUIRE((it != b.series.end()));
            // prometheus-cpp writes 16 significant digits, not the shortest round trip: a sum
            // like 0.30000000000000016 comes back as ...21.
            BOOST_TEST(it->second == value, boost::test_tools::tolerance(1e-12));
        }
    }
    // The comparison covered what matters: counters, histograms with buckets, group gauges.
    BOOST_TEST(a.families.at("redstream_handler_duration_seconds") == "histogram");
    BOOST_TEST(a.series.count(fmt::format("redstream_messages_acked_total{{group=\"billing\",stream=\"{}\"}}",
                                          "orders \"eu\\1\"")) == 1);
    BOOST_TEST(b.series.size() > 50u); // 89 with two consumers: the comparison is not vacuous

    BOOST_TEST(before_refresh.empty());
    std::set<std::string> builtin_names, refreshed_names;
    for (auto const& [name, type] : a.families)
        builtin_names.insert(name);
    for (auto const& f : refreshed)
        refreshed_names.insert(f.name);
    BOOST_TEST(builtin_names == refreshed_names);
    BOOST_TEST(series_value(refreshed, "redstream_messages_acked_total") == 60.0);

    if (!have_promtool()) {
        BOOST_WARN_MESSAGE(false, "promtool not installed (Debian package prometheus): exposition not validated");
        return;
    }
    auto [status, out] = promtool_check("metrics", ported);
    BOOST_TEST(status == 0, "promtool: " << out);
}

BOOST_AUTO_TEST_CASE(run_keeps_the_snapshot_current_and_stop_ends_it) {
    redis_server srv;
    asio::io_context ioc;
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    worker w{cl, {.stream = "s", .group = "g", .start_id = "0"}};
    w.on_message([](message const&) -> asio::awaitable<outcome> { co_return ack; });
    metrics_registry registry;
    registry.add(w);
    prometheus_collectable collectable{ioc.get_executor(), registry};
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto done = start_worker(ioc, w);
        bool run_returned = false;
        asio::co_spawn(ioc, collectable.run(std::chrono::milliseconds(20)), [&](std::exception_ptr) { run_returned = true; });
        co_await produce(cl, "s", 25);
        // The snapshot follows the worker without anyone calling refresh().
        BOOST_TEST(co_await eventually([&] { return series_value(collectable.Collect(), "redstream_messages_acked_total") == 25.0; }));
        collectable.stop();
        BOOST_TEST(co_await eventually([&] { return run_returned; }));
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }));
        cl.close();
    });
}

BOOST_AUTO_TEST_SUITE_END()
