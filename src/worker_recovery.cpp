#include "worker_impl.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

namespace redstream::detail {

namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

} // namespace

// Reads and handles this consumer's own pending list (entries delivered before a crash, a
// restart or a lost connection). XPENDING and XREADGROUP ... <id> go in one request: XPENDING
// gives each entry's delivery count, which the read then increments.
asio::awaitable<read_failure> worker_impl::drain_own_pending(std::string const& name, std::size_t consumer_index,
                                                             bool const& stopping) {
    for (std::size_t si = 0; si < streams_.size() && !stopping; ++si) {
        std::optional<stream_id> after;
        while (!stopping) {
            request r;
            std::string const start = after ? "(" + after->to_string() : std::string{"-"};
            std::string const from = after ? after->to_string() : std::string{"0"};
            r.push("XPENDING", streams_[si], opts_.group, start, "+", read_size_, name);
            r.push("XREADGROUP", "GROUP", opts_.group, name, "COUNT", read_size_, "STREAMS", streams_[si], from);
            result<std::vector<pending_entry>> rows;
            result<read_reply> entries;
            auto [ec, n] = co_await conn_.async_exec(r, adapt(rows, entries), tuple_awaitable);
            if (ec)
                co_return read_failure{ec};
            if (!rows.has_value())
                co_return read_failure{rows.error_code(), rows.error().message};
            if (!entries.has_value())
                co_return read_failure{entries.error_code(), entries.error().message};
            std::size_t const got = entries->entry_count();
            if (got == 0)
                break;
            std::map<stream_id, std::uint64_t> deliveries;
            for (auto const& row : *rows)
                deliveries[row.id] = row.deliveries + 1;
            in_flight_ += got;
            if (auto it = consumers_.find(consumer_index); it != consumers_.end())
                it->second->in_flight += got;
            stats_.read += got;
            auto const& batch = entries->streams.front();
            after = batch[batch.size() - 1].id();
            co_await handle_batch(name, consumer_index, *entries, &deliveries);
        }
    }
    co_return read_failure{};
}

// Takes over messages idle for min_idle in any consumer (crashed or stuck), following the
// XAUTOCLAIM cursor, and handles them as this worker's claim consumer.
asio::awaitable<void> worker_impl::claim_loop(consumer_state& c) {
    auto self = shared_from_this();
    // A failed drain is not retried here: the claim scans below take those messages after
    // min_idle like anyone else's.
    (void)co_await drain_own_pending(c.name, SIZE_MAX, c.stopping);
    while (!c.stopping) {
        for (std::size_t si = 0; si < streams_.size() && !c.stopping; ++si) {
            stream_id cursor{0, 0};
            do {
                request r;
                r.push("XAUTOCLAIM", streams_[si], opts_.group, c.name, opts_.min_idle, cursor, "COUNT",
                       opts_.claim_batch);
                result<autoclaim_reply> claimed;
                auto [ec, n] = co_await conn_.async_exec(r, adapt(claimed), tuple_awaitable);
                if (ec || !claimed.has_value())
                    break;
                auto& batch = claimed->claimed;
                batch.set_stream(streams_[si]);
                cursor = claimed->next_cursor;
                if (batch.empty())
                    continue;
                // XAUTOCLAIM already counted this delivery; XPENDING tells the total.
                request counts;
                counts.push("XPENDING", streams_[si], opts_.group, batch[0].id(), batch[batch.size() - 1].id(),
                            batch.size(), c.name);
                result<std::vector<pending_entry>> rows;
                auto [cec, cn] = co_await conn_.async_exec(counts, adapt(rows), tuple_awaitable);
                std::map<stream_id, std::uint64_t> deliveries;
                if (!cec && rows.has_value())
                    for (auto const& row : *rows)
                        deliveries[row.id] = row.deliveries;
                stats_.claimed += batch.size();
                in_flight_ += batch.size();
                c.in_flight += batch.size();
                client_.get_logger().log(log_level::info, fmt::format("worker {}: claimed {} idle message(s) on {}",
                                                                      opts_.group, batch.size(), streams_[si]));
                co_await handle_entries(c.name, SIZE_MAX, batch, &deliveries);
            } while (cursor != stream_id{0, 0} && !c.stopping);
        }
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

// Redelivers retry_after() messages when due: XCLAIM moves each to the claim consumer (only if
// idle at least half its delay, so a message another process took meanwhile is left alone).
asio::awaitable<void> worker_impl::retry_loop(consumer_state& c) {
    auto self = shared_from_this();
    while (!c.stopping) {
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
        auto [ec, n] = co_await conn_.async_exec(r, adapt(claimed), tuple_awaitable);
        if (ec || claimed.empty())
            continue; // gone, acked or taken by someone else: nothing to redeliver
        claimed.set_stream(streams_[item.stream]);
        std::map<stream_id, std::uint64_t> deliveries{{item.id, item.deliveries + 1}};
        in_flight_ += claimed.size();
        c.in_flight += claimed.size();
        co_await handle_entries(c.name, SIZE_MAX, claimed, &deliveries);
    }
}

} // namespace redstream::detail
