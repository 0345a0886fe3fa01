#pragma once

/// @file
/// Follows a worker's lag: samples its group(s), asks the scaling policy, and spawns or
/// retires consumer coroutines on the worker's executor.

#include <redstream/scaling/group_sampler.hpp>
#include <redstream/scaling/scaling_policy.hpp>
#include <redstream/consume/worker.hpp>

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace redstream {

/// What an autoscaler does and how often.
struct autoscaler_options {
    scaling_config policy{};                  ///< the thresholds and bounds of decide_scale()
    std::chrono::milliseconds interval{1000}; ///< time between samples (and decisions)
    sample_options sample{};                  ///< how each of the worker's groups is sampled
};

/// The autoscaler's view after its latest sample.
struct autoscaler_status {
    std::size_t consumers = 0;       ///< running when sampled
    /// What the policy wants (exported for pod autoscaling); min_consumers until the first
    /// sample.
    std::size_t desired = 0;
    std::uint64_t decisions = 0;     ///< changes of the consumer count so far
    std::uint64_t samples = 0;       ///< samples taken and decided on
    std::uint64_t sample_errors = 0; ///< samples that failed (transport or server errors), logged and skipped
    std::string last_reason;         ///< why the latest decision was taken (or the error)
    double handled_per_s = 0;        ///< messages handled per second since the previous sample (0 on the first)
    /// Mean handler time, in seconds, over the calls since the previous sample; the previous
    /// value when there were none (0 until the first call).
    double handler_latency_s = 0;
    std::uint64_t lag = 0;           ///< summed over the worker's streams
    std::vector<group_sample> groups; ///< one per stream of the worker
};

/// Runs next to a worker on the same client and executor:
///
///     redstream::autoscaler scaler{client, orders, {.policy = {.min_consumers = 1, .max_consumers = 32}}};
///     co_await (orders.run() && scaler.run());
///
/// Scaling up calls worker::add_consumer() (a coroutine with the next consumer name); scaling
/// down calls worker::remove_consumer(): that consumer stops reading, finishes its in-flight
/// messages, flushes its acks and is deleted from the group only if its pending list is empty.
/// Every decision is logged with its reason.
///
/// **Lifetimes**: refers to the client and the worker without owning them: both must outlive
/// the autoscaler and its run().
///
/// **Thread safety**: none; use it on the client's executor (the worker's).
class autoscaler {
public:
    /// Samples `w`'s groups through `c` (normally the worker's client) and scales `w`. No I/O
    /// until run().
    autoscaler(client& c, worker& w, autoscaler_options opts = {});
    /// Asks run() to stop (as stop() does) without waiting for it.
    ~autoscaler();
    autoscaler(autoscaler const&) = delete;
    autoscaler& operator=(autoscaler const&) = delete;

    /// Samples and decides every interval until stop(). Sampling errors are logged and counted.
    ///
    /// The first sample comes one interval after the start. While the worker has not started
    /// its consumers (worker::consumers_started(): still creating the group, or stopping)
    /// nothing is sampled. Scaling up calls worker::add_consumer() and scaling down
    /// worker::remove_consumer(), as many times as the decision's change. Completes soon after
    /// stop(); a stop() before run() holds (run() returns at once) and is cleared when run()
    /// returns. A second run() while one runs throws std::logic_error. Keeps the autoscaler's
    /// state alive until it completes.
    ///
    /// **Cancellation**: end it with stop(). A terminal cancellation of the awaiting coroutine
    /// is not turned into a stop: run() exits at its next wait with boost::system::system_error
    /// (operation_aborted), as Asio's awaitables do.
    boost::asio::awaitable<void> run();
    /// Asks run() to return: it wakes from its wait between samples at once. Idempotent.
    void stop();
    /// The view after the latest sample; the reference stays valid as long as the autoscaler,
    /// and its content changes at each sample.
    [[nodiscard]] autoscaler_status const& status() const noexcept;
    /// The options given to the constructor.
    [[nodiscard]] autoscaler_options const& options() const noexcept;
    /// The worker this autoscaler scales (its metrics carry that worker's labels).
    [[nodiscard]] worker const& scaled_worker() const noexcept;

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

} // namespace redstream
