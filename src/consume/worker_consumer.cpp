#include "consume/worker_impl.hpp"

#include "io/client_internals.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace redstream::detail {

std::size_t worker_impl::stream_index(std::string_view name) const {
    for (std::size_t i = 0; i < streams_.size(); ++i)
        if (streams_[i] == name)
            return i;
    return SIZE_MAX;
}

std::size_t worker_impl::available(consumer_state const& c) const {
    std::size_t const worker_room = opts_.max_in_flight > in_flight_ ? opts_.max_in_flight - in_flight_ : 0;
    std::size_t const own_room =
        opts_.max_in_flight_per_consumer > c.in_flight ? opts_.max_in_flight_per_consumer - c.in_flight : 0;
    return std::min(worker_room, own_room);
}

// The least room worth a read: waiting for half a batch keeps reads large (each XREADGROUP
// costs the server about as much as several entries) without idling a consumer for long.
// A connection the server closes while reads are in flight may have closed because of them:
// client-output-buffer-limit counts every reply owed to the client, and a limit smaller than
// the worker's reads would otherwise close every connection before any read arrives. So the
// read size is halved once per lost connection and grows back by an eighth per full read
// (AIMD): a worker under such a limit keeps making progress, one that only met a network drop
// is back to its batch after a few reads.
void worker_impl::shrink_reads_after_drop() {
    if (shrunk_generation_ == reconnect_generation_)
        return;
    shrunk_generation_ = reconnect_generation_;
    read_size_ = std::max<std::size_t>(1, read_size_ / 2);
}

void worker_impl::grow_reads() {
    if (read_size_ < opts_.batch)
        read_size_ = std::min(opts_.batch, read_size_ + std::max<std::size_t>(1, read_size_ / 8));
}

std::size_t worker_impl::read_threshold() const {
    return std::max<std::size_t>(1, std::min({opts_.batch, opts_.max_in_flight_per_consumer, opts_.max_in_flight}) / 2);
}

asio::awaitable<std::size_t> worker_impl::acquire(consumer_state& c, std::size_t want) {
    while (available(c) < read_threshold()) {
        if (c.stopping)
            co_return 0;
        capacity_waiters_.push_back(&c);
        bool const alive = co_await c.wake->wait(milliseconds{500});
        std::erase(capacity_waiters_, &c);
        if (!alive)
            co_return 0;
    }
    std::size_t const grant = std::min(want, available(c));
    in_flight_ += grant;
    c.in_flight += grant;
    co_return grant;
}

void worker_impl::release(std::size_t consumer, std::size_t n) {
    if (n == 0)
        return;
    in_flight_ -= std::min(n, in_flight_);
    if (auto* c = state_of(consumer))
        c->in_flight -= std::min(n, c->in_flight);
    wake_capacity_waiters();
}

// Wakes, oldest first, only as many waiting consumers as the freed room can serve: with a
// thousand consumers at the in-flight bound, waking all of them on every release would cost
// more than the messages.
void worker_impl::wake_capacity_waiters() {
    std::size_t budget = opts_.max_in_flight > in_flight_ ? opts_.max_in_flight - in_flight_ : 0;
    std::size_t const threshold = read_threshold();
    for (auto it = capacity_waiters_.begin(); it != capacity_waiters_.end() && budget >= threshold;) {
        consumer_state& c = **it;
        std::size_t const room = std::min(available(c), budget);
        if (room < threshold) {
            ++it;
            continue;
        }
        budget -= std::min(room, read_size_);
        c.wake->notify_all();
        it = capacity_waiters_.erase(it);
    }
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

void worker_impl::wake_all() {
    ++wake_generation_;
    for (auto* c : parked_) {
        c->parked = false;
        c->wake->notify_all();
    }
    parked_.clear();
    for (auto& [i, c] : consumers_)
        c->wake->notify_all();
    for (auto* c : {claimer_.get(), retrier_.get()})
        if (c)
            c->wake->notify_all();
    retry_signal_->notify_all();
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
    s->done = false;
    s->wake_generation = wake_generation_;
    // Queued acks ride in the same write as the read (one syscall, one server wake-up),
    // like a hand-written [XACK, XREADGROUP] pipeline.
    flush_acks();
    ++reads_in_flight_;
    auto& via = block && wake_conn_ ? *wake_conn_ : conn_;
    via.async_exec(s->req, adapt(s->reply), [s, w = weak_from_this(), holder = c.index](error_code ec, std::size_t) {
        s->ec = ec;
        s->done = true;
        s->ready.notify_all();
        if (auto self = w.lock()) {
            --self->reads_in_flight_;
            // In hand from the moment it arrives, while it still waits behind the batch being
            // handled: a re-read of the pending list or a claim must not hand it out again.
            if (!ec && s->reply.has_value())
                self->take_in_hand(holder, *s->reply);
        }
    });
}

// Waits for a wake-up after an empty read. Returns false when the consumer must stop.
asio::awaitable<bool> worker_impl::park(consumer_state& c, std::uint64_t generation) {
    if (generation != wake_generation_)
        co_return !c.stopping; // something arrived while the read travelled: read again
    c.parked = true;
    parked_.push_back(&c);
    ++stats_.parked;
    bool const alive = co_await c.wake->wait(opts_.idle_poll_interval);
    --stats_.parked;
    c.parked = false;
    std::erase(parked_, &c);
    co_return alive && !c.stopping;
}

asio::awaitable<void> worker_impl::after_read_error(consumer_state& c, error_code ec, std::string const& text,
                                                    exponential_backoff& backoff) {
    ++stats_.read_errors;
    if (ec == errc::connection_lost)
        shrink_reads_after_drop(); // both the reads of new messages and of our pending list
    auto& log = client_.get_logger();
    if (ec == server_errc::nogroup) {
        log.log(log_level::error,
                fmt::format("worker: NOGROUP: group '{}' does not exist on stream(s) {} (deleted under running "
                            "consumers?); {}",
                            opts_.group, fmt::join(streams_, ", "),
                            opts_.recreate_group_on_nogroup ? "re-creating it" : "retrying with backoff; "
                            "set recreate_group_on_nogroup to re-create it"));
        if (opts_.recreate_group_on_nogroup) {
            try {
                co_await ensure_groups();
            } catch (std::exception const& e) {
                log.log(log_level::error, fmt::format("worker {}: re-creating the group failed: {}", opts_.group, e.what()));
            }
        }
    } else if (ec == server_errc::wrongtype) {
        log.log(log_level::error, fmt::format("worker {}: WRONGTYPE: a key in {} is not a stream; retrying with backoff",
                                              opts_.group, fmt::join(streams_, ", ")));
    } else if (!is_connection_error(ec)) {
        log.log(log_level::error, fmt::format("worker {}: consumer {}: read failed: {}{}{}", opts_.group, c.name,
                                              ec.message(), text.empty() ? "" : ": ", text));
    }
    // Bounded exponential backoff; a reconnect wakes us at once.
    co_await c.wake->wait(backoff.next());
}

asio::awaitable<void> worker_impl::consumer_main(std::shared_ptr<consumer_state> state) {
    auto self = shared_from_this();
    consumer_state& c = *state;
    auto ex = co_await asio::this_coro::executor;
    std::shared_ptr<read_slot> current = std::make_shared<read_slot>(ex);
    std::shared_ptr<read_slot> ahead = std::make_shared<read_slot>(ex);
    std::uint64_t seen_reconnect = reconnect_generation_;
    bool drain_pending = true; // start with our own pending list
    bool want_block = false;
    exponential_backoff backoff{milliseconds{50}, milliseconds{2000}};

    while (!c.stopping) {
        if (drain_pending || seen_reconnect != reconnect_generation_) {
            seen_reconnect = reconnect_generation_;
            auto const failure = co_await drain_own_pending(c);
            // Until our own pending list has been read through (LOADING, NOGROUP, a drop), keep
            // at it with backoff: its messages would otherwise wait for min_idle and a claim.
            drain_pending = static_cast<bool>(failure);
            if (failure.ec == errc::closed)
                break;
            if (failure && !c.stopping)
                co_await after_read_error(c, failure.ec, failure.text, backoff);
            else
                backoff.reset();
            continue;
        }
        bool blocked = false;
        if (!current->started) {
            std::size_t const grant = co_await acquire(c, read_size_);
            if (grant == 0)
                continue;
            // block_slice mode: the consumer that found nothing holds the connection's one
            // bounded blocking read; pending acks are written before it. Dedicated mode: the
            // blocking read goes to the wake-up connection and the shared one never waits.
            blocked = want_block && block_mode_ && !blocker_active_;
            want_block = false;
            if (blocked) {
                blocker_active_ = true;
                if (!wake_conn_) {
                    co_await client_internals::acquire_block_turn(client_);
                    flush_acks();
                }
            }
            start_read(c, current, grant, blocked);
        }
        while (!current->done)
            co_await current->ready.wait();
        current->started = false;
        if (blocked) {
            if (!wake_conn_)
                client_internals::release_block_turn(client_);
            blocker_active_ = false;
        }

        if (current->ec || !current->reply.has_value()) {
            release(c.index, current->granted);
            auto ec = current->ec ? current->ec : current->reply.error_code();
            auto text = current->ec ? std::string{} : current->reply.error().message;
            if (ec == errc::closed)
                break;
            if (is_connection_error(ec))
                drain_pending = true; // a lost read may have delivered entries to our PEL
            co_await after_read_error(c, ec, text, backoff);
            continue;
        }
        backoff.reset();
        auto& reply = *current->reply;
        std::size_t const got = reply.entry_count();
        ++stats_.read_replies;
        stats_.empty_reads += got == 0;
        release(c.index, current->granted - std::min(got, current->granted));
        if (got == 0) {
            flush_acks(); // going idle: no read will carry them
            if (block_mode_ && !blocker_active_) {
                want_block = true;
                continue;
            }
            if (!co_await park(c, current->wake_generation))
                break;
            continue;
        }
        stats_.messages_read += got;
        histograms_.batch_entries.observe(static_cast<double>(got));
        if (got >= current->granted)
            grow_reads();
        if ((got >= current->granted || blocked) && !parked_.empty())
            wake_one(); // there is probably more: let another consumer help
        // Read-ahead: the next batch travels while this one is handled. A short batch means
        // the stream is drained: the read after handling will carry this batch's acks instead.
        if (!c.stopping && got >= current->granted) {
            if (std::size_t const room = std::min(available(c), read_size_); room >= read_threshold()) {
                in_flight_ += room;
                c.in_flight += room;
                start_read(c, ahead, room, false);
            }
        }
        co_await handle_batch(c, reply);
        std::swap(current, ahead);
    }
    // A read-ahead still travelling has already moved entries into our pending list: on a
    // graceful stop handle them too (the drain deadline cancels us if that takes too long).
    for (auto* s : {current.get(), ahead.get()}) {
        if (!s->started)
            continue;
        while (!s->done)
            co_await s->ready.wait();
        s->started = false;
        if (s->ec || !s->reply.has_value()) {
            release(c.index, s->granted);
            continue;
        }
        std::size_t const got = s->reply->entry_count();
        release(c.index, s->granted - std::min(got, s->granted));
        stats_.messages_read += got;
        co_await handle_batch(c, *s->reply);
    }
}

} // namespace redstream::detail

namespace redstream {

worker_histograms const& worker::histograms() const noexcept { return impl_->histograms_; }

worker_stats worker::stats() const {
    auto s = impl_->stats_;
    s.consumers = impl_->running_consumers_;
    s.in_flight = impl_->in_flight_;
    s.read_size = impl_->read_size_;
    s.pending_acks = impl_->ack_queue_.size() + impl_->acks_in_flight_;
    return s;
}

} // namespace redstream
