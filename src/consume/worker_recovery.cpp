#include "consume/worker_impl.hpp"

#include "io/use_tuple.hpp"

#include <fmt/format.h>

namespace redstream::detail {

// Reads and handles this consumer's own pending list (entries delivered before a crash, a
// restart or a lost connection). XPENDING and XREADGROUP ... <id> go in one request: XPENDING
// gives each entry's delivery count, which the read then increments. Acks not yet confirmed
// go first in the same write, and entries this process holds are skipped: neither is handed
// out twice.
asio::awaitable<read_failure> worker_impl::drain_own_pending(consumer_state& c) {
    for (std::size_t si = 0; si < streams_.size() && !c.stopping; ++si) {
        std::optional<stream_id> after;
        while (!c.stopping) {
            flush_acks();
            request r;
            std::string const start = after ? "(" + after->to_string() : std::string{"-"};
            std::string const from = after ? after->to_string() : std::string{"0"};
            r.push("XPENDING", streams_[si], opts_.group, start, "+", read_size_, c.name);
            r.push("XREADGROUP", "GROUP", opts_.group, c.name, "COUNT", read_size_, "STREAMS", streams_[si], from);
            result<std::vector<pending_entry>> rows;
            result<read_reply> entries;
            auto [ec, n] = co_await conn_.async_exec(r, adapt(rows, entries), use_tuple);
            if (ec)
                co_return read_failure{ec};
            if (!rows.has_value())
                co_return read_failure{rows.error_code(), rows.error().message};
            if (!entries.has_value())
                co_return read_failure{entries.error_code(), entries.error().message};
            std::size_t const got = entries->entry_count();
            if (got == 0)
                break;
            auto const& batch = entries->streams.front();
            after = batch[batch.size() - 1].id();
            touch_held(si, batch);
            stats_.messages_read += got;
            std::map<stream_id, std::uint64_t> counted;
            for (auto const& row : *rows)
                counted[row.id] = row.deliveries + 1;
            delivery_plan plan(batch.size(), 0);
            bool all_known = true;
            for (std::size_t i = 0; i < batch.size(); ++i) {
                auto it = counted.find(batch[i].id());
                all_known = all_known && it != counted.end();
                plan[i] = it == counted.end() ? 0 : it->second;
            }
            // Another client changed the list between the two commands: ask for exactly these.
            if (!all_known)
                plan = co_await exact_deliveries(si, c.name, batch);
            if (take_fresh(c, si, batch, plan) > 0)
                co_await handle_entries(c, batch, plan);
        }
    }
    co_return read_failure{};
}

asio::awaitable<delivery_plan> worker_impl::exact_deliveries(std::size_t stream, std::string const& consumer,
                                                             entry_batch const& batch) {
    request r;
    for (std::size_t i = 0; i < batch.size(); ++i)
        r.push("XPENDING", streams_[stream], opts_.group, batch[i].id(), batch[i].id(), 1, consumer);
    std::vector<result<std::vector<pending_entry>>> rows;
    auto [ec, n] = co_await conn_.async_exec(r, adapt_each(rows), use_tuple);
    delivery_plan plan(batch.size(), 0); // unknown: not handled now (it stays in our list)
    if (ec || rows.size() != batch.size())
        co_return plan;
    for (std::size_t i = 0; i < batch.size(); ++i)
        if (rows[i].has_value() && !rows[i]->empty() && rows[i]->front().id == batch[i].id())
            plan[i] = rows[i]->front().deliveries;
    co_return plan;
}

// One XAUTOCLAIM scan of a stream, following its cursor. Delivery counts come from XPENDING
// for exactly the claimed ids (XAUTOCLAIM has counted this delivery already); an id that is
// no longer ours, or that this process holds, is not handled.
asio::awaitable<void> worker_impl::claim_round(consumer_state& c, std::size_t si) {
    stream_id cursor{0, 0};
    do {
        request r;
        r.push("XAUTOCLAIM", streams_[si], opts_.group, c.name, opts_.min_idle, cursor, "COUNT", opts_.claim_batch);
        result<autoclaim_reply> claimed;
        auto [ec, n] = co_await conn_.async_exec(r, adapt(claimed), use_tuple);
        if (ec || !claimed.has_value())
            co_return;
        auto& batch = claimed->claimed;
        batch.set_stream(streams_[si]);
        touch_held(si, batch);
        cursor = claimed->next_cursor;
        if (batch.empty())
            continue;
        auto plan = co_await exact_deliveries(si, c.name, batch);
        std::size_t const fresh = take_fresh(c, si, batch, plan);
        if (fresh == 0)
            continue;
        stats_.claimed += fresh;
        client_.get_logger().log(log_level::info, fmt::format("worker {}: claimed {} idle message(s) on {}",
                                                              opts_.group, fresh, streams_[si]));
        co_await handle_entries(c, batch, plan);
    } while (cursor != stream_id{0, 0} && !c.stopping);
}

// Takes over messages idle for min_idle in any consumer (crashed or stuck) and handles them as
// this worker's claim consumer. Its own pending list is re-read at start and after every
// reconnect: a claim whose reply was lost left entries there.
asio::awaitable<void> worker_impl::claim_loop(std::shared_ptr<consumer_state> state) {
    auto self = shared_from_this();
    consumer_state& c = *state;
    std::optional<std::uint64_t> drained_at;
    while (!c.stopping) {
        if (drained_at != reconnect_generation_) {
            auto const generation = reconnect_generation_;
            if (!co_await drain_own_pending(c))
                drained_at = generation;
        }
        for (std::size_t si = 0; si < streams_.size() && !c.stopping; ++si)
            co_await claim_round(c, si);
        co_await c.wake->wait(opts_.claim_interval);
    }
}

void worker_impl::schedule_retry(std::size_t stream, stream_id id, std::uint64_t deliveries, milliseconds delay) {
    // Bounded: beyond this the claim loop redelivers after min_idle instead.
    if (retries_.size() >= opts_.max_in_flight)
        return;
    retries_.push({clock::now() + delay, stream, id, deliveries, delay / 2});
    retry_signal_->notify_all();
}

// Redelivers retry_after() messages when due: XCLAIM moves each to the retry consumer (only if
// idle at least half its delay, so a message another process took meanwhile is left alone).
// Like the claim loop, it re-reads its own pending list at start and after every reconnect.
asio::awaitable<void> worker_impl::retry_loop(std::shared_ptr<consumer_state> state) {
    auto self = shared_from_this();
    consumer_state& c = *state;
    std::optional<std::uint64_t> drained_at;
    while (!c.stopping) {
        if (drained_at != reconnect_generation_) {
            auto const generation = reconnect_generation_;
            if (!co_await drain_own_pending(c))
                drained_at = generation;
        }
        if (retries_.empty()) {
            co_await retry_signal_->wait(milliseconds{1000});
            continue;
        }
        auto const due = retries_.top().due;
        auto const now = clock::now();
        if (due > now) {
            co_await retry_signal_->wait(std::chrono::duration_cast<milliseconds>(due - now) + milliseconds{1});
            continue;
        }
        auto item = retries_.top();
        retries_.pop();
        request r;
        r.push("XCLAIM", streams_[item.stream], opts_.group, c.name, item.min_idle, item.id);
        entry_batch claimed;
        auto [ec, n] = co_await conn_.async_exec(r, adapt(claimed), use_tuple);
        if (ec || claimed.empty())
            continue; // gone, acked or taken by someone else: nothing to redeliver
        claimed.set_stream(streams_[item.stream]);
        touch_held(item.stream, claimed);
        auto plan = co_await exact_deliveries(item.stream, c.name, claimed);
        if (take_fresh(c, item.stream, claimed, plan) > 0)
            co_await handle_entries(c, claimed, plan);
    }
}

} // namespace redstream::detail
