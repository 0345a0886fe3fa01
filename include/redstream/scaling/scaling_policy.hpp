#pragma once
/// @file
/// The lag-based scaling policy: a pure function of its inputs and memory.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace redstream {

/// Knobs of the lag-based scaling policy. Defaults suit handlers that take milliseconds.
struct scaling_config {
    std::size_t min_consumers = 1;  ///< never fewer consumers (a count below is raised at once)
    std::size_t max_consumers = 64; ///< never more (a count above is lowered at once); read as min_consumers if smaller
    std::uint64_t lag_high = 1000;  ///< scale up when the lag exceeds this...
    std::size_t growth_samples = 3; ///< ...or has grown for this many samples in a row (and exceeds lag_low)
    std::uint64_t lag_low = 100;    ///< scale down only while the lag stays at or under this
    std::chrono::milliseconds drain_target{10000};        ///< size scale-ups to drain the lag in this time
    std::chrono::milliseconds up_cooldown{2000};          ///< at least this between two scale-ups
    std::chrono::milliseconds down_cooldown{30000};       ///< lag low this long (and no scale-up) before each scale-down
    std::size_t max_step_up = 16;   ///< most consumers added by one decision
    double headroom = 1.25;         ///< scale-downs keep this much more capacity than the measured rate needs
};

/// What the policy looks at, sampled once per interval.
struct scaling_input {
    std::chrono::steady_clock::time_point now{}; ///< when sampled: cooldowns and rates are measured with it
    std::uint64_t lag = 0;          ///< entries not yet delivered to the group
    std::uint64_t pending = 0;      ///< delivered, not yet acknowledged (informational: decide_scale() does not use it)
    double handled_per_s = 0;       ///< messages handled per second since the previous sample
    double handler_latency_s = 0;   ///< mean handler time since the previous sample (0: unknown)
    std::size_t consumers = 0;      ///< consumer coroutines running now
};

/// What the policy remembers between calls (start with a default-constructed one).
struct scaling_memory {
    std::optional<std::uint64_t> last_lag;  ///< the previous sample's lag; nullopt before the first
    std::chrono::steady_clock::time_point last_sample{}; ///< the previous sample's `now`
    std::size_t growth_streak = 0;          ///< samples in a row where the lag grew
    std::optional<std::chrono::steady_clock::time_point> last_up; ///< the latest scale-up (also raising to min_consumers)
    std::optional<std::chrono::steady_clock::time_point> low_since; ///< lag <= lag_low since
    std::uint64_t decisions = 0;            ///< changes of the consumer count so far
};

/// The consumer count the policy wants, and why (for logs and metrics).
struct scaling_decision {
    std::size_t desired = 0; ///< consumers wanted; equal to the input's count when holding
    std::string reason;      ///< one line saying why (the numbers it used), for the log
    /// True when acting on the decision changes a count of `current` consumers.
    [[nodiscard]] bool changes(std::size_t current) const noexcept { return desired != current; }
};

/// The scaling policy, a pure function of its inputs and memory (no clock, no I/O):
/// - up when the lag exceeds lag_high, or grew for growth_samples samples while above lag_low,
///   at most once per up_cooldown; the step is sized so the consumers handle the arrival rate
///   plus the backlog within drain_target, from the measured per-consumer rate (or the handler
///   latency), capped by max_step_up;
/// - down only after the lag stayed <= lag_low for down_cooldown and no scale-up happened in
///   that time, to what the measured rate needs with headroom, at most halving per step;
/// - otherwise hold. Always within [min_consumers, max_consumers].
///
/// Call it once per sample with the same `mem`, in time order; it updates `mem` (the lag trend,
/// cooldown marks, the decision count). Deterministic: the same inputs and memory give the same
/// decision.
scaling_decision decide_scale(scaling_config const& cfg, scaling_input const& in, scaling_memory& mem);

} // namespace redstream
