#pragma once

// Follows a worker's lag: samples its group(s), asks the scaling policy, and spawns or
// retires consumer coroutines on the worker's executor.

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

struct autoscaler_options {
    scaling_config policy{};
    std::chrono::milliseconds interval{1000}; ///< time between samples (and decisions)
    sample_options sample{};
};

/// The autoscaler's view after its latest sample.
struct autoscaler_status {
    std::size_t consumers = 0;       ///< running when sampled
    std::size_t desired = 0;         ///< what the policy wants (exported for pod autoscaling)
    std::uint64_t decisions = 0;     ///< changes of the consumer count so far
    std::uint64_t samples = 0;
    std::uint64_t sample_errors = 0;
    std::string last_reason;         ///< why the latest decision was taken (or the error)
    double handled_per_s = 0;
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
class autoscaler {
public:
    autoscaler(client& c, worker& w, autoscaler_options opts = {});
    ~autoscaler();
    autoscaler(autoscaler const&) = delete;
    autoscaler& operator=(autoscaler const&) = delete;

    /// Samples and decides every interval until stop(). Sampling errors are logged and counted.
    boost::asio::awaitable<void> run();
    void stop();
    [[nodiscard]] autoscaler_status const& status() const noexcept;
    [[nodiscard]] autoscaler_options const& options() const noexcept;
    /// The worker this autoscaler scales (its metrics carry that worker's labels).
    [[nodiscard]] worker const& scaled_worker() const noexcept;

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

} // namespace redstream
