// The messages this process holds, and the keeper that stops them looking idle while they wait.

#include "consume/worker_impl.hpp"

#include "io/use_tuple.hpp"

#include <algorithm>
#include <map>
#include <tuple>

namespace redstream::detail {

void worker_impl::take_in_hand(std::size_t consumer, read_reply const& r) {
    auto const now = clock::now();
    for (auto const& batch : r.streams) {
        std::size_t const si = stream_index(batch.stream());
        if (si == SIZE_MAX)
            continue;
        for (std::size_t i = 0; i < batch.size(); ++i)
            in_hand_.insert_or_assign({si, batch[i].id()}, hand_info{consumer, now});
    }
}

void worker_impl::touch_held(std::size_t stream, entry_batch const& batch) {
    auto const now = clock::now();
    for (std::size_t i = 0; i < batch.size(); ++i)
        if (auto* h = held(stream, batch[i].id()))
            h->since = now;
}

std::size_t worker_impl::take_fresh(consumer_state& c, std::size_t stream, entry_batch const& batch,
                                    delivery_plan& plan) {
    auto const now = clock::now();
    std::size_t fresh = 0;
    for (std::size_t i = 0; i < batch.size(); ++i) {
        if (plan[i] == 0)
            continue;
        if (!in_hand_.try_emplace({stream, batch[i].id()}, hand_info{c.index, now}).second) {
            plan[i] = 0; // running, queued or awaiting its ack here (touch_held saw its re-delivery)
            continue;
        }
        ++fresh;
    }
    in_flight_ += fresh;
    c.in_flight += fresh;
    return fresh;
}

void worker_impl::let_go(std::size_t consumer, std::size_t stream, stream_id id) {
    in_hand_.erase({stream, id});
    release(consumer, 1);
}

hand_info* worker_impl::held(std::size_t stream, stream_id id) {
    auto it = in_hand_.find({stream, id});
    return it == in_hand_.end() ? nullptr : &it->second;
}

bool worker_impl::taken_over(std::size_t stream, stream_id id) {
    auto const* h = held(stream, id);
    return h && h->lost;
}

asio::awaitable<bool> worker_impl::still_ours(std::size_t stream, stream_id id) {
    if (auto const* h = held(stream, id); h && !h->lost && clock::now() - h->since > opts_.min_idle * 3 / 4)
        co_await refresh_waiting_entries();
    co_return !taken_over(stream, id);
}

void worker_impl::release_held_by(std::size_t holder) {
    for (auto it = in_hand_.begin(); it != in_hand_.end();) {
        if (it->second.consumer == holder && !it->second.acking) {
            it = in_hand_.erase(it);
            release(holder, 1);
        } else {
            ++it;
        }
    }
}

// A consumer handles its batch one message at a time, with a read-ahead batch behind it: the
// k-th message waits about k handler times, and an ack may wait on a refusing server. So that
// no claim loop (this process's or another's) takes a message that is only waiting, the keeper
// resets the idle time of every waiting message once it passes min_idle / 4, checking every
// min_idle / 8: a message starts its handler at most 3/8 of min_idle idle, so a handler that
// takes less than the remaining 5/8 is not claimed by anyone either.
asio::awaitable<void> worker_impl::keeper_loop(std::shared_ptr<consumer_state> state) {
    auto self = shared_from_this();
    consumer_state& c = *state;
    auto const period = std::max(opts_.min_idle / 8, milliseconds{10});
    while (!c.stopping) {
        co_await c.wake->wait(period);
        if (!c.stopping)
            co_await refresh_waiting_entries();
    }
}

// XCLAIM <holder> <min-idle> ids JUSTID resets the idle time without counting a delivery, and
// only for the ids still idle that long. The server's idle time counts from the delivery (or
// the last reset), which came before our `since`: a message still ours has been idle at least
// now - since; one another process claimed meanwhile has been idle for less, comes back
// missing, and is marked lost so that its holder skips it.
asio::awaitable<void> worker_impl::refresh_waiting_entries() {
    auto const now = clock::now();
    using group_key = std::tuple<std::size_t, std::size_t, clock::time_point>; // holder, stream, since
    std::map<group_key, std::vector<stream_id>> groups;
    for (auto const& [k, h] : in_hand_)
        if (!h.handling && !h.lost && now - h.since > opts_.min_idle / 4)
            groups[{h.consumer, k.stream, h.since}].push_back(k.id);
    request r;
    std::vector<std::pair<std::size_t, std::vector<stream_id>>> sent; // stream, ids
    for (auto& [key, ids] : groups) {
        auto const [holder, stream, since] = key;
        auto const* st = state_of(holder);
        if (!st)
            continue;
        auto const waited = std::chrono::duration_cast<milliseconds>(now - since);
        r.push("XCLAIM", streams_[stream], opts_.group, st->name, waited, ids, "JUSTID");
        sent.emplace_back(stream, std::move(ids));
    }
    if (sent.empty())
        co_return;
    std::vector<result<std::vector<stream_id>>> replies;
    auto [ec, n] = co_await conn_.async_exec(r, adapt_each(replies), use_tuple);
    if (ec || replies.size() != sent.size())
        co_return; // cannot tell: the next round tries again
    auto const reset_at = clock::now(); // after the server ran the XCLAIMs
    for (std::size_t g = 0; g < sent.size(); ++g) {
        if (!replies[g].has_value())
            continue;
        auto& kept = *replies[g];
        std::sort(kept.begin(), kept.end());
        auto const& [stream, ids] = sent[g];
        for (auto id : ids) {
            auto* h = held(stream, id);
            // Gone, started, or re-delivered to us while the XCLAIM travelled (our own re-read or
            // claim reset its idle time, so its absence from the reply says nothing).
            if (!h || h->handling || h->since > now)
                continue;
            if (std::binary_search(kept.begin(), kept.end(), id))
                h->since = reset_at;
            else
                h->lost = true;
        }
    }
}

} // namespace redstream::detail
