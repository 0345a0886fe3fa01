#pragma once
/// @file
/// The consumer-group worker: consumer coroutines, claims, retries, batched acks.

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

/// Counters and gauges of a worker, read on demand (no global registry): a snapshot copied by
/// worker::stats(). The counters (`std::uint64_t`) only grow, over the worker's life and across
/// runs of worker::run(); the gauges (`std::size_t`) are the state at the call.
struct worker_stats {
    std::uint64_t messages_read = 0;  ///< messages delivered by XREADGROUP (new and own pending)
    /// Handler calls that finished, by returning or by throwing (calls cancelled at the drain
    /// deadline not included).
    std::uint64_t handled = 0;
    std::uint64_t acked = 0;          ///< acknowledged (XACK confirmed by the server)
    /// Handler calls that threw or returned retry, including a failed last delivery that
    /// dead-lettered the message.
    std::uint64_t failed = 0;
    std::uint64_t retried = 0;        ///< redeliveries scheduled with retry_after
    std::uint64_t claimed = 0;        ///< messages taken over from idle consumers (XPENDING IDLE, XCLAIM)
    std::uint64_t dead_lettered = 0;  ///< moved to the dead-letter stream (the move confirmed)
    /// Messages not handled because another copy is accounted for: done already by the
    /// idempotency marker (acked without handling), reserved by another consumer's lease (left
    /// pending), or taken over by another process while they waited here.
    std::uint64_t skipped_duplicates = 0;
    std::uint64_t ack_batches = 0;    ///< ack flushes sent (one request each, with an XACK per stream)
    /// Failed reads of new messages or of a consumer's own pending list (NOGROUP, WRONGTYPE,
    /// transport errors), each followed by a backoff.
    std::uint64_t read_errors = 0;
    std::uint64_t read_replies = 0;   ///< XREADGROUP replies received (reads of new messages)
    std::uint64_t empty_reads = 0;    ///< ...of which returned nothing
    std::size_t consumers = 0;        ///< consumer coroutines running (not counting ones being retired)
    std::size_t parked = 0;           ///< consumers waiting for a wake-up
    /// Read, not yet acknowledged or released: held messages plus the slots of reads still
    /// travelling. Bounded by worker_options::max_in_flight.
    std::size_t in_flight = 0;
    std::size_t pending_acks = 0;     ///< acks queued or being sent
    std::size_t read_size = 0;        ///< COUNT of reads now: `batch`, halved per connection lost mid-read, regrowing
    std::size_t read_depth = 0;       ///< reads the worker keeps travelling beyond one read-ahead per consumer (adaptive, 2..8)
    std::size_t reads_in_flight = 0;  ///< XREADGROUPs of new messages sent and not answered yet
    /// The wake-up mode in use: keyspace, block_slice or dedicated once running
    /// (worker_options::wakeup resolved); `automatic` until the first run() has resolved it, the
    /// last mode used after run() returned. to_string() gives its name for logs and JSON.
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
/// **Lifetimes**: the worker refers to its client without owning it: the client must outlive
/// the worker and any run() still in progress. run() keeps the worker's state alive until it
/// completes, so the worker object itself may be destroyed while it runs (which asks it to
/// stop).
///
/// **Thread safety**: none; use it on the client's executor.
class worker {
public:
    /// The message handler: called for each delivery to one of the worker's consumers (not for
    /// messages dead-lettered unhandled or skipped as duplicates), one message at a time per
    /// consumer, in stream order, on the client's executor. The message (and its views) is
    /// valid until the returned awaitable completes. Return an outcome; an exception of any
    /// type counts as a failure (retry with the exception's text). At the drain deadline the
    /// awaitable is cancelled (terminal) and its message stays pending, whatever it returns.
    using handler = std::function<boost::asio::awaitable<outcome>(message const&)>;

    /// Makes a worker for `opts` on `c` (no I/O yet: run() starts it). Throws
    /// std::invalid_argument when `opts` names no stream or no group, or has a zero `batch` or
    /// in-flight bound. Consumer names use worker_options::identity, or `<hostname>.<pid>`
    /// read now.
    worker(client& c, worker_options opts);
    /// Asks a running run() to stop (as stop() does) without waiting for it.
    ~worker();
    worker(worker const&) = delete;
    worker& operator=(worker const&) = delete;

    /// Sets the handler. Exceptions thrown by it count as failures (the message stays pending).
    /// Set it before run(): while run() is in progress this throws std::logic_error (a handler
    /// call may still be using the old one). The worker keeps `h` (and its captures) until it
    /// is replaced or the worker's state is destroyed.
    void on_message(handler h);

    /// Ensures the group, starts the consumers, the claim loop and the ack flusher; returns
    /// after stop() once handlers have drained, acks are flushed and idle consumers deleted.
    /// Throws if the group cannot be created (e.g. WRONGTYPE) or no handler is set.
    ///
    /// **Completion**: returns normally after stop() (or the worker's destruction) once every
    /// coroutine it started has finished: a handler inside an operation that ignores
    /// cancellation holds it up, with a warning logged every drain_timeout. If stop() came
    /// before run(), or while run() waits to retry a failed start, run() returns without
    /// starting any consumer. It may be called again after it returned; counters and
    /// histograms carry on.
    ///
    /// **Errors**: throws std::logic_error if no handler is set or run() is already in
    /// progress; boost::system::system_error for failures at start that waiting cannot fix
    /// (the server's code and text: server_errc::wrongtype for a key of another type,
    /// `noperm`, `wrongpass`, a refused XGROUP CREATE on a group that does not exist); and
    /// std::runtime_error when wakeup_mode::keyspace was asked for and is not available.
    /// Transient failures at start (connection errors and timeouts, LOADING, BUSY) are logged
    /// and retried with backoff (100 ms doubling to 2 s) until stop(). Failures once running
    /// (NOGROUP, WRONGTYPE, a dropped connection) are logged and retried, never thrown.
    ///
    /// **Cancellation**: a cancellation of the awaiting coroutine once the consumers run (a
    /// `run() || timeout` race, a cancellation slot) is a stop(): the consumers drain and flush
    /// their acks as above, then run() throws boost::system::system_error (operation_aborted),
    /// as a cancelled Asio operation reports. The drain runs with a fresh cancellation state, so
    /// it is not cut short. Cancelled while still starting, run() ends at once with the same
    /// error (no consumer has started). stop() remains the way to end it without an error.
    ///
    /// **Lifetimes**: the returned awaitable owns the worker's state; the client must outlive it.
    boost::asio::awaitable<void> run();

    /// Asks run() to finish: no new reads; handlers get worker_options::drain_timeout, then are
    /// cancelled (their messages stay pending for others). Idempotent; callable from a signal
    /// handler's completion on the same executor. Returns at once: await run() to know when the
    /// worker has stopped. Called while no run() is in progress, it makes the next run() return
    /// at once.
    void stop();

    /// Starts one more consumer (the lowest free index). Call it while run() runs its
    /// consumers; outside run() and during the drain after stop() it is ignored. While run() is
    /// still starting (creating the group, choosing the wake-up mode: consumers_started() is
    /// false), the call is counted and applied when the consumers start.
    void add_consumer();
    /// Retires the newest consumer: it stops reading, finishes its batch and flushes its acks;
    /// it is deleted from the group once its pending list is empty. Does nothing when no
    /// consumer is active; may bring the count to zero. While run() is still starting, it takes
    /// one off the count that will start.
    void remove_consumer();

    /// A snapshot of the counters and gauges (cheap: no I/O, no locking).
    [[nodiscard]] worker_stats stats() const;
    /// Handler latency, produce->handle latency, batch sizes and ack flush delays.
    [[nodiscard]] worker_histograms const& histograms() const noexcept;
    /// The names of the reader consumers whose coroutines have not finished yet (retiring ones
    /// included), in index order. The claim and retry consumers are not listed.
    [[nodiscard]] std::vector<std::string> consumer_names() const;
    /// The options in use: as given, except that a zero worker_options::claim_interval reads
    /// as the interval the worker computed from min_idle.
    [[nodiscard]] worker_options const& options() const noexcept;
    /// The client given to the constructor (the worker does not own it).
    [[nodiscard]] client& get_client() const noexcept;
    /// True from the start of run() until it has returned (draining included).
    [[nodiscard]] bool running() const noexcept;
    /// True once run() has started its consumers, until the drain after stop(): the phase in
    /// which stats().consumers is the count that runs (the autoscaler acts only then).
    [[nodiscard]] bool consumers_started() const noexcept;

private:
    std::shared_ptr<detail::worker_impl> impl_;
};

} // namespace redstream
