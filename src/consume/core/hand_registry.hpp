#pragma once
// The messages this process holds: read (or claimed) and neither acknowledged nor let go.

#include "consume/core/types.hpp"

#include <redstream/protocol/entry_batch.hpp>

#include <unordered_map>

namespace redstream::detail {

struct hand_key {
    std::size_t stream;
    stream_id id;
    friend bool operator==(hand_key const&, hand_key const&) = default;
};

struct hand_key_hash {
    std::size_t operator()(hand_key const& k) const noexcept {
        std::uint64_t h = k.id.ms * 0x9E3779B97F4A7C15ull ^ (k.id.seq + 0x632BE59BD9B4E019ull + (k.stream << 7));
        return static_cast<std::size_t>(h ^ (h >> 29));
    }
};

struct hand_info {
    holder_id holder;
    clock::time_point since; // received, or idle time last reset: the server's idle is at least now - since
    bool handling = false;   // its handler runs: a stuck handler's message may be claimed
    bool acking = false;     // its ack is queued or in flight: the ack's completion lets it go
    bool lost = false;       // another process took it over while it waited: do not handle it
};

/// What the keeper asks the server in one XCLAIM ... JUSTID: these ids of one holder and
/// stream, idle at least `waited`.
struct refresh_group {
    holder_id holder;
    std::size_t stream;
    milliseconds waited;
    std::vector<stream_id> ids;
};

/// Re-reads of a pending list, claims and retries skip what is held here: another copy would be
/// handled twice. Waiting messages (queued behind the one being handled, or handled and waiting
/// for their ack) are kept from looking idle to any claim loop: every `min_idle / 8` the keeper
/// resets the idle time of those past `min_idle / 4`, so a message starts its handler at most
/// 3/8 of min_idle idle, and a handler shorter than the remaining 5/8 is claimed by no one.
class hand_registry {
public:
    explicit hand_registry(milliseconds min_idle) : min_idle_(min_idle) {}

    /// A read's reply arrived: all of it is in hand from now, while it waits behind the batch
    /// being handled.
    void take_read(holder_id h, std::size_t stream, entry_batch const& batch, clock::time_point now);
    /// A re-read or claim: takes the entries not held yet, and zeroes the plan of those held
    /// already (running, queued or awaiting their ack here). Returns how many it took.
    std::size_t take_fresh(holder_id h, std::size_t stream, entry_batch const& batch, delivery_plan& plan,
                           clock::time_point now);
    /// Our own re-read or claim delivered these again and reset their idle time on the server.
    /// Called as the reply arrives, so the keeper never misreads a reset it did not make.
    void touch(std::size_t stream, entry_batch const& batch, clock::time_point now);
    /// Out of the hand; false if it was not held.
    bool let_go(std::size_t stream, stream_id id) { return map_.erase({stream, id}) > 0; }
    [[nodiscard]] hand_info* find(std::size_t stream, stream_id id);
    /// The keeper saw another process take it over while it waited here.
    [[nodiscard]] bool taken_over(std::size_t stream, stream_id id);
    /// Waited so long (the keeper's rounds failed) that it must be checked before handling.
    [[nodiscard]] bool needs_check(std::size_t stream, stream_id id, clock::time_point now);
    /// A finished holder lets go of everything but messages whose ack is under way. Returns how
    /// many it let go.
    std::size_t release_held_by(holder_id h);

    /// The keeper's next round: waiting messages past min_idle / 4, grouped per holder, stream
    /// and arrival (one XCLAIM each).
    [[nodiscard]] std::vector<refresh_group> waiting_to_refresh(clock::time_point now) const;
    /// The XCLAIM of `group`, sent at `sent_at`, kept `kept` (sorted): those have their idle
    /// time reset at `reset_at`; the others were taken over by another process. Ids gone,
    /// started, or re-delivered to us while the XCLAIM travelled are left alone.
    void refreshed(refresh_group const& group, std::vector<stream_id> const& kept, clock::time_point sent_at,
                   clock::time_point reset_at);
    [[nodiscard]] milliseconds refresh_period() const;

    [[nodiscard]] std::size_t size() const noexcept { return map_.size(); }
    void clear() { map_.clear(); }

private:
    milliseconds min_idle_;
    std::unordered_map<hand_key, hand_info, hand_key_hash> map_;
};

} // namespace redstream::detail
