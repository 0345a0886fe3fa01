#pragma once
// How much a worker may read, and when: the in-flight bounds, the read size and read-ahead.

#include "consume/core/types.hpp"

#include <deque>
#include <unordered_map>

namespace redstream::detail {

struct flow_limits {
    std::size_t batch = 100;                     // COUNT of a read when nothing went wrong
    std::size_t max_in_flight = 65536;           // read and not yet acked or let go, per worker
    std::size_t max_in_flight_per_consumer = 512; // the same, per holder
};

/// Counts the messages each holder has in flight and decides the size of every read.
///
/// A read is worth sending only with room for half a batch: each XREADGROUP costs the server
/// about as much as several entries, so reads stay large without idling a consumer for long.
///
/// A connection the server closes while reads are in flight may have closed because of them
/// (client-output-buffer-limit counts every reply owed to the client), so the read size halves
/// once per lost connection and grows back by an eighth per full read (AIMD): a worker under
/// such a limit keeps making progress, one that only met a network drop is back to its batch
/// after a few reads.
class flow_control {
public:
    explicit flow_control(flow_limits limits);

    [[nodiscard]] std::size_t read_size() const noexcept { return read_size_; }
    [[nodiscard]] std::size_t in_flight() const noexcept { return in_flight_; }
    [[nodiscard]] std::size_t in_flight_of(holder_id h) const;
    /// Room left for `h` under both bounds.
    [[nodiscard]] std::size_t room(holder_id h) const;
    /// The least room worth a read.
    [[nodiscard]] std::size_t threshold() const noexcept { return threshold_; }
    [[nodiscard]] bool may_read(holder_id h) const { return room(h) >= threshold_; }

    /// Slots for a read of up to `want` entries; 0 (and nothing taken) below the threshold.
    [[nodiscard]] std::size_t grant(holder_id h, std::size_t want);
    /// After a read that filled its grant: slots for the next read to travel while this batch
    /// is handled, or 0. A short read means the stream is drained: no read-ahead.
    [[nodiscard]] std::size_t grant_read_ahead(holder_id h);
    /// Messages taken without a grant (a re-read of a pending list, a claim): they count too.
    void take(holder_id h, std::size_t n);
    void release(holder_id h, std::size_t n);

    /// A read granted `granted` slots came back with `got` entries: gives back the unused slots
    /// and grows the read size after a full read. True when the read was full.
    bool read_returned(holder_id h, std::size_t granted, std::size_t got);
    /// The connection of generation `generation` was lost under reads: halve the read size once.
    void connection_lost(std::uint64_t generation);

    /// `h` waits for room (oldest first).
    void wait_for_room(holder_id h);
    void stop_waiting(holder_id h);
    /// After releases: the waiting holders the freed room can serve, oldest first, removed from
    /// the waiters. With a thousand consumers at the bound, waking all of them on every release
    /// would cost more than the messages.
    void waiters_to_wake(std::vector<holder_id>& out);
    [[nodiscard]] bool has_waiters() const noexcept { return !waiters_.empty(); }

    /// The holder finished: a new holder with its id starts at zero, and what the old one still
    /// had in flight (acks under way) is released from the worker's count only.
    void forget(holder_id h);
    /// run() ended: nothing is in flight any more; the read size is kept.
    void reset();

private:
    void add(holder_id h, std::size_t n);
    void drop_promise(holder_id h);
    [[nodiscard]] std::size_t worker_room() const noexcept;

    flow_limits limits_;
    std::size_t threshold_;
    std::size_t read_size_;
    std::size_t in_flight_ = 0;
    std::uint64_t shrunk_generation_ = UINT64_MAX;
    std::unordered_map<holder_id, std::size_t> per_holder_;
    std::unordered_map<holder_id, std::size_t> orphaned_; // in flight under a finished holder's id
    std::deque<holder_id> waiters_;
    // Room promised to holders woken but not yet granted: without it, every release until they
    // run would wake more of them for the same room.
    std::unordered_map<holder_id, std::size_t> promised_;
    std::size_t promised_total_ = 0;
};

} // namespace redstream::detail
