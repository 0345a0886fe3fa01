// The messages this process holds, and the keeper that stops them looking idle while they wait.

#include "consume/worker_impl.hpp"

#include "io/use_tuple.hpp"

#include <algorithm>

namespace redstream::detail {

void worker_impl::take_in_hand(holder_id h, read_reply const& r) {
    auto const now = clock::now();
    for (auto const& batch : r.streams)
        if (std::size_t const si = stream_index(batch.stream()); si != SIZE_MAX)
            hand_.take_read(h, si, batch, now);
}

void worker_impl::touch_held(std::size_t stream, entry_batch const& batch) { hand_.touch(stream, batch, clock::now()); }

std::size_t worker_impl::take_fresh(consumer_state& c, std::size_t stream, entry_batch const& batch,
                                    delivery_plan& plan) {
    std::size_t const fresh = hand_.take_fresh(c.index, stream, batch, plan, clock::now());
    flow_.take(c.index, fresh);
    return fresh;
}

void worker_impl::let_go(holder_id h, std::size_t stream, stream_id id) {
    hand_.let_go(stream, id);
    release(h, 1);
}

asio::awaitable<bool> worker_impl::still_ours(std::size_t stream, stream_id id) {
    if (hand_.needs_check(stream, id, clock::now()))
        co_await refresh_waiting_entries();
    co_return !hand_.taken_over(stream, id);
}

void worker_impl::release_held_by(holder_id h) { release(h, hand_.release_held_by(h)); }

// A consumer handles its batch one message at a time, with a read-ahead batch behind it: the
// k-th message waits about k handler times, and an ack may wait on a refusing server. So that
// no claim loop (this process's or another's) takes a message that is only waiting, the keeper
// resets the idle time of every waiting message once it passes min_idle / 4, checking every
// min_idle / 8: a message starts its handler at most 3/8 of min_idle idle, so a handler that
// takes less than the remaining 5/8 is not claimed by anyone either.
// XCLAIM <holder> <min-idle> ids JUSTID resets the idle time without counting a delivery, and
// only for the ids still idle that long (hand_registry::refreshed() reads the answer).
asio::awaitable<void> worker_impl::refresh_waiting_entries() {
    auto const sent_at = clock::now();
    auto groups = hand_.waiting_to_refresh(sent_at);
    request r;
    std::vector<refresh_group const*> sent;
    for (auto const& g : groups) {
        if (auto const* st = state_of(g.holder)) {
            r.push("XCLAIM", streams_[g.stream], opts_.group, st->name, g.waited, g.ids, "JUSTID");
            sent.push_back(&g);
        }
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
        std::sort(replies[g]->begin(), replies[g]->end());
        hand_.refreshed(*sent[g], *replies[g], sent_at, reset_at);
    }
}

} // namespace redstream::detail
