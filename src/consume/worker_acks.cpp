#include "consume/worker_impl.hpp"

#include "io/connection_internals.hpp"

#include <boost/asio/post.hpp>

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

} // namespace

/// A flush on its way: what ack_queue decided to send, and the replies.
struct ack_flush_op {
    ack_flush flush;
    request req;
    std::vector<result<std::int64_t>> replies;
};

void worker_impl::queue_ack(ack_record rec, hand_info* in_hand) {
    if (!in_hand)
        in_hand = hand_.find(rec.stream, rec.id);
    if (in_hand)
        in_hand->acking = true; // from now on the ack's confirmation lets it go
    // The queue reads the time only to stamp its first record: spare the clock otherwise.
    auto const now = acks_.queued() == 0 ? clock::now() : clock::time_point{};
    if (acks_.push(std::move(rec), now))
        flush_acks();
    else
        arm_ack_timer_unless_flushed();
}

// Most acks leave within microseconds, riding with the consumer's next read; arming the flush
// timer for each and cancelling it at the flush cost two timerfd_settime calls per message
// (the timer is the reactor's earliest). So the timer is armed only if the acks are still
// queued once the running coroutines have yielded to the event loop.
void worker_impl::arm_ack_timer_unless_flushed() {
    if (ack_timer_armed_ || ack_timer_check_posted_)
        return;
    if (resumed_by_wakeup_) { // checked when that resumption ends, before the reader's write
        ack_check_deferred_ = true;
        return;
    }
    ack_timer_check_posted_ = true;
    asio::post(ack_timer_.get_executor(), [w = weak_from_this()] {
        auto self = w.lock();
        if (!self)
            return;
        self->ack_timer_check_posted_ = false;
        if (self->acks_.queued() > 0)
            self->arm_ack_timer();
    });
}

void worker_impl::arm_ack_timer() {
    if (ack_timer_armed_)
        return;
    ack_timer_armed_ = true;
    ack_timer_.expires_after(acks_.timer_delay());
    ack_timer_.async_wait([w = weak_from_this()](error_code ec) {
        auto self = w.lock();
        if (!self)
            return;
        self->ack_timer_armed_ = false;
        if (ec != asio::error::operation_aborted)
            self->flush_acks();
    });
}

void worker_impl::flush_acks() { flush_acks(conn_); }

// Sends every queued ack now, pipelined behind whatever is in flight (ack_queue decides what).
// `via` is the shared connection, or the wake-up connection when the acks ride in front of a
// blocking read there: one write (and one wake-up of the server) for both.
void worker_impl::flush_acks(connection& via) {
    if (acks_.idle())
        return;
    if (ack_timer_armed_) {
        ack_timer_.cancel();
        ack_timer_armed_ = false;
    }
    auto op = std::make_shared<ack_flush_op>();
    op->flush = acks_.take(streams_.size(), clock::now());
    if (!op->flush.records.empty())
        histograms_.ack_flush_delay_seconds.observe(std::chrono::duration<double>(op->flush.oldest_wait).count());
    op->req.get_options().wait_for_connection = milliseconds{1000};
    write_flush(op->flush, op->req);
    ++stats_.ack_batches;
    bool const on_wake_conn = &via != &conn_;
    auto done = [w = weak_from_this(), op, on_wake_conn](error_code ec, std::size_t) {
        // The worker closes its wake-up connection to end a BLOCK (at shutdown, or leaving the
        // dedicated mode); acks on it are not lost with it but sent again, on the shared one
        // (XACK is idempotent).
        if (on_wake_conn && ec == errc::closed)
            ec = make_error_code(errc::connection_lost);
        if (auto self = w.lock())
            self->ack_flush_done(op, ec);
    };
    // In front of a blocking read, the XACK's reply comes alone, while the BLOCK waits: posted,
    // its confirmation would cost a scheduler pass and a reactor poll per message. It only
    // updates state (and gives room back), so it may run from the reader.
    if (on_wake_conn)
        connection_internals::exec_completing_inline(via, op->req, adapt_each(op->replies), std::move(done));
    else
        via.async_exec(op->req, adapt_each(op->replies), std::move(done));
}

void worker_impl::write_flush(ack_flush const& f, request& r) const {
    std::vector<stream_id> ids;
    std::vector<std::string_view> keys;
    for (auto const& cmd : f.commands) {
        if (cmd.markers_only) {
            r.push("EVAL", mark_done_script, f.markers.size(), f.markers, opts_.idempotency.ttl);
            continue;
        }
        ids.clear();
        keys.clear();
        for (std::size_t i = cmd.first; i < cmd.first + cmd.count; ++i) {
            ids.push_back(f.records[i].id);
            if (cmd.marked)
                keys.push_back(f.records[i].marker);
        }
        auto const& stream = streams_[cmd.stream];
        if (cmd.marked)
            r.push("EVAL", ack_and_mark_script, keys.size() + 1, stream, keys, opts_.group, opts_.idempotency.ttl, ids);
        else
            r.push("XACK", stream, opts_.group, ids);
    }
}

void worker_impl::ack_flush_done(std::shared_ptr<ack_flush_op> op, error_code ec) {
    acks_signal_->notify_all();
    auto report = acks_.completed(std::move(op->flush), ec, op->replies, clock::now());
    stats_.acked += report.confirmed.size();
    for (auto const* list : {&report.confirmed, &report.dropped})
        for (auto const& r : *list)
            let_go(r.holder, r.stream, r.id);
    for (auto const& [text, ids] : report.to_log)
        client_.get_logger().log(log_level::error,
                                 fmt::format("worker {}: XACK of {} id(s) failed: {}; retrying with backoff (the "
                                             "messages stay in hand)", opts_.group, ids, text));
    if (report.retry_later)
        arm_ack_timer();
}

asio::awaitable<void> worker_impl::wait_acks_drained(milliseconds limit) {
    auto const end = clock::now() + limit;
    while (acks_outstanding() > 0 && clock::now() < end) {
        if (acks_.queued() > 0 && acks_.flushes_in_flight() == 0 && !ack_timer_armed_)
            flush_acks();
        co_await acks_signal_->wait(std::min(milliseconds{100},
                                             std::chrono::duration_cast<milliseconds>(end - clock::now()) + milliseconds{1}));
    }
}

} // namespace redstream::detail
