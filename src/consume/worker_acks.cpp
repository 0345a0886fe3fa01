#include "consume/worker_impl.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace redstream::detail {

namespace {

// Marks each idempotency key done (with its TTL) and acknowledges the ids, atomically.
constexpr std::string_view ack_and_mark_script = R"lua(
local n = #KEYS - 1
for i = 1, n do
  redis.call('SET', KEYS[i + 1], 'done', 'PX', ARGV[2])
end
return redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 3, 2 + n))
)lua";

// Writes "done" markers whose ack went through without them (the server was out of memory).
constexpr std::string_view mark_done_script = R"lua(
for i, key in ipairs(KEYS) do
  redis.call('SET', key, 'done', 'PX', ARGV[1])
end
return #KEYS
)lua";

// unpack() in a script takes at most about 8,000 values (Lua's C stack): keep far below.
constexpr std::size_t max_script_ids = 1000;

// Acks the server may accept later: everything but a missing group or stream (NOGROUP, or a
// key that is no longer a stream), where the entry is gone with it and nothing can be acked.
bool ack_can_succeed_later(error_code const& ec) {
    return ec != server_errc::nogroup && ec != server_errc::wrongtype;
}

} // namespace

/// One command of a flush and the records it acknowledges (records[first, first + count)).
struct ack_command {
    std::size_t first;
    std::size_t count;
    bool marked;       // the ack-and-mark script, not a plain XACK
    bool markers_only; // a retry of "done" markers (no records)
};

struct flush_op {
    std::vector<ack_record> records;
    std::vector<ack_command> commands;
    std::vector<std::string> markers; // written by the markers-only command
    request req;
    std::vector<result<std::int64_t>> replies;
};

void worker_impl::queue_ack(ack_record rec) {
    if (!rec.marker.empty())
        unflushed_done_.insert(rec.marker);
    if (auto* h = held(rec.stream, rec.id))
        h->acking = true; // from now on the ack's confirmation lets it go

    if (ack_queue_.empty())
        first_ack_queued_ = clock::now();
    ack_queue_.push_back(std::move(rec));
    if (ack_queue_.size() >= opts_.ack_batch)
        flush_acks();
    else
        arm_ack_timer();
}

void worker_impl::arm_ack_timer() {
    if (ack_timer_armed_)
        return;
    ack_timer_armed_ = true;
    ack_timer_.expires_after(ack_backoff_.last().count() > 0 ? ack_backoff_.last() : opts_.ack_flush_interval);
    ack_timer_.async_wait([w = weak_from_this()](error_code ec) {
        auto self = w.lock();
        if (!self)
            return;
        self->ack_timer_armed_ = false;
        if (ec != asio::error::operation_aborted)
            self->flush_acks();
    });
}

void worker_impl::ack_confirmed(ack_record const& r) {
    ++stats_.acked;
    ack_dropped(r);
}

// Acked, or never to be (closed, or the group or stream is gone): the message leaves the hand.
void worker_impl::ack_dropped(ack_record const& r) {
    if (!r.marker.empty())
        unflushed_done_.erase(r.marker);
    let_go(r.consumer, r.stream, r.id);
}

// Not acknowledged: the records go back to the front of the queue and are sent again after a
// backoff. The messages stay in hand (a re-read skips them) and keep their in-flight slots.
void worker_impl::ack_failed(std::vector<ack_record>&& records, bool back_off) {
    ack_queue_.insert(ack_queue_.begin(), std::make_move_iterator(records.begin()),
                      std::make_move_iterator(records.end()));
    if (ack_queue_.size() == records.size())
        first_ack_queued_ = clock::now();
    if (back_off)
        ack_backoff_.next();
    arm_ack_timer();
}

// Sends every queued ack now: XACKs per stream of at most ack_batch ids (scripts of at most
// max_script_ids for idempotency markers), pipelined behind whatever is in flight. Transport
// failures and error replies put the acks back and retry with backoff; XACK is idempotent, so
// a re-send after an unclear failure is harmless.
void worker_impl::flush_acks() {
    if (ack_queue_.empty() && markers_to_retry_.empty())
        return;
    if (ack_timer_armed_) {
        ack_timer_.cancel();
        ack_timer_armed_ = false;
    }
    if (!ack_queue_.empty())
        histograms_.ack_flush_delay_seconds.observe(
            std::chrono::duration<double>(clock::now() - first_ack_queued_).count());
    auto op = std::make_shared<flush_op>();
    op->req.get_options().wait_for_connection = milliseconds{1000};

    // Records grouped by (stream, marked), each group cut into commands of bounded size.
    std::size_t const plain_chunk = std::max<std::size_t>(1, opts_.ack_batch);
    std::size_t const marked_chunk = std::min(plain_chunk, max_script_ids);
    for (std::size_t s = 0; s < streams_.size(); ++s) {
        for (bool marked : {false, true}) {
            std::size_t const begin = op->records.size();
            for (auto& r : ack_queue_)
                if (r.stream == s && r.marker.empty() != marked)
                    op->records.push_back(std::move(r));
            std::size_t const chunk = marked ? marked_chunk : plain_chunk;
            for (std::size_t first = begin; first < op->records.size(); first += chunk) {
                std::size_t const count = std::min(chunk, op->records.size() - first);
                std::vector<stream_id> ids;
                std::vector<std::string_view> keys;
                for (std::size_t i = first; i < first + count; ++i) {
                    ids.push_back(op->records[i].id);
                    if (marked)
                        keys.push_back(op->records[i].marker);
                }
                if (marked)
                    op->req.push("EVAL", ack_and_mark_script, keys.size() + 1, streams_[s], keys, opts_.group,
                                 opts_.idempotency.ttl, ids);
                else
                    op->req.push("XACK", streams_[s], opts_.group, ids);
                op->commands.push_back({first, count, marked, false});
            }
        }
    }
    ack_queue_.clear();
    if (!markers_to_retry_.empty()) {
        std::size_t const count = std::min(markers_to_retry_.size(), max_script_ids);
        op->markers.assign(std::make_move_iterator(markers_to_retry_.begin()),
                           std::make_move_iterator(markers_to_retry_.begin() + static_cast<std::ptrdiff_t>(count)));
        markers_to_retry_.erase(markers_to_retry_.begin(), markers_to_retry_.begin() + static_cast<std::ptrdiff_t>(count));
        op->req.push("EVAL", mark_done_script, op->markers.size(), op->markers, opts_.idempotency.ttl);
        op->commands.push_back({0, 0, false, true});
    }
    acks_in_flight_ += op->records.size();
    ++ack_flushes_in_flight_;
    ++stats_.ack_batches;
    conn_.async_exec(op->req, adapt_each(op->replies), [w = weak_from_this(), op](error_code ec, std::size_t) {
        if (auto self = w.lock())
            self->ack_flush_done(*op, ec);
    });
}

void worker_impl::ack_flush_done(flush_op& op, error_code ec) {
    acks_in_flight_ -= op.records.size();
    --ack_flushes_in_flight_;
    acks_signal_->notify_all();
    if (ec == errc::closed) {
        for (auto const& r : op.records)
            ack_dropped(r);
        return;
    }
    if (ec || op.replies.size() != op.commands.size()) {
        // Not known to have arrived: all of it again, ahead of newer acks.
        markers_to_retry_.insert(markers_to_retry_.end(), op.markers.begin(), op.markers.end());
        ack_failed(std::move(op.records), true);
        return;
    }
    std::vector<ack_record> again;
    bool refused = false;
    for (std::size_t k = 0; k < op.commands.size(); ++k) {
        auto const& cmd = op.commands[k];
        auto const& reply = op.replies[k];
        if (cmd.markers_only) {
            if (reply.has_value()) {
                for (auto const& m : op.markers)
                    unflushed_done_.erase(m);
            } else {
                markers_to_retry_.insert(markers_to_retry_.end(), op.markers.begin(), op.markers.end());
                refused = true;
            }
            continue;
        }
        auto const first = op.records.begin() + static_cast<std::ptrdiff_t>(cmd.first);
        auto const last = first + static_cast<std::ptrdiff_t>(cmd.count);
        if (reply.has_value()) {
            std::for_each(first, last, [&](ack_record const& r) { ack_confirmed(r); });
            continue;
        }
        log_ack_failure(reply.error().message, cmd.count);
        if (!ack_can_succeed_later(reply.error_code())) {
            std::for_each(first, last, [&](ack_record const& r) { ack_dropped(r); });
            continue;
        }
        refused = true;
        for (auto it = first; it != last; ++it) {
            // Out of memory, the markers' SETs are refused but a plain XACK is not: ack now and
            // write the markers later, so the ack and the marker are not both lost.
            if (cmd.marked && reply.error_code() == server_errc::oom) {
                markers_to_retry_.push_back(it->marker);
                it->marker.clear();
            }
            again.push_back(std::move(*it));
        }
    }
    if (!refused) {
        ack_backoff_.reset();
        ack_failures_logged_ = 0;
    }
    if (!again.empty())
        ack_failed(std::move(again), true);
    else if (!markers_to_retry_.empty())
        ack_failed({}, true);
}

// Every failure is worth a line, but a server refusing acks for minutes must not flood the
// log: the first few, then one per 100.
void worker_impl::log_ack_failure(std::string const& text, std::size_t ids) {
    if (auto const n = ack_failures_logged_++; n >= 3 && n % 100 != 0)
        return;
    client_.get_logger().log(log_level::error,
                             fmt::format("worker {}: XACK of {} id(s) failed: {}; retrying with backoff (the messages "
                                         "stay in hand)", opts_.group, ids, text));
}

asio::awaitable<void> worker_impl::wait_acks_drained(milliseconds limit) {
    auto const end = clock::now() + limit;
    while ((!ack_queue_.empty() || acks_in_flight_ > 0) && clock::now() < end) {
        if (!ack_queue_.empty() && ack_flushes_in_flight_ == 0 && !ack_timer_armed_)
            flush_acks();
        co_await acks_signal_->wait(std::min(milliseconds{100},
                                             std::chrono::duration_cast<milliseconds>(end - clock::now()) + milliseconds{1}));
    }
}

} // namespace redstream::detail
