#pragma once

#include <cstdint>
#include <initializer_list>
#include <vector>

namespace redstream {

/// A fixed-bucket histogram for metrics: observe() is a short linear scan, no allocation.
/// Counts are per bucket; Prometheus export makes them cumulative.
class histogram {
public:
    histogram(std::initializer_list<double> upper_bounds) : bounds_(upper_bounds), counts_(bounds_.size() + 1) {}

    void observe(double v) noexcept {
        std::size_t i = 0;
        while (i < bounds_.size() && v > bounds_[i])
            ++i;
        ++counts_[i];
        sum_ += v;
        ++count_;
    }

    [[nodiscard]] std::vector<double> const& bounds() const noexcept { return bounds_; }
    /// One count per bound, then the overflow bucket (+Inf).
    [[nodiscard]] std::vector<std::uint64_t> const& counts() const noexcept { return counts_; }
    [[nodiscard]] double sum() const noexcept { return sum_; }
    [[nodiscard]] std::uint64_t count() const noexcept { return count_; }

private:
    std::vector<double> bounds_;
    std::vector<std::uint64_t> counts_;
    double sum_ = 0;
    std::uint64_t count_ = 0;
};

/// The histograms a worker keeps (seconds, or entries for batch sizes).
struct worker_histograms {
    histogram handler_seconds{0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30};
    /// Produce -> handler start, from the entry id's timestamp (millisecond resolution; assumes
    /// the producers' Redis clock and this host's clock agree).
    histogram end_to_end_seconds{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 300};
    histogram batch_entries{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
    /// Time from the first ack queued to its XACK being written.
    histogram ack_flush_delay_seconds{0.00001, 0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.1};
};

} // namespace redstream
