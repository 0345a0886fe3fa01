#pragma once
// The loops a worker runs besides its readers, each a small type with its own consumer name
// in the group, its own in-flight accounting (its holder_id) and its own counters.

#include "consume/core/types.hpp"

#include <boost/asio/awaitable.hpp>

#include <memory>
#include <optional>
#include <queue>
#include <string_view>

namespace redstream::detail {

class worker_impl;
struct consumer_state;
class parking_signal;

/// Takes over messages idle for min_idle in any consumer (crashed or stuck) and handles them
/// as `<prefix>.<identity>.claim`.
class claimer {
public:
    claimer(worker_impl& w, std::shared_ptr<consumer_state> state) : w_(w), state_(std::move(state)) {}
    boost::asio::awaitable<void> run();
    [[nodiscard]] consumer_state& state() const noexcept { return *state_; }
    [[nodiscard]] std::shared_ptr<consumer_state> state_ptr() const { return state_; }

private:
    /// One scan of a stream's pending entries (XPENDING IDLE, then XCLAIM), page by page.
    boost::asio::awaitable<void> scan(std::size_t stream);
    void report_failure(std::string_view command, error_code ec);

    worker_impl& w_;
    std::shared_ptr<consumer_state> state_;
    bool failure_reported_ = false; // the current run of failed scans has been logged
};

/// A message a handler asked to see again later (retry_after()).
struct retry_item {
    clock::time_point due;
    std::size_t stream;
    stream_id id;
    milliseconds min_idle;
    friend bool operator>(retry_item const& a, retry_item const& b) { return a.due > b.due; }
};

/// Redelivers retry_after() messages when due, as `<prefix>.<identity>.retry`: no coroutine
/// sleeps per message.
class retrier {
public:
    retrier(worker_impl& w, std::shared_ptr<consumer_state> state);
    boost::asio::awaitable<void> run();
    /// Bounded by max_in_flight: beyond it the claim loop redelivers after min_idle instead, and
    /// it returns false.
    bool schedule(std::size_t stream, stream_id id, milliseconds delay);
    void wake();
    [[nodiscard]] consumer_state& state() const noexcept { return *state_; }
    [[nodiscard]] std::shared_ptr<consumer_state> state_ptr() const { return state_; }

private:
    bool overflow_reported_ = false; // the current overflow has been logged
    boost::asio::awaitable<void> redeliver(retry_item item);

    worker_impl& w_;
    std::shared_ptr<consumer_state> state_;
    std::priority_queue<retry_item, std::vector<retry_item>, std::greater<>> due_;
};

/// Keeps waiting messages from looking idle (hand_registry explains the rule), through the
/// drain too: it is stopped last.
class keeper {
public:
    keeper(worker_impl& w, std::shared_ptr<consumer_state> state) : w_(w), state_(std::move(state)) {}
    boost::asio::awaitable<void> run();
    [[nodiscard]] consumer_state& state() const noexcept { return *state_; }
    [[nodiscard]] std::shared_ptr<consumer_state> state_ptr() const { return state_; }

private:
    worker_impl& w_;
    std::shared_ptr<consumer_state> state_;
};

/// A claim or retry loop re-reads its own pending list at start and after every reconnect: a
/// claim whose reply was lost left entries there.
class redrain_guard {
public:
    boost::asio::awaitable<void> operator()(worker_impl& w, consumer_state& c);

private:
    std::optional<std::uint64_t> drained_at_;
};

} // namespace redstream::detail
