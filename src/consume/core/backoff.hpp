#pragma once

#include <algorithm>
#include <chrono>

namespace redstream::detail {

/// The delays of a retry loop: `first` after the first failure, twice the previous delay after
/// each further one in a row, never more than `cap`; a success starts over. Only the arithmetic:
/// the caller waits (on whatever lets a stop or a reconnect cut the wait short).
///
///     exponential_backoff backoff{milliseconds{50}, milliseconds{2000}};
///     while (...) {
///         if (failed) { co_await signal.wait(backoff.next()); continue; }   // 50, 100, ... 2000
///         backoff.reset();
///     }
class exponential_backoff {
public:
    using milliseconds = std::chrono::milliseconds;

    constexpr exponential_backoff(milliseconds first, milliseconds cap) noexcept : first_(first), cap_(cap) {}

    /// The delay after one more failure in a row.
    constexpr milliseconds next() noexcept {
        last_ = last_.count() == 0 ? first_ : std::min(last_ * 2, cap_);
        return last_;
    }
    /// The delay next() returned last; zero when it has not been called since the last reset().
    [[nodiscard]] constexpr milliseconds last() const noexcept { return last_; }
    /// A success: the next failure waits `first` again.
    constexpr void reset() noexcept { last_ = milliseconds{0}; }

private:
    milliseconds first_;
    milliseconds cap_;
    milliseconds last_{0};
};

} // namespace redstream::detail
