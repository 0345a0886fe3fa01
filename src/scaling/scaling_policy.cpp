#include <redstream/scaling/scaling_policy.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace redstream {

namespace {

using std::chrono::duration;

double seconds_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
    return duration<double>(b - a).count();
}

std::size_t ceil_count(double x) { return x <= 0 ? 0 : static_cast<std::size_t>(std::ceil(x - 1e-9)); }

// Messages per second one consumer can handle. Consumers handle one message at a time, so
// 1 / handler latency is the ceiling; when the consumers are saturated (the lag is high) the
// measured rate per consumer may be lower (read gaps, overheads) and is the better estimate.
double capacity_for_scale_up(scaling_input const& in) {
    double const by_latency = in.handler_latency_s > 0 ? 1.0 / in.handler_latency_s : 0.0;
    double const measured = in.consumers > 0 ? in.handled_per_s / static_cast<double>(in.consumers) : 0.0;
    if (by_latency > 0 && measured > 0)
        return std::min(by_latency, measured);
    return std::max(by_latency, measured);
}

// Updates the lag trend in `mem`: how long the lag has been growing, and how fast (entries per
// second, returned; 0 on the first sample).
double track_lag(scaling_input const& in, scaling_memory& mem) {
    double lag_rate = 0;
    if (mem.last_lag) {
        mem.growth_streak = in.lag > *mem.last_lag ? mem.growth_streak + 1 : 0;
        if (double const dt = seconds_between(mem.last_sample, in.now); dt > 0)
            lag_rate = (static_cast<double>(in.lag) - static_cast<double>(*mem.last_lag)) / dt;
    }
    mem.last_lag = in.lag;
    mem.last_sample = in.now;
    return lag_rate;
}

// One call of the policy: its inputs, the bounds, and the two ways it can end.
struct policy_step {
    scaling_config const& cfg;
    scaling_input const& in;
    scaling_memory& mem;
    std::size_t lo;      // min_consumers
    std::size_t hi;      // max_consumers, at least lo
    std::size_t current; // consumers now

    scaling_decision change(std::size_t desired, std::string reason) const {
        ++mem.decisions;
        return scaling_decision{desired, std::move(reason)};
    }
    scaling_decision hold(std::string reason) const { return scaling_decision{current, std::move(reason)}; }
};

// The lag is high or growing (`why`): add consumers unless at the maximum or cooling down.
scaling_decision scale_up(policy_step const& s, std::string const& why, double lag_rate) {
    auto const& [cfg, in, mem, lo, hi, current] = s;
    if (current >= hi)
        return s.hold(fmt::format("{}; already at max_consumers {}", why, hi));
    if (mem.last_up && in.now - *mem.last_up < cfg.up_cooldown)
        return s.hold(fmt::format("{}; last scale-up under up_cooldown ago", why));
    double const drain_s = std::max(duration<double>(cfg.drain_target).count(), 1e-3);
    double const needed = in.handled_per_s + std::max(lag_rate, 0.0) + static_cast<double>(in.lag) / drain_s;
    double const per_consumer = capacity_for_scale_up(in);
    // needed > handled = per_consumer x current whenever the rate is measured, so this
    // always adds at least one consumer.
    std::size_t target = per_consumer > 0 ? ceil_count(needed / per_consumer) : current * 2;
    target = std::clamp(target, current + 1, std::min(current + cfg.max_step_up, hi));
    mem.last_up = in.now;
    return s.change(target, fmt::format("{}: need {:.0f} msg/s (handled {:.0f} + growth {:.0f} + backlog over "
                                        "{:.0f} s) at {:.0f} msg/s per consumer: {} -> {}",
                                        why, needed, in.handled_per_s, std::max(lag_rate, 0.0), drain_s,
                                        per_consumer, current, target));
}

// The lag is not high: hold in the hysteresis band, else remove consumers once it has stayed
// low for down_cooldown, down to what the measured rate needs (at most halving).
scaling_decision scale_down(policy_step const& s) {
    auto const& [cfg, in, mem, lo, hi, current] = s;
    if (in.lag > cfg.lag_low) {
        mem.low_since.reset(); // between the marks: hysteresis band, never move
        return s.hold(fmt::format("lag {} between lag_low {} and lag_high {}", in.lag, cfg.lag_low, cfg.lag_high));
    }
    if (!mem.low_since)
        mem.low_since = in.now;
    if (current <= lo)
        return s.hold(fmt::format("lag {} <= lag_low {}; at min_consumers {}", in.lag, cfg.lag_low, lo));
    bool const low_long_enough = in.now - *mem.low_since >= cfg.down_cooldown;
    bool const up_long_ago = !mem.last_up || in.now - *mem.last_up >= cfg.down_cooldown;
    if (!low_long_enough || !up_long_ago)
        return s.hold(fmt::format("lag {} <= lag_low {}; waiting out down_cooldown", in.lag, cfg.lag_low));
    // Consumers needed to keep up, by Little's law (rate x time per message), with headroom.
    std::size_t need = lo;
    if (in.handled_per_s > 0)
        need = in.handler_latency_s > 0 ? ceil_count(in.handled_per_s * in.handler_latency_s * cfg.headroom)
                                        : current - 1;
    std::size_t const floor_half = (current + 1) / 2;
    std::size_t const target = std::max({need, lo, floor_half});
    if (target >= current)
        return s.hold(fmt::format("lag {} <= lag_low {}; {} consumers needed for {:.0f} msg/s", in.lag, cfg.lag_low,
                                  need, in.handled_per_s));
    mem.low_since = in.now; // the next step waits another cooldown
    return s.change(target, fmt::format("lag {} <= lag_low {} for {} ms: {:.0f} msg/s needs {} consumer(s): {} -> {}",
                                        in.lag, cfg.lag_low, cfg.down_cooldown.count(), in.handled_per_s, need,
                                        current, target));
}

} // namespace

scaling_decision decide_scale(scaling_config const& cfg, scaling_input const& in, scaling_memory& mem) {
    double const lag_rate = track_lag(in, mem);
    policy_step const s{cfg, in, mem, cfg.min_consumers, std::max(cfg.max_consumers, cfg.min_consumers),
                        in.consumers};

    if (s.current < s.lo) {
        mem.last_up = in.now;
        return s.change(s.lo, fmt::format("{} consumers, below min_consumers {}", s.current, s.lo));
    }
    if (s.current > s.hi)
        return s.change(s.hi, fmt::format("{} consumers, above max_consumers {}", s.current, s.hi));

    bool const high = in.lag > cfg.lag_high;
    bool const growing = mem.growth_streak >= cfg.growth_samples && in.lag > cfg.lag_low;
    if (!high && !growing)
        return scale_down(s);
    mem.low_since.reset();
    std::string const why = high ? fmt::format("lag {} > lag_high {}", in.lag, cfg.lag_high)
                                 : fmt::format("lag {} grew for {} samples", in.lag, mem.growth_streak);
    return scale_up(s, why, lag_rate);
}

} // namespace redstream
