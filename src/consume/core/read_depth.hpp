#pragma once
// How many reads a worker keeps travelling to the server.

#include <cstddef>

namespace redstream::detail {

/// One read per consumer leaves the server idle for a round trip after every reply, and a
/// server that wakes for one command at a time spends more per message. The depth follows what
/// the readers see:
/// - a reader that finished a batch and had to wait for its next read, while that read came
///   back full (the stream had more), had too few reads travelling: one more;
/// - a reader that found its next batch already there `patience` times running had more than it
///   needed: one fewer.
/// It stays within [min, max]. Every reader may keep one read-ahead whatever the depth (one
/// read behind the batch in hand is never too many); the depth bounds the reads beyond that,
/// across the worker. The in-flight bounds limit them too.
class read_depth {
public:
    /// The default ceiling, across the worker. At 8, four consumers at COUNT 10 kept the server
    /// 53-55% busy and reached 0.80-0.85x the hiredis pipeline (8 reads of one connection); at
    /// 16, 59-60% and 0.95-1.03x. Larger batches never reach it: the server is busy first.
    static constexpr std::size_t deepest = 16;

    explicit read_depth(std::size_t min = 2, std::size_t max = deepest, std::size_t patience = 8) noexcept
        : min_(min < 1 ? 1 : min), max_(max < min_ ? min_ : max), patience_(patience < 1 ? 1 : patience),
          target_(min_) {}

    [[nodiscard]] std::size_t target() const noexcept { return target_; }

    /// A reader moved on to a read it had sent ahead: `waited` when it was still travelling,
    /// `full` when it filled its grant.
    void next_read(bool waited, bool full) noexcept {
        if (waited && full) {
            ready_in_a_row_ = 0;
            if (target_ < max_)
                ++target_;
            return;
        }
        if (waited)
            return; // the stream ran dry: waiting said nothing about the depth
        if (++ready_in_a_row_ >= patience_) {
            ready_in_a_row_ = 0;
            if (target_ > min_)
                --target_;
        }
    }

    /// A lost connection: start again from the minimum.
    void reset() noexcept {
        target_ = min_;
        ready_in_a_row_ = 0;
    }

private:
    std::size_t min_;
    std::size_t max_;
    std::size_t patience_;
    std::size_t target_;
    std::size_t ready_in_a_row_ = 0;
};

} // namespace redstream::detail
