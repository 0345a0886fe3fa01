#pragma once
// Which acknowledgements to send, when, and what a failed or lost flush does to them.

#include "consume/core/backoff.hpp"
#include "consume/core/types.hpp"

#include <redstream/protocol/result.hpp>

#include <set>

namespace redstream::detail {

struct ack_limits {
    std::size_t ack_batch = 100;         // ids per XACK, and the queue length that flushes at once
    milliseconds flush_interval{5};      // the longest an ack waits for company
    std::size_t max_script_ids = 1000;   // ids per ack-and-mark script (Lua's unpack() limit is ~8,000)
};

/// One command of a flush: records[first, first + count) of one stream, acknowledged by a plain
/// XACK or, when they carry idempotency markers, by the ack-and-mark script. A markers-only
/// command re-writes "done" markers whose ack went through without them.
struct ack_command {
    std::size_t stream;
    std::size_t first;
    std::size_t count;
    bool marked;
    bool markers_only;
};

/// Everything one write sends: the driver serialises `commands` in order and reports the replies.
struct ack_flush {
    std::vector<ack_record> records;
    std::vector<ack_command> commands;
    std::vector<std::string> markers;    // of the markers-only command
    clock::duration oldest_wait{};       // how long the oldest record waited in the queue
};

/// What the replies to a flush mean for its records.
struct ack_flush_report {
    std::vector<ack_record> confirmed;   // acknowledged: let go, count as acked
    std::vector<ack_record> dropped;     // never to be acked (closed, group or stream gone): let go
    std::vector<std::pair<std::string, std::size_t>> to_log; // refusals worth a line: text, ids
    bool retry_later = false;            // something went back to the queue: arm the backoff timer
};

/// Batches acks per stream, flushes them when the batch is full or when the driver's timer (or
/// a read that can carry them) says so, and decides what failures do:
/// - a flush lost with the connection goes back, all of it, ahead of newer acks, and is sent
///   again after a backoff (XACK is idempotent; a re-send after an unclear failure is harmless).
///   The messages stay in hand and keep their in-flight slots, so a re-read skips them;
/// - error replies go back the same way, except NOGROUP and WRONGTYPE (the entry is gone with
///   its group or stream: nothing can be acked);
/// - out of memory, the markers' SETs are refused but a plain XACK is not: the ack is re-sent
///   plain and the marker is written later, so the ack and the marker are not both lost;
/// - a closed connection drops everything.
class ack_queue {
public:
    explicit ack_queue(ack_limits limits) : limits_(limits) {}

    /// Queues an ack. True when the batch is full and should be flushed now. `now` is read only
    /// when the queue is empty: it stamps the oldest record.
    bool push(ack_record rec, clock::time_point now);
    /// Nothing queued, no marker to re-write.
    [[nodiscard]] bool idle() const noexcept { return queue_.empty() && markers_to_retry_.empty(); }
    [[nodiscard]] std::size_t queued() const noexcept { return queue_.size(); }
    /// Records sent and not answered yet.
    [[nodiscard]] std::size_t in_flight() const noexcept { return in_flight_; }
    [[nodiscard]] std::size_t flushes_in_flight() const noexcept { return flushes_in_flight_; }
    /// Acked here with its "done" marker not yet confirmed: a redelivery is a duplicate.
    [[nodiscard]] bool done_unconfirmed(std::string const& marker) const { return unflushed_done_.count(marker) > 0; }
    /// How long the timer waits before the next flush: the backoff after a failure, else the
    /// flush interval.
    [[nodiscard]] milliseconds timer_delay() const noexcept;

    /// Moves everything queued into one flush (XACKs per stream of at most ack_batch ids,
    /// scripts of at most max_script_ids), plus a markers-only command if markers wait.
    [[nodiscard]] ack_flush take(std::size_t stream_count, clock::time_point now);
    /// The flush's outcome: `transport` failed it as a whole, else `replies` holds one reply
    /// per command.
    [[nodiscard]] ack_flush_report completed(ack_flush&& flush, error_code transport,
                                             std::vector<result<std::int64_t>> const& replies,
                                             clock::time_point now);

private:
    void put_back(std::vector<ack_record>&& records, clock::time_point now);
    void take_markers(ack_flush& f);
    void read_replies(ack_flush& f, std::vector<result<std::int64_t>> const& replies, ack_flush_report& out,
                      std::vector<ack_record>& again, bool& refused);
    bool worth_logging();

    ack_limits limits_;
    std::vector<ack_record> queue_;
    std::vector<std::string> markers_to_retry_;
    std::set<std::string> unflushed_done_;
    clock::time_point first_queued_{};
    exponential_backoff retry_backoff_{milliseconds{20}, milliseconds{1000}};
    std::size_t in_flight_ = 0;
    std::size_t flushes_in_flight_ = 0;
    std::uint64_t failures_logged_ = 0;
};

} // namespace redstream::detail
