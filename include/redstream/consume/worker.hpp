#pragma once

#include <redstream/detail/fwd.hpp>
#include <redstream/io/client.hpp>
#include <redstream/consume/histogram.hpp>
#include <redstream/consume/message.hpp>
#include <redstream/consume/outcome.hpp>
#include <redstream/consume/worker_options.hpp>

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace redstream {

/// Counters and gauges of a worker, read on demand (no global registry).
struct worker_stats {
    std::uint64_t messages_read = 0;  ///< messages delivered by XREADGROUP (new and own pending)
    std::uint64_t handled = 0;        ///< handler calls that returned
    std::uint64_t acked = 0;          ///< acknowledged (XACK confirmed by the server)
    std::uint64_t failed = 0;         ///< handler threw or asked to retry
    std::uint64_t retried = 0;        ///< redeliveries scheduled with retry_after
    std::uint64_t claimed = 0;        ///< messages taken over from idle consumers
    std::uint64_t dead_lettered = 0;  ///< moved to the dead-letter stream
    std::uint64_t skipped_duplicates = 0; ///< idempotency: already done, acked without handling
    std::uint64_t ack_batches = 0;    ///< XACK requests sent
    std::uint64_t read_errors = 0;    ///< XREADGROUP failures (NOGROUP, WRONGTYPE, transport)
    std::uint64_t read_replies = 0;   ///< XREADGROUP replies received
    std::uint64_t empty_reads = 0;    ///< ...of which returned nothing
    std::size_t consumers = 0;        ///< consumer coroutines running (not counting ones being retired)
    std::size_t parked = 0;           ///< consumers waiting for a wake-up
    std::size_t in_flight = 0;        ///< read, not yet acknowledged or released
    std::size_t pending_acks = 0;     ///< acks queued or being sent
    std::size_t read_size = 0;        ///< COUNT of reads now: `batch`, halved per connection lost mid-read, regrowing
    std::size_t read_depth = 0;       ///< reads the worker keeps travelling beyond one read-ahead per consumer (adaptive, 2..8)
    std::size_t reads_in_flight = 0;  ///< XREADGROUPs sent and not answered yet
    /// The wake-up mode in use: keyspace, block_slice or dedicated once running (worker_options::
    /// wakeup resolved); `automatic` until then. to_string() gives its name for logs and JSON.
    wakeup_mode wakeup = wakeup_mode::automatic;
};

/// Consumes one consumer group with any number of consumer coroutines on one client.
///
///     redstream::worker w{client, {.stream = "orders", .group = "billing"}};
///     w.on_message([](redstream::message const& m) -> asio::awaitable<redstream::outcome> {
///         co_await charge(m.field_or("order_id", ""));
///         co_return redstream::ack;
///     });
///     co_await w.run();   // until w.stop()
///
/// Delivery is at-least-once: a message is acknowledged only after its handler returned `ack`;
/// one whose handler threw, asked to retry, or was cancelled stays pending and is redelivered
/// (to this consumer after a reconnect or restart, or to any consumer by the claim loop once
/// idle for min_idle). After max_deliveries it moves to the dead-letter stream.
///
/// **Thread safety**: none; use it on the client's executor.
class worker {
public:
    using handler = std::function<boost::asio::awaitable<outcome>(message const&)>;

    worker(client& c, worker_options opts);
    ~worker();
    worker(worker const&) = delete;
    worker& operator=(worker const&) = delete;

    /// Sets the handler. Exceptions thrown by it count as failures (the message stays pending).
    void on_message(handler h);

    /// Ensures the group, starts the consumers, the claim loop and the ack flusher; returns
    /// after stop() once handlers have drained, acks are flushed and idle consumers deleted.
    /// Throws if the group cannot be created (e.g. WRONGTYPE) or no handler is set.
    boost::asio::awaitable<void> run();

    /// Asks run() to finish: no new reads; handlers get worker_options::drain_timeout, then are
    /// cancelled (their messages stay pending for others). Idempotent; callable from a signal
    /// handler's completion on the same executor.
    void stop();

    /// Starts one more consumer (the lowest free index). Only while running.
    void add_consumer();
    /// Retires the newest consumer: it stops reading, finishes its batch and flushes its acks;
    /// it is deleted from the group once its pending list is empty.
    void remove_consumer();

    [[nodiscard]] worker_stats stats() const;
    /// Handler latency, produce->handle latency, batch sizes and ack flush delays.
    [[nodiscard]] worker_histograms const& histograms() const noexcept;
    [[nodiscard]] std::vector<std::string> consumer_names() const;
    [[nodiscard]] worker_options const& options() const noexcept;
    [[nodiscard]] client& get_client() const noexcept;
    [[nodiscard]] bool running() const noexcept;

private:
    std::shared_ptr<detail::worker_impl> impl_;
};

} // namespace redstream
