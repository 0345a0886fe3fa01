#pragma once
/// @file
/// Fixed-bucket histograms and the ones each worker keeps (redstream::worker_histograms).

#include <cstdint>
#include <initializer_list>
#include <vector>

namespace redstream {

/// A fixed-bucket histogram for metrics: observe() is a short linear scan, no allocation.
/// Counts are per bucket; Prometheus export makes them cumulative.
///
/// A plain value with no synchronisation: the worker that owns one updates it on its executor,
/// so read it (worker::histograms()) from that executor's thread too.
class histogram {
public:
    /// Buckets with these inclusive upper bounds, which must be given in ascending order (they
    /// are not sorted or checked), plus an overflow bucket (+Inf) for larger values.
    histogram(std::initializer_list<double> upper_bounds) : bounds_(upper_bounds), counts_(bounds_.size() + 1) {}

    /// Records `v` in the first bucket whose bound is >= `v` (the overflow bucket if none is),
    /// and adds it to sum() and count().
    void observe(double v) noexcept {
        std::size_t i = 0;
        while (i < bounds_.size() && v > bounds_[i])
            ++i;
        ++counts_[i];
        sum_ += v;
        ++count_;
    }

    /// The upper bounds given to the constructor, in that order.
    [[nodiscard]] std::vector<double> const& bounds() const noexcept { return bounds_; }
    /// One count per bound, then the overflow bucket (+Inf): `bounds().size() + 1` elements, each
    /// counting only its own bucket (not cumulative).
    [[nodiscard]] std::vector<std::uint64_t> const& counts() const noexcept { return counts_; }
    /// The sum of every value observed, in the unit of the observations.
    [[nodiscard]] double sum() const noexcept { return sum_; }
    /// How many values were observed (the sum of counts()).
    [[nodiscard]] std::uint64_t count() const noexcept { return count_; }

private:
    std::vector<double> bounds_;
    std::vector<std::uint64_t> counts_;
    double sum_ = 0;
    std::uint64_t count_ = 0;
};

/// The histograms a worker keeps (seconds, or entries for batch sizes), exported by
/// metrics_registry. They accumulate over the worker's life, across runs of worker::run().
struct worker_histograms {
    /// Time each handler call took, in seconds, whether it returned or threw (a call cancelled
    /// at the drain deadline included). Not observed for messages dead-lettered before their
    /// handler runs.
    histogram handler_seconds{0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30};
    /// Produce -> handler start, from the entry id's timestamp (millisecond resolution; assumes
    /// the producers' Redis clock and this host's clock agree). An entry whose id lies in this
    /// host's future is not observed.
    histogram end_to_end_seconds{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 300};
    /// Entries per non-empty reply to a consumer's XREADGROUP of new messages (re-reads of its
    /// pending list and claims are not observed).
    histogram batch_entries{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
    /// Time from the first ack queued to its XACK being sent (handed to the connection), in
    /// seconds: one observation per flush, for its oldest ack.
    histogram ack_flush_delay_seconds{0.00001, 0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.1};
};

} // namespace redstream
