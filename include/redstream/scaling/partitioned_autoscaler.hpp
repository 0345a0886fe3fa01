#pragma once
/// @file
/// The autoscaler of a partitioned_worker: one redstream::autoscaler per partition's worker,
/// following the workers as partitions move between masters.

#include <redstream/consume/partitioned_worker.hpp>
#include <redstream/scaling/autoscaler.hpp>

#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace redstream {

/// One partition's (or, on one server, the single worker's) autoscaler view.
struct partition_scaling {
    std::string streams;       ///< the worker's stream keys, comma-separated (one partition on a cluster)
    autoscaler_status status;  ///< its autoscaler's latest view
};

/// A partitioned_autoscaler's view: per worker, and the group's totals.
struct partitioned_autoscaler_status {
    std::size_t consumers = 0;  ///< summed over the workers
    std::size_t desired = 0;    ///< summed: what the policies want (exported for pod autoscaling)
    std::uint64_t lag = 0;      ///< summed over the partitions
    std::uint64_t decisions = 0; ///< summed, over the autoscalers that ran so far
    std::vector<partition_scaling> workers; ///< the autoscalers running now
};

/// Scales every worker of a shared-assignment partitioned_worker from its own lag, with the
/// same options for each: on a cluster, each partition's consumer count follows that
/// partition's backlog (the policy's bounds are per partition); on one server, the single
/// worker follows the summed lag of all partitions.
///
///     redstream::partitioned_worker billing{cluster, {.stream = "orders", .group = "billing"}, 12};
///     redstream::partitioned_autoscaler scaler{billing, {.policy = {.max_consumers = 8}}};
///     co_await (billing.run() && scaler.run());
///
/// Every `interval` it matches autoscalers to partitioned_worker::worker_handles(): a worker
/// that started (a partition placed, or restarted on a new master after its slot moved) gets
/// an autoscaler sampling through that worker's client (its master); one whose worker ended is
/// stopped, and the worker is kept alive until its autoscaler has returned.
///
/// Throws std::invalid_argument for a partitioned_worker with owned assignment (it reads each
/// partition with one consumer, to keep order).
///
/// **Lifetimes**: refers to the partitioned worker without owning it: it must outlive the
/// autoscaler and its run().
class partitioned_autoscaler {
public:
    /// Scales `w`'s workers with `opts` (each worker's own autoscaler). No I/O until run().
    partitioned_autoscaler(partitioned_worker& w, autoscaler_options opts = {});
    /// Asks run() to stop.
    ~partitioned_autoscaler();
    partitioned_autoscaler(partitioned_autoscaler const&) = delete;
    partitioned_autoscaler& operator=(partitioned_autoscaler const&) = delete;

    /// Follows the workers until stop(); completes once every autoscaler it started has
    /// returned. Throws std::logic_error when already running.
    boost::asio::awaitable<void> run();
    /// Asks run() to return. Idempotent.
    void stop();

    /// The view now (no I/O).
    [[nodiscard]] partitioned_autoscaler_status status() const;
    /// The autoscalers running now, for metrics: valid until the executor runs something else.
    [[nodiscard]] std::vector<autoscaler*> autoscalers() const;

private:
    struct state;
    std::shared_ptr<state> state_;
};

} // namespace redstream
