#include <redstream/scaling/autoscaler.hpp>

#include "io/use_tuple.hpp"
#include "protocol/stream_list.hpp"

#include <boost/asio/steady_timer.hpp>

#include <fmt/format.h>

#include <stdexcept>

namespace redstream {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

struct autoscaler::impl {
    impl(client& c, worker& w, autoscaler_options o) : cl(c), wk(w), opts(std::move(o)), wake(c.get_executor()) {}

    client& cl;
    worker& wk;
    autoscaler_options opts;
    asio::steady_timer wake;
    bool stop_requested = false;
    bool running = false;
    scaling_memory memory;
    autoscaler_status status;
    // Previous sample, for rates.
    steady::time_point last_at{};
    std::uint64_t last_handled = 0;
    double last_handler_sum = 0;
    std::uint64_t last_handler_count = 0;

    asio::awaitable<void> tick();
    void apply(std::size_t desired);
};

asio::awaitable<void> autoscaler::impl::tick() {
    auto const now = steady::now();
    std::vector<group_sample> samples;
    std::uint64_t lag = 0, pending = 0;
    auto const& wopts = wk.options();
    auto const streams = detail::stream_list(wopts.stream, wopts.streams);
    for (auto const& s : streams) {
        auto sample = co_await sample_group(cl, s, wopts.group, opts.sample);
        lag += sample.lag;
        pending += sample.pending;
        samples.push_back(std::move(sample));
    }
    auto const stats = wk.stats();
    auto const& h = wk.histograms().handler_seconds;
    double const dt = last_at == steady::time_point{} ? 0.0 : std::chrono::duration<double>(now - last_at).count();
    double const handled_per_s = dt > 0 ? static_cast<double>(stats.handled - last_handled) / dt : 0.0;
    if (h.count() > last_handler_count)
        status.handler_latency_s = (h.sum() - last_handler_sum) / static_cast<double>(h.count() - last_handler_count);
    last_at = now;
    last_handled = stats.handled;
    last_handler_sum = h.sum();
    last_handler_count = h.count();

    scaling_input in;
    in.now = now;
    in.lag = lag;
    in.pending = pending;
    in.handled_per_s = handled_per_s;
    in.handler_latency_s = status.handler_latency_s;
    in.consumers = stats.consumers;
    auto const decision = decide_scale(opts.policy, in, memory);

    ++status.samples;
    status.consumers = stats.consumers;
    status.desired = decision.desired;
    status.decisions = memory.decisions;
    status.last_reason = decision.reason;
    status.handled_per_s = handled_per_s;
    status.lag = lag;
    status.groups = std::move(samples);
    if (decision.changes(stats.consumers)) {
        cl.get_logger().log(log_level::info, fmt::format("autoscaler {}: {}", wopts.group, decision.reason));
        apply(decision.desired);
    } else {
        cl.get_logger().log(log_level::debug, fmt::format("autoscaler {}: hold at {}: {}", wopts.group,
                                                          stats.consumers, decision.reason));
    }
}

void autoscaler::impl::apply(std::size_t desired) {
    std::size_t n = wk.stats().consumers;
    for (; n < desired; ++n)
        wk.add_consumer();
    for (; n > desired; --n)
        wk.remove_consumer();
}

autoscaler::autoscaler(client& c, worker& w, autoscaler_options opts)
    : impl_(std::make_shared<impl>(c, w, std::move(opts))) {
    impl_->status.desired = impl_->opts.policy.min_consumers;
}

autoscaler::~autoscaler() { stop(); }

asio::awaitable<void> autoscaler::run() {
    auto self = impl_; // keeps the state alive for the coroutine
    // Two loops would share one timer and decide twice per interval.
    if (self->running)
        throw std::logic_error("redstream::autoscaler: run() is already running");
    // A stop() before run() holds, as the worker's does; the next run() starts afresh, also
    // when this one ends by an exception (a cancellation).
    self->running = true;
    struct end_of_run {
        impl& state;
        ~end_of_run() {
            state.running = false;
            state.stop_requested = false;
        }
    } const reset{*self};
    while (!self->stop_requested) {
        self->wake.expires_after(self->opts.interval);
        co_await self->wake.async_wait(detail::use_tuple);
        if (self->stop_requested)
            break;
        // Not started yet (still creating the group), or stopping: the consumer count is not the
        // one that runs, and adding to it would only stack up consumers for the start.
        if (!self->wk.consumers_started())
            continue;
        try {
            co_await self->tick();
        } catch (std::exception const& e) {
            ++self->status.sample_errors;
            self->status.last_reason = fmt::format("sampling failed: {}", e.what());
            self->cl.get_logger().log(log_level::warn,
                                      fmt::format("autoscaler {}: {}", self->wk.options().group, self->status.last_reason));
        }
    }
}

void autoscaler::stop() {
    impl_->stop_requested = true;
    impl_->wake.cancel();
}

autoscaler_status const& autoscaler::status() const noexcept { return impl_->status; }
autoscaler_options const& autoscaler::options() const noexcept { return impl_->opts; }
worker const& autoscaler::scaled_worker() const noexcept { return impl_->wk; }

} // namespace redstream
