#pragma once
// The states of a worker's run() and of each coroutine it starts: one state machine each,
// instead of a handful of flags that must agree.

#include <stdexcept>

namespace redstream::detail {

/// A worker's run(): idle → starting (groups, wake-up mode) → running → draining → idle.
/// A stop request may come at any time, before run() too: it ends starting or running.
class worker_lifecycle {
public:
    enum class phase { idle, starting, running, draining };

    /// run() was called. Throws when it is running already.
    void begin_run() {
        if (phase_ != phase::idle)
            throw std::logic_error("redstream::worker: run() is already running");
        phase_ = phase::starting;
    }
    void started() noexcept { phase_ = phase::running; }
    void begin_drain() noexcept { phase_ = phase::draining; }
    /// run() returned (or threw): the next run() starts afresh, without the old stop request.
    void finished() noexcept {
        phase_ = phase::idle;
        stop_requested_ = false;
    }
    void request_stop() noexcept { stop_requested_ = true; }

    [[nodiscard]] phase current() const noexcept { return phase_; }
    [[nodiscard]] bool stop_requested() const noexcept { return stop_requested_; }
    [[nodiscard]] bool running() const noexcept { return phase_ != phase::idle; }
    /// Consumers may be added (and crashed ones restarted) only before the drain.
    [[nodiscard]] bool takes_consumers() const noexcept {
        return phase_ == phase::starting || phase_ == phase::running;
    }

private:
    phase phase_ = phase::idle;
    bool stop_requested_ = false;
};

/// One coroutine of a worker: active → retiring (remove_consumer: it finishes its batch and is
/// deleted from the group) or stopping (the drain) → done.
class task_lifecycle {
public:
    enum class phase { active, retiring, stopping, done };

    void retire() noexcept {
        if (phase_ == phase::active)
            phase_ = phase::retiring;
    }
    void stop() noexcept {
        if (phase_ == phase::active)
            phase_ = phase::stopping;
    }
    void finish() noexcept { phase_ = phase::done; }

    [[nodiscard]] phase current() const noexcept { return phase_; }
    /// It should finish what it holds and return.
    [[nodiscard]] bool should_stop() const noexcept { return phase_ != phase::active; }
    [[nodiscard]] bool retiring() const noexcept { return phase_ == phase::retiring; }
    [[nodiscard]] bool done() const noexcept { return phase_ == phase::done; }

private:
    phase phase_ = phase::active;
};

} // namespace redstream::detail
