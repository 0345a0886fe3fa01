#pragma once

#include "consume/core/ack_queue.hpp"
#include "consume/core/flow_control.hpp"
#include "consume/core/hand_registry.hpp"
#include "consume/core/lifecycle.hpp"
#include "consume/core/read_depth.hpp"
#include "consume/core/verdict.hpp"
#include "consume/reply_ready.hpp"
#include "consume/roles.hpp"

#include <redstream/consume/histogram.hpp>
#include <redstream/protocol/stream_readers.hpp>
#include <redstream/consume/worker.hpp>

#include "consume/core/backoff.hpp"

#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <unordered_map>
#include <string>
#include <vector>

namespace redstream::detail {

namespace asio = boost::asio;

/// The connection is (or was) down: the request may or may not have reached the server.
inline bool is_connection_error(error_code const& ec) {
    return ec == errc::connection_lost || ec == errc::not_connected || ec == errc::connect_timeout ||
           ec == errc::pong_timeout;
}

/// Worth retrying later without anyone's help: the connection, or a server that is loading
/// its dataset or running a long script.
inline bool is_transient_error(error_code const& ec) {
    return is_connection_error(ec) || ec == server_errc::loading || ec == server_errc::busy;
}

/// A timer used as a condition variable: waiters wait until notify_all() (or a deadline).
class wake_signal {
public:
    explicit wake_signal(asio::any_io_executor ex) : timer_(ex, clock::time_point::max()) {}
    /// Waits for notify_all() or `limit`. Returns false if the coroutine was cancelled.
    asio::awaitable<bool> wait(milliseconds limit);
    asio::awaitable<bool> wait() { return wait(milliseconds::max()); }
    void notify_all() { timer_.cancel(); }

private:
    asio::steady_timer timer_;
};

/// A consumer's own wake-up: waited for by one coroutine at a time (the consumer's), so one
/// timer both bounds the wait and takes the notification. notify_all() resumes the waiter one
/// scheduler pass later, where wake_signal's two timers under `||` take three (the winner's
/// completion, the loser's cancel, the group's): on the hand-over of a blocking read that
/// decides whether the next consumer sends it before the ack timer is armed. A notification
/// with no waiter is lost, as with wake_signal (callers check generations).
class parking_signal {
public:
    explicit parking_signal(asio::any_io_executor ex) : timer_(ex, clock::time_point::max()) {}
    /// Waits for notify_all() or `limit`. Returns false if the coroutine was cancelled. Only the
    /// coroutine owning the consumer_state waits: a second waiter's wait would end the first's.
    asio::awaitable<bool> wait(milliseconds limit);
    void notify_all() { timer_.cancel(); }

private:
    asio::steady_timer timer_;
};

/// Counts batches being handled while alive (exceptions included).
class batch_in_progress {
public:
    explicit batch_in_progress(std::size_t& counter) : counter_(counter) { ++counter_; }
    ~batch_in_progress() { --counter_; }
    batch_in_progress(batch_in_progress const&) = delete;
    batch_in_progress& operator=(batch_in_progress const&) = delete;

private:
    std::size_t& counter_;
};

/// Which loop a consumer state belongs to. Each has its own consumer name in the group, its own
/// in-flight accounting and its own idempotency owner.
enum class consumer_role { reader, claimer, retrier, keeper };

/// Lives as long as the longest of its owner (the worker's map) and the coroutine that uses it.
struct consumer_state {
    consumer_role role = consumer_role::reader;
    holder_id index = 0;
    std::string name;
    asio::cancellation_signal cancel;   // emitted at the drain deadline
    std::unique_ptr<parking_signal> wake; // parking
    task_lifecycle life;
    bool parked = false;
    bool take_block = false;            // woken to hold the blocking read (the hand-over)
    bool reads_after_batch = false;     // starts a read right after this batch: it carries the acks
    // Its drained blocking read resumed it straight from the reader: it blocks again after the
    // batch, unless the handling suspends first (resume_from_wakeup() hands the block over then).
    bool hand_over_if_suspended = false;
    bool gave_block_away = false;       // ... which it did: park after the batch
    std::uint64_t gave_block_generation = 0;
    [[nodiscard]] bool stopping() const noexcept { return life.should_stop(); }
};

/// One XREADGROUP kept in flight while the previous batch is handled (read-ahead).
struct read_slot {
    request req;
    result<read_reply> reply;
    reply_ready ready; // the reply is in: `ec` and `reply` are final
    error_code ec;
    std::size_t granted = 0;
    std::uint64_t wake_generation = 0;
    bool started = false;
};

/// Why a read stopped early: the code, and the server's text when it was an error reply.
struct read_failure {
    error_code ec{};
    std::string text{};
    explicit operator bool() const noexcept { return ec.failed(); }
};

/// A reader's two read slots (the batch being handled and the read-ahead behind it) and what
/// it must do next.
struct read_cursor {
    std::shared_ptr<read_slot> current;
    std::deque<std::shared_ptr<read_slot>> ahead; // sent behind `current`, oldest first
    std::vector<std::shared_ptr<read_slot>> spare; // finished slots, reused
    bool current_was_ahead = false;                // `current` was sent while a batch was handled
    std::uint64_t seen_reconnect = 0;
    bool drain_pending = true; // start with our own pending list
    bool want_block = false;
    bool park_next = false;            // handed the blocking read over: park instead of reading
    std::uint64_t park_generation = 0; // wake generation at the hand-over
    exponential_backoff backoff{milliseconds{50}, milliseconds{2000}};
};

/// Idempotency markers of one batch: reserved values per entry, and when they were reserved.
struct batch_markers {
    std::vector<std::optional<std::string>> reserved;
    std::vector<std::string> keys;
    clock::time_point reserved_at{};
};

struct ack_flush_op;

class worker_impl : public std::enable_shared_from_this<worker_impl> {
public:
    worker_impl(client& c, worker_options opts);

    asio::awaitable<void> run();
    void stop();
    void add_consumer();
    void remove_consumer();
    void set_handler(worker::handler h);

    client& client_;
    connection& conn_;
    worker_options opts_;
    std::vector<std::string> streams_;
    std::vector<std::string> dlq_streams_;
    std::vector<std::string> new_ids_;       // ">" per stream
    std::string identity_;
    worker::handler handler_;
    worker_stats stats_;
    worker_histograms histograms_;
    std::map<std::size_t, std::shared_ptr<consumer_state>> consumers_;
    worker_lifecycle life_;
    flow_control flow_;
    read_depth depth_;
    hand_registry hand_;
    ack_queue acks_;

private:
    // Lifecycle (worker.cpp).
    /// Creates the groups and chooses the wake-up mode, retrying transient failures (Redis not
    /// up yet, restarting, loading) with backoff. False when stop() came first.
    asio::awaitable<bool> prepare();
    asio::awaitable<void> ensure_groups();
    asio::awaitable<bool> group_exists(std::string const& stream);
    asio::awaitable<void> choose_wakeup();
    asio::awaitable<bool> subscribe_keyspace();
    void open_wake_connection();
    void start_roles();
    void spawn_consumer(std::size_t index);
    void respawn_later(std::size_t index);
    std::shared_ptr<consumer_state> make_state(consumer_role role, std::size_t index, std::string name);
    void spawn_task(asio::awaitable<void> task, std::shared_ptr<consumer_state> c);
    void finish_run();
    asio::awaitable<void> supervise();
    asio::awaitable<void> shutdown();
    asio::awaitable<void> wait_tasks(milliseconds limit);
    asio::awaitable<void> wait_all_tasks();
    /// Deletes the consumer if its pending list is empty. False if it is still there.
    asio::awaitable<bool> delete_idle_consumer(std::string const& name);
    asio::awaitable<void> delete_retired_consumers();
    std::string consumer_name(std::size_t index) const;
    consumer_state* state_of(holder_id index);

    // Readers (worker_consumer.cpp): the consumers that XREADGROUP new messages.
    asio::awaitable<void> consumer_main(std::shared_ptr<consumer_state> c);
    /// One turn of a reader: a read (or the read-ahead that travelled), then its batch.
    /// False when the reader must end.
    asio::awaitable<bool> read_turn(consumer_state& c, read_cursor& rc);
    asio::awaitable<bool> await_read(consumer_state& c, read_cursor& rc);
    asio::awaitable<bool> after_empty_read(consumer_state& c, read_slot const& s, read_cursor& rc);
    void start_read_ahead(consumer_state& c, read_cursor& rc);
    void advance(read_cursor& rc);
    void resume_from_wakeup(holder_id holder, read_slot& s);
    asio::awaitable<void> settle_reads_ahead(consumer_state& c, read_cursor& rc);
    asio::awaitable<void> settle(consumer_state& c, read_slot& s);
    /// On a graceful stop: reads still travelling have moved entries into our pending list.
    asio::awaitable<void> finish_travelling_reads(consumer_state& c, read_cursor& rc);
    void start_read(consumer_state& c, std::shared_ptr<read_slot> const& s, std::size_t count, bool block);
    asio::awaitable<bool> park(consumer_state& c, std::uint64_t generation);
    asio::awaitable<void> after_read_error(consumer_state& c, error_code ec, std::string const& text,
                                           exponential_backoff& backoff);
    void log_read_error(consumer_state& c, error_code ec, std::string const& text);
    /// Waits for room for a read (flow_control's threshold). 0 when the consumer must stop.
    asio::awaitable<std::size_t> acquire(consumer_state& c, std::size_t want, bool to_block = false);
    void release(holder_id h, std::size_t n);
    /// A read came back: flow_control's accounting, and wakes whoever the unused slots serve.
    bool read_returned(consumer_state& c, std::size_t granted, std::size_t got);
    void wake_room_waiters();
    void wake_one();
    bool hand_block_over();
    void give_back_block(consumer_state& c);
    void wake_all();
    std::size_t stream_index(std::string_view name) const;

    // Messages in hand (worker_hand.cpp): the driver of hand_registry, and the keeper.
    void take_in_hand(holder_id h, read_reply const& r);
    /// Takes the entries of a re-read or claimed batch that this process does not hold yet;
    /// entries with a plan of 0 are left alone. Returns how many were taken.
    std::size_t take_fresh(consumer_state& c, std::size_t stream, entry_batch const& batch, delivery_plan& plan);
    void let_go(holder_id h, std::size_t stream, stream_id id);
    /// A re-read or claim of ours delivered these again, resetting their idle time on the server:
    /// called as the reply arrives, before any other await, so the keeper never misreads it.
    void touch_held(std::size_t stream, entry_batch const& batch);
    /// Before handling an entry that has waited close to min_idle (the keeper's rounds failed),
    /// checks once more whether it is still ours.
    asio::awaitable<bool> still_ours(std::size_t stream, stream_id id);
    /// Lets go of everything a finished task still holds, but for messages whose ack is under way.
    void release_held_by(holder_id h);
    /// Tasks still running apart from the keeper (which runs until the rest has drained).
    std::size_t busy_tasks() const;
    asio::awaitable<void> refresh_waiting_entries();

    // Handling (worker_handle.cpp).
    asio::awaitable<void> handle_batch(consumer_state& c, read_reply& r);
    asio::awaitable<void> handle_entries(consumer_state& c, entry_batch const& batch, delivery_plan const& plan);
    /// Reserves (or extends) the idempotency markers of the entries from `from` on. False when
    /// the check failed: the rest was let go and stays pending.
    asio::awaitable<bool> reserve_rest(consumer_state& c, std::size_t stream, entry_batch const& batch,
                                       delivery_plan const& plan, std::size_t from, batch_markers& m);
    /// Whether the entry's marker says it is done or taken: the entry is acked or let go here.
    bool skip_by_marker(consumer_state& c, std::size_t stream, stream_id id, batch_markers const& m, std::size_t i);
    asio::awaitable<void> handle_one(consumer_state& c, entry_batch const& batch, std::size_t i,
                                     std::uint64_t deliveries, std::string marker);
    hand_info* begin_handling(message const& m, std::size_t stream);
    void end_handling(hand_info* h, clock::time_point started);
    asio::awaitable<void> carry_out(consumer_state& c, message const& m, std::size_t stream, verdict const& v,
                                    std::string marker);
    void release_marker(std::string const& marker, std::string const& consumer);
    /// Adds the entry to its dead-letter stream and acks it in one script (the dead_letter()
    /// outcome, or max_deliveries reached).
    asio::awaitable<bool> move_to_dead_letter_stream(message const& m, consumer_state& c, std::string const& reason);
    std::string idempotency_key(message const& m) const;
    asio::awaitable<std::vector<std::optional<std::string>>> reserve_markers(std::vector<std::string> const& keys,
                                                                             std::string const& owner);

    // Pending lists, claims and retries (worker_recovery.cpp).
    /// Re-reads a consumer's own pending list and handles it. Returns the error that stopped it
    /// early (the list must be read again later), or none.
    asio::awaitable<read_failure> drain_own_pending(consumer_state& c);
    asio::awaitable<read_failure> drain_pending_page(consumer_state& c, std::size_t stream,
                                                     std::optional<stream_id>& after, bool& more);
    /// Each id's delivery count, as XPENDING has it for `consumer` now (0: not its entry).
    asio::awaitable<delivery_plan> exact_deliveries(std::size_t stream, std::string const& consumer,
                                                    entry_batch const& batch);

    // Acks (worker_acks.cpp): the driver of ack_queue.
    /// `in_hand` spares the lookup when the caller holds the message's record already.
    void queue_ack(ack_record rec, hand_info* in_hand = nullptr);
    void arm_ack_timer();
    void arm_ack_timer_unless_flushed();
    void flush_acks();
    void flush_acks(connection& via);
    void write_flush(ack_flush const& f, request& r) const;
    void ack_flush_done(std::shared_ptr<ack_flush_op> op, error_code ec);
    asio::awaitable<void> wait_acks_drained(milliseconds limit);
    std::size_t acks_outstanding() const noexcept { return acks_.queued() + acks_.in_flight(); }

    std::unique_ptr<wake_signal> stop_signal_;
    std::unique_ptr<wake_signal> tasks_signal_;
    std::unique_ptr<wake_signal> acks_signal_;
    asio::steady_timer ack_timer_;
    bool ack_timer_armed_ = false;
    bool ack_timer_check_posted_ = false;
    std::deque<consumer_state*> parked_;
    std::vector<holder_id> to_wake_; // flow_control's answer, reused
    std::size_t batches_handling_ = 0;
    std::size_t reads_in_flight_ = 0;
    std::size_t tasks_ = 0;
    std::size_t running_consumers_ = 0; // consumer coroutines not yet finished (stats() is O(1))
    // add_consumer()/remove_consumer() calls while run() is still starting (groups, wake-up
    // mode): applied to the initial count once it has started, so no consumer reads before the
    // group exists and no index is spawned twice.
    std::ptrdiff_t consumers_added_while_starting_ = 0;
    std::uint64_t wake_generation_ = 0;
    std::uint64_t reconnect_generation_ = 0;
    std::vector<std::uint64_t> keyspace_listeners_;
    std::optional<std::uint64_t> reconnect_listener_;
    std::unique_ptr<claimer> claimer_;
    std::unique_ptr<retrier> retrier_;
    std::unique_ptr<keeper> keeper_;
    std::vector<std::string> retired_names_; // retired consumers not yet deleted from the group
    bool block_mode_ = false;
    std::unique_ptr<connection> wake_conn_; // dedicated mode: carries the blocking reads
    bool blocker_active_ = false;
    bool block_handed_over_ = false; // a woken consumer is about to send the blocking read
    // The consumer a blocking read's reply is resuming right now, from inside the reader
    // (nullptr otherwise); and whether the ack timer's check waits for that resumption to end.
    consumer_state* resumed_by_wakeup_ = nullptr;
    bool ack_check_deferred_ = false;

    friend class redstream::worker;
    friend class claimer;
    friend class retrier;
    friend class keeper;
    friend class redrain_guard;
};

} // namespace redstream::detail
