#pragma once

/// @file
/// The prometheus-cpp adapter (built when CMake finds prometheus-cpp; link redstream::prometheus).

#include <redstream/ops/metrics.hpp>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

namespace redstream {

/// Exposes a metrics_registry's metrics to prometheus-cpp, with the names, labels and histogram
/// buckets of the built-in exposition:
///
///     redstream::metrics_registry metrics;   // add(client), add(worker), add(autoscaler)
///     auto collectable = std::make_shared<redstream::prometheus_collectable>(ioc.get_executor(), metrics);
///     co_spawn(ioc, collectable->run(std::chrono::seconds(5)), detached);
///     // next to your own prometheus::Registry:
///     auto families = registry->Collect();
///     auto ours = collectable->Collect();
///     families.insert(families.end(), ours.begin(), ours.end());
///     std::string text = prometheus::TextSerializer{}.Serialize(families);
///
/// or register it beside your Registry wherever prometheus-cpp takes a collectable
/// (`Gateway::RegisterCollectable`, `Exposer::RegisterCollectable`).
///
/// Sampling a group's lag is network I/O and prometheus-cpp's Collect() is synchronous, so the two
/// are split: refresh() (or run()) samples on the executor and stores a snapshot; Collect()
/// returns the latest snapshot.
///
/// Threads: refresh(), run() and stop() belong to the registry's executor (the thread running
/// your io_context), like everything they read. Collect() may be called from any thread at any
/// time: it only copies the snapshot, under a mutex.
/// Lifetime: holds a reference to the registry (and so to what it reports on): keep them alive
/// until run() has returned and the collectable is no longer collected.
class prometheus_collectable : public prometheus::Collectable {
public:
    /// `ex` runs run()'s timer; `registry` is referenced, not owned.
    prometheus_collectable(boost::asio::any_io_executor ex, metrics_registry& registry);

    /// Samples every group (one pipelined round trip per stream) and replaces the snapshot.
    /// A group that cannot be sampled does not fail the refresh: its series are left out and
    /// redstream_healthy is 0, as in the built-in exposition.
    boost::asio::awaitable<void> refresh();
    /// Refreshes now, then every `interval`, until stop() or cancellation.
    boost::asio::awaitable<void> run(std::chrono::milliseconds interval);
    /// Makes run() return after its current refresh; final (a later run() returns at once).
    void stop();

    /// The families of the latest refresh (empty before the first). Thread-safe.
    [[nodiscard]] std::vector<prometheus::MetricFamily> Collect() const override;

    /// Converts redstream's families to prometheus-cpp's (no I/O, no locking).
    [[nodiscard]] static std::vector<prometheus::MetricFamily> convert(std::vector<metric_family> const& families);

private:
    metrics_registry& registry_;
    boost::asio::steady_timer timer_;
    bool stop_requested_ = false;
    mutable std::mutex mutex_; // guards snapshot_ only: Collect() runs on prometheus-cpp's side
    std::vector<prometheus::MetricFamily> snapshot_;
};

} // namespace redstream
