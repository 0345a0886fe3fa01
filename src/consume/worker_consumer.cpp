#include "consume/worker_impl.hpp"

#include "io/client_internals.hpp"
#include "io/connection_internals.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <utility>

namespace redstream::detail {

std::size_t worker_impl::stream_index(std::string_view name) const {
    for (std::size_t i = 0; i < streams_.size(); ++i)
        if (streams_[i] == name)
            return i;
    return SIZE_MAX;
}

// Waits in flow_control's queue until there is room worth a read.
asio::awaitable<std::size_t> worker_impl::acquire(consumer_state& c, std::size_t want, bool to_block) {
    while (!flow_.may_read(c.index)) {
        if (c.stopping())
            co_return 0;
        // Handed (or keeping) the blocking read: the acks left for it must not wait for room
        // that only their confirmation gives back.
        if (c.take_block || to_block)
            flush_acks();
        flow_.wait_for_room(c.index);
        bool const alive = co_await c.wake->wait(milliseconds{500});
        flow_.stop_waiting(c.index);
        if (!alive)
            co_return 0;
    }
    co_return flow_.grant(c.index, want);
}

void worker_impl::release(holder_id h, std::size_t n) {
    if (n == 0)
        return;
    flow_.release(h, n);
    wake_room_waiters();
}

bool worker_impl::read_returned(consumer_state& c, std::size_t granted, std::size_t got) {
    bool const full = flow_.read_returned(c.index, granted, got);
    if (!full)
        wake_room_waiters();
    return full;
}

void worker_impl::wake_room_waiters() {
    if (!flow_.has_waiters())
        return;
    flow_.waiters_to_wake(to_wake_);
    for (auto w : to_wake_)
        if (auto* st = state_of(w))
            st->wake->notify_all();
}

void worker_impl::wake_one() {
    ++wake_generation_;
    while (!parked_.empty()) {
        auto* c = parked_.front();
        parked_.pop_front();
        if (c->parked) {
            c->parked = false;
            c->wake->notify_all();
            return;
        }
    }
}

// A blocking read came back short: the stream is drained. Rather than wake a parked consumer
// for a plain read that can only come back empty (while this one blocks again after its
// batch), the parked consumer's next read is the blocking one, and this one parks after its
// batch: one blocking read per message, as a blocking client makes.
bool worker_impl::hand_block_over() {
    while (!parked_.empty()) {
        auto* c = parked_.front();
        parked_.pop_front();
        if (!c->parked)
            continue;
        ++wake_generation_;
        c->parked = false;
        c->take_block = true;
        block_handed_over_ = true;
        c->wake->notify_all();
        return true;
    }
    return false;
}

// A consumer handed the blocking read that will not send it (it stops): someone else must.
void worker_impl::give_back_block(consumer_state& c) {
    if (!std::exchange(c.take_block, false))
        return;
    block_handed_over_ = false;
    wake_one(); // its read finds nothing, and as nobody blocks, it blocks
}

void worker_impl::wake_all() {
    ++wake_generation_;
    for (auto* c : parked_) {
        c->parked = false;
        c->wake->notify_all();
    }
    parked_.clear();
    for (auto& [i, c] : consumers_)
        c->wake->notify_all();
    if (claimer_)
        claimer_->state().wake->notify_all();
    if (retrier_)
        retrier_->wake();
}

// Issues XREADGROUP now (not when awaited), so it travels while the previous batch is handled.
void worker_impl::start_read(consumer_state& c, std::shared_ptr<read_slot> const& s, std::size_t count, bool block) {
    s->req.clear();
    if (block)
        s->req.push("XREADGROUP", "GROUP", opts_.group, c.name, "COUNT", count, "BLOCK",
                    wake_conn_ ? opts_.dedicated_block : opts_.block_slice, "STREAMS", streams_, new_ids_);
    else
        s->req.push("XREADGROUP", "GROUP", opts_.group, c.name, "COUNT", count, "STREAMS", streams_, new_ids_);
    s->granted = count;
    s->started = true;
    s->ready.reset();
    s->wake_generation = wake_generation_;
    // Queued acks ride in the same write as the read (one syscall, one server wake-up),
    // like a hand-written [XACK, XREADGROUP] pipeline: on the wake-up connection too, in front
    // of its BLOCK.
    auto& via = block && wake_conn_ ? *wake_conn_ : conn_;
    flush_acks(via);
    ++reads_in_flight_;
    auto on_reply = [s, w = weak_from_this(), holder = c.index, block](error_code ec, std::size_t) {
        s->ec = ec;
        auto self = w.lock();
        if (self) {
            --self->reads_in_flight_;
            // In hand from the moment it arrives, while it still waits behind the batch being
            // handled: a re-read of the pending list or a claim must not hand it out again.
            if (!ec && s->reply.has_value())
                self->take_in_hand(holder, *s->reply);
        }
        if (self && block)
            self->resume_from_wakeup(holder, *s);
        else
            s->ready.set(); // last: it resumes a consumer waiting for this reply, inline
    };
    // A blocking read's reply is a wake-up: it completes inline, from the reader that parsed it
    // (connection_internals), so the consumer resumes and its handler runs before anything
    // else. Plain reads complete through post(): inline, they cost throughput at small batches
    // (COUNT 10: 0.85x -> 0.65x the hiredis pipeline, 1.3x its server CPU per message), most
    // likely because each reply resumed its consumer before the next reply of the same read
    // was marked in, so each small batch started a read and an XACK of its own.
    if (block)
        connection_internals::exec_completing_inline(via, s->req, adapt(s->reply), std::move(on_reply));
    else
        via.async_exec(s->req, adapt(s->reply), std::move(on_reply));
}

// A blocking read's reply resumes its consumer (inline, from the reader), which runs until it
// suspends: in its next blocking read when the handler returned at once, as a blocking client
// would, or inside a handler that waits for something. Only in that second case is the
// blocking read handed to a parked consumer, so that what arrives meanwhile does not wait for
// this handler. Either way it happens before the reader writes what the pass queued.
void worker_impl::resume_from_wakeup(holder_id holder, read_slot& s) {
    {
        // Restored even if what runs inside throws (a task's completion may, with bad_alloc):
        // left set, it would keep the ack timer's check deferred for good.
        struct restore {
            consumer_state*& slot;
            consumer_state* outer;
            ~restore() { slot = outer; }
        } const guard{resumed_by_wakeup_, std::exchange(resumed_by_wakeup_, state_of(holder))};
        s.ready.set(); // last use of `s`: the consumer may reuse the slot
    }
    if (auto* c = state_of(holder); c && std::exchange(c->hand_over_if_suspended, false) && hand_block_over()) {
        c->gave_block_away = true;
        c->gave_block_generation = wake_generation_;
        c->reads_after_batch = false; // its acks ride with the blocking read it handed over
    }
    if (std::exchange(ack_check_deferred_, false) && acks_.queued() > 0)
        arm_ack_timer_unless_flushed();
}

// Waits for a wake-up after an empty read. Returns false when the consumer must stop.
asio::awaitable<bool> worker_impl::park(consumer_state& c, std::uint64_t generation) {
    if (generation != wake_generation_)
        co_return !c.stopping(); // something arrived while the read travelled: read again
    c.parked = true;
    parked_.push_back(&c);
    ++stats_.parked;
    bool const alive = co_await c.wake->wait(opts_.idle_poll_interval);
    --stats_.parked;
    c.parked = false;
    std::erase(parked_, &c);
    co_return alive && !c.stopping();
}

asio::awaitable<void> worker_impl::after_read_error(consumer_state& c, error_code ec, std::string const& text,
                                                    exponential_backoff& backoff) {
    ++stats_.read_errors;
    if (ec == errc::connection_lost)
        flow_.connection_lost(reconnect_generation_); // both the reads of new messages and of our pending list
    log_read_error(c, ec, text);
    if (ec == server_errc::nogroup && opts_.recreate_group_on_nogroup) {
        try {
            co_await ensure_groups();
        } catch (std::exception const& e) {
            client_.get_logger().log(log_level::error,
                                     fmt::format("worker {}: re-creating the group failed: {}", opts_.group, e.what()));
        }
    }
    // Bounded exponential backoff; a reconnect wakes us at once.
    co_await c.wake->wait(backoff.next());
}

void worker_impl::log_read_error(consumer_state& c, error_code ec, std::string const& text) {
    auto& log = client_.get_logger();
    if (ec == server_errc::nogroup) {
        log.log(log_level::error,
                fmt::format("worker: NOGROUP: group '{}' does not exist on stream(s) {} (deleted under running "
                            "consumers?); {}",
                            opts_.group, fmt::join(streams_, ", "),
                            opts_.recreate_group_on_nogroup ? "re-creating it" : "retrying with backoff; "
                            "set recreate_group_on_nogroup to re-create it"));
    } else if (ec == server_errc::wrongtype) {
        log.log(log_level::error, fmt::format("worker {}: WRONGTYPE: a key in {} is not a stream; retrying with backoff",
                                              opts_.group, fmt::join(streams_, ", ")));
    } else if (!is_connection_error(ec)) {
        log.log(log_level::error, fmt::format("worker {}: consumer {}: read failed: {}{}{}", opts_.group, c.name,
                                              ec.message(), text.empty() ? "" : ": ", text));
    }
}

// A reader: its own pending list first (and again after every reconnect), then new messages,
// each batch handled while the next read travels.
asio::awaitable<void> worker_impl::consumer_main(std::shared_ptr<consumer_state> state) {
    auto self = shared_from_this();
    consumer_state& c = *state;
    read_cursor rc;
    rc.current = std::make_shared<read_slot>();
    rc.seen_reconnect = reconnect_generation_;
    while (!c.stopping()) {
        if (rc.drain_pending || rc.seen_reconnect != reconnect_generation_) {
            rc.seen_reconnect = reconnect_generation_;
            auto const failure = co_await drain_own_pending(c);
            // Until our own pending list has been read through (LOADING, NOGROUP, a drop), keep
            // at it with backoff: its messages would otherwise wait for min_idle and a claim.
            rc.drain_pending = static_cast<bool>(failure);
            if (failure.ec == errc::closed)
                break;
            if (failure && !c.stopping())
                co_await after_read_error(c, failure.ec, failure.text, rc.backoff);
            else
                rc.backoff.reset();
            continue;
        }
        if (!co_await read_turn(c, rc))
            break;
    }
    give_back_block(c);
    // It kept its drained blocking read (its handler did not suspend) and stops before sending
    // it: the others park only while someone blocks, so one of them must take it.
    if (rc.want_block && !blocker_active_ && !block_handed_over_)
        wake_one();
    co_await finish_travelling_reads(c, rc);
}

asio::awaitable<bool> worker_impl::read_turn(consumer_state& c, read_cursor& rc) {
    bool blocked = false;
    if (std::exchange(rc.park_next, false) && !rc.current->started && rc.ahead.empty() &&
        (block_handed_over_ || blocker_active_)) {
        // Handed the blocking read over after a short blocking read: whatever arrives goes to it.
        // Going idle, no read of ours carries the acks; the blocking read carries them in front
        // of it if it has not left yet (one write, one server wake-up per message, as with one
        // consumer). Should its consumer stop instead, the ack timer sends them.
        if (!block_handed_over_)
            flush_acks();
        co_return co_await park(c, rc.park_generation);
    }
    if (!rc.current->started) {
        std::size_t const grant = co_await acquire(c, flow_.read_size(), rc.want_block);
        if (grant == 0)
            co_return true;
        // block_slice mode: the consumer that found nothing holds the connection's one
        // bounded blocking read; pending acks are written before it. Dedicated mode: the
        // blocking read goes to the wake-up connection and the shared one never waits.
        bool const handed = std::exchange(c.take_block, false);
        blocked = (rc.want_block || handed) && block_mode_ && !blocker_active_;
        rc.want_block = false;
        if (handed)
            block_handed_over_ = false;
        if (blocked) {
            blocker_active_ = true;
            if (!wake_conn_) {
                if (handed) // the acks left for this read must not wait for the turn
                    flush_acks();
                co_await client_internals::acquire_block_turn(client_);
                flush_acks();
            }
        }
        start_read(c, rc.current, grant, blocked);
        rc.current_was_ahead = false;
    }
    bool const waited = !rc.current->ready.is_set();
    while (!rc.current->ready.is_set())
        co_await rc.current->ready.wait();
    rc.current->started = false;
    if (blocked) {
        if (!wake_conn_)
            client_internals::release_block_turn(client_);
        blocker_active_ = false;
    }
    auto& s = *rc.current;
    if (s.ec || !s.reply.has_value()) {
        release(c.index, s.granted);
        auto const ec = s.ec ? s.ec : s.reply.error_code();
        // The reads behind it most likely failed the same way; any that did not are handled.
        co_await settle_reads_ahead(c, rc);
        if (ec == errc::closed)
            co_return false;
        if (is_connection_error(ec)) {
            rc.drain_pending = true; // a lost read may have delivered entries to our PEL
            depth_.reset();
        }
        std::string const text = s.ec ? std::string{} : s.reply.error().message; // named: GCC 12, see README
        co_await after_read_error(c, ec, text, rc.backoff);
        co_return true;
    }
    rc.backoff.reset();
    std::size_t const got = s.reply->entry_count();
    ++stats_.read_replies;
    stats_.empty_reads += got == 0;
    bool const full = read_returned(c, s.granted, got);
    if (rc.current_was_ahead)
        depth_.next_read(waited, full);
    if (got == 0) {
        if (!rc.ahead.empty()) { // reads still travelling: look at them before parking
            advance(rc);
            co_return true;
        }
        co_return co_await after_empty_read(c, s, rc);
    }
    stats_.messages_read += got;
    histograms_.batch_entries.observe(static_cast<double>(got));
    bool const drained = blocked && !full;
    if (full && !parked_.empty())
        wake_one(); // there is probably more: let another consumer help
    if (full)
        start_read_ahead(c, rc);
    // A blocking read that came back short found the stream drained: a plain read after the
    // batch would only come back empty, one round trip before the next BLOCK. Another consumer
    // takes the blocking read while this one handles; with none parked, this one blocks again
    // at once after its batch.
    if (drained && resumed_by_wakeup_ == &c) {
        // Resumed from the reader: the hand-over waits to see whether the handling suspends
        // (resume_from_wakeup); an instant handler blocks again in this same pass.
        rc.want_block = true;
        c.hand_over_if_suspended = true;
    } else if (drained && hand_block_over()) {
        rc.park_next = true;
        rc.park_generation = wake_generation_;
    } else if (drained) {
        rc.want_block = true;
    }
    c.reads_after_batch = rc.want_block;
    co_await handle_batch(c, *s.reply);
    c.reads_after_batch = false;
    c.hand_over_if_suspended = false;
    if (std::exchange(c.gave_block_away, false)) {
        rc.want_block = false;
        rc.park_next = true;
        rc.park_generation = c.gave_block_generation;
    }
    advance(rc);
    co_return true;
}

// The next read sent ahead becomes the current one; with none, the current slot is free for
// the next read.
void worker_impl::advance(read_cursor& rc) {
    if (rc.ahead.empty())
        return;
    rc.spare.push_back(std::move(rc.current));
    rc.current = std::move(rc.ahead.front());
    rc.ahead.pop_front();
    rc.current_was_ahead = true;
}

asio::awaitable<bool> worker_impl::after_empty_read(consumer_state& c, read_slot const& s, read_cursor& rc) {
    flush_acks(); // going idle: no read will carry them
    if (block_mode_ && !blocker_active_) {
        rc.want_block = true;
        co_return true;
    }
    co_return co_await park(c, s.wake_generation);
}

// Read-ahead: the next batches travel while this one is handled. A short batch means the
// stream is drained: the read after handling carries this batch's acks instead. Every reader
// keeps one read ahead; more while the worker has fewer reads travelling than depth_ asks for
// and the in-flight bounds leave room.
void worker_impl::start_read_ahead(consumer_state& c, read_cursor& rc) {
    while (!c.stopping() && (rc.ahead.empty() || reads_in_flight_ < depth_.target())) {
        std::size_t const room = flow_.grant_read_ahead(c.index);
        if (room == 0)
            return;
        std::shared_ptr<read_slot> slot;
        if (rc.spare.empty()) {
            slot = std::make_shared<read_slot>();
        } else {
            slot = std::move(rc.spare.back());
            rc.spare.pop_back();
        }
        start_read(c, slot, room, false);
        rc.ahead.push_back(std::move(slot));
    }
}

// A read-ahead still travelling has already moved entries into our pending list: on a graceful
// stop handle them too (the drain deadline cancels us if that takes too long).
asio::awaitable<void> worker_impl::finish_travelling_reads(consumer_state& c, read_cursor& rc) {
    co_await settle(c, *rc.current);
    co_await settle_reads_ahead(c, rc);
}

// Waits for every read sent ahead; what they brought is handled, their unused room given back.
asio::awaitable<void> worker_impl::settle_reads_ahead(consumer_state& c, read_cursor& rc) {
    while (!rc.ahead.empty()) {
        auto slot = std::move(rc.ahead.front());
        rc.ahead.pop_front();
        co_await settle(c, *slot);
        rc.spare.push_back(std::move(slot));
    }
}

asio::awaitable<void> worker_impl::settle(consumer_state& c, read_slot& s) {
    if (!s.started)
        co_return;
    while (!s.ready.is_set())
        co_await s.ready.wait();
    s.started = false;
    if (s.ec || !s.reply.has_value()) {
        release(c.index, s.granted);
        co_return;
    }
    std::size_t const got = s.reply->entry_count();
    read_returned(c, s.granted, got);
    stats_.messages_read += got;
    co_await handle_batch(c, *s.reply);
}

} // namespace redstream::detail

namespace redstream {

worker_histograms const& worker::histograms() const noexcept { return impl_->histograms_; }

worker_stats worker::stats() const {
    auto s = impl_->stats_;
    s.consumers = impl_->running_consumers_;
    s.in_flight = impl_->flow_.in_flight();
    s.read_size = impl_->flow_.read_size();
    s.read_depth = impl_->depth_.target();
    s.reads_in_flight = impl_->reads_in_flight_;
    s.pending_acks = impl_->acks_outstanding();
    return s;
}

} // namespace redstream
