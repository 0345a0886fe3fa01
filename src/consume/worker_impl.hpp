#pragma once

#include <redstream/consume/histogram.hpp>
#include <redstream/protocol/stream_readers.hpp>
#include <redstream/consume/worker.hpp>

#include "io/backoff.hpp"

#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <unordered_map>
#include <string>
#include <vector>

namespace redstream::detail {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

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

/// Indices of the claim and retry loops in ack records and release() (readers use 0, 1, ...).
inline constexpr std::size_t claimer_index = SIZE_MAX;
inline constexpr std::size_t retrier_index = SIZE_MAX - 1;
inline constexpr std::size_t keeper_index = SIZE_MAX - 2;

/// Lives as long as the longest of its owner (the worker's map) and the coroutine that uses it.
struct consumer_state {
    consumer_role role = consumer_role::reader;
    std::size_t index = 0;
    std::string name;
    asio::cancellation_signal cancel;   // emitted at the drain deadline
    std::unique_ptr<wake_signal> wake;  // parking
    std::size_t in_flight = 0;
    bool stopping = false;
    bool retiring = false; // removed by remove_consumer(): no longer counted as running
    bool parked = false;
    bool done = false;
};

/// A message this process holds: read (or claimed) and neither acknowledged by the server nor
/// let go. Re-reads of a pending list and claims skip these: another copy would be handled twice.
/// Waiting ones (queued behind the message being handled, or handled and awaiting their ack) are
/// kept from looking idle to any claim loop (see keeper_loop()).
struct hand_key {
    std::size_t stream;
    stream_id id;
    friend bool operator==(hand_key const&, hand_key const&) = default;
};

struct hand_info {
    std::size_t consumer;         // index of the holder (a reader, the claimer or the retrier)
    clock::time_point since;      // received, or idle time last reset: the server's idle is at least now - since
    bool handling = false;        // its handler has started: a stuck handler's message may be claimed
    bool acking = false;          // its ack is queued or in flight: the ack's completion lets it go
    bool lost = false;            // another process took it over while it waited: do not handle it
};

struct hand_key_hash {
    std::size_t operator()(hand_key const& k) const noexcept {
        std::uint64_t h = k.id.ms * 0x9E3779B97F4A7C15ull ^ (k.id.seq + 0x632BE59BD9B4E019ull + (k.stream << 7));
        return static_cast<std::size_t>(h ^ (h >> 29));
    }
};

/// One XREADGROUP kept in flight while the previous batch is handled (read-ahead).
struct read_slot {
    explicit read_slot(asio::any_io_executor ex) : ready(ex) {}
    request req;
    result<read_reply> reply;
    wake_signal ready;
    error_code ec;
    std::size_t granted = 0;
    std::uint64_t wake_generation = 0;
    bool started = false;
    bool done = false;
};

/// Why a read stopped early: the code, and the server's text when it was an error reply.
struct read_failure {
    error_code ec{};
    std::string text{};
    explicit operator bool() const noexcept { return ec.failed(); }
};

struct ack_record {
    std::size_t stream;
    stream_id id;
    std::size_t consumer;
    std::string marker; // idempotency key, empty when unused
};

struct retry_item {
    clock::time_point due;
    std::size_t stream;
    stream_id id;
    std::uint64_t deliveries;
    milliseconds min_idle;
    friend bool operator>(retry_item const& a, retry_item const& b) { return a.due > b.due; }
};

struct flush_op;

/// Per entry of a batch: its delivery count, or 0 when this consumer must not handle it (held
/// already in this process, or no longer in its pending list).
using delivery_plan = std::vector<std::uint64_t>;

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
    bool running_ = false;
    std::unordered_map<hand_key, hand_info, hand_key_hash> in_hand_;

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
    void spawn_consumer(std::size_t index);
    void respawn_later(std::size_t index);
    std::shared_ptr<consumer_state> make_state(consumer_role role, std::size_t index, std::string name);
    void spawn_task(asio::awaitable<void> task, std::shared_ptr<consumer_state> c);
    asio::awaitable<void> supervise();
    asio::awaitable<void> shutdown();
    asio::awaitable<void> wait_tasks(milliseconds limit);
    asio::awaitable<void> wait_all_tasks();
    /// Deletes the consumer if its pending list is empty. False if it is still there.
    asio::awaitable<bool> delete_idle_consumer(std::string const& name);
    asio::awaitable<void> delete_retired_consumers();
    std::string consumer_name(std::size_t index) const;
    consumer_state* state_of(std::size_t index);

    // Consumers (worker_consumer.cpp).
    asio::awaitable<void> consumer_main(std::shared_ptr<consumer_state> c);
    void start_read(consumer_state& c, std::shared_ptr<read_slot> const& s, std::size_t count, bool block);
    asio::awaitable<bool> park(consumer_state& c, std::uint64_t generation);
    asio::awaitable<void> after_read_error(consumer_state& c, error_code ec, std::string const& text,
                                           exponential_backoff& backoff);
    std::size_t available(consumer_state const& c) const;
    asio::awaitable<std::size_t> acquire(consumer_state& c, std::size_t want);
    void release(std::size_t consumer, std::size_t n);
    std::size_t read_threshold() const;
    void shrink_reads_after_drop();
    void grow_reads();
    void wake_capacity_waiters();
    void wake_one();
    void wake_all();
    std::size_t stream_index(std::string_view name) const;

    // Messages in hand (worker_hand.cpp).
    void take_in_hand(std::size_t consumer, read_reply const& r);
    /// Takes the entries of a re-read or claimed batch that this process does not hold yet;
    /// entries with a plan of 0 are left alone. Returns how many were taken.
    std::size_t take_fresh(consumer_state& c, std::size_t stream, entry_batch const& batch, delivery_plan& plan);
    void let_go(std::size_t consumer, std::size_t stream, stream_id id);
    /// A re-read or claim of ours delivered these again, resetting their idle time on the server:
    /// called as the reply arrives, before any other await, so the keeper never misreads it.
    void touch_held(std::size_t stream, entry_batch const& batch);
    /// The entry's record while this process holds it, else null.
    hand_info* held(std::size_t stream, stream_id id);
    /// True when the keeper saw another process take the entry over while it waited here.
    bool taken_over(std::size_t stream, stream_id id);
    /// Before handling an entry that has waited close to min_idle (the keeper's rounds failed),
    /// checks once more whether it is still ours.
    asio::awaitable<bool> still_ours(std::size_t stream, stream_id id);
    /// Lets go of everything a finished task still holds, but for messages whose ack is under way.
    void release_held_by(std::size_t holder);
    /// Tasks still running apart from the keeper (which runs until the rest has drained).
    std::size_t busy_tasks() const;
    asio::awaitable<void> keeper_loop(std::shared_ptr<consumer_state> c);
    asio::awaitable<void> refresh_waiting_entries();

    // Handling (worker_handle.cpp).
    asio::awaitable<void> handle_batch(consumer_state& c, read_reply& r);
    asio::awaitable<void> handle_entries(consumer_state& c, entry_batch const& batch, delivery_plan const& plan);
    asio::awaitable<void> handle_one(consumer_state& c, entry_batch const& batch, std::size_t i,
                                     std::uint64_t deliveries, std::string marker);
    void release_marker(std::string const& marker, std::string const& consumer);
    asio::awaitable<bool> move_to_dead_letters(message const& m, consumer_state& c, std::string const& reason);
    std::string idempotency_key(message const& m) const;
    asio::awaitable<std::vector<std::optional<std::string>>> reserve_markers(std::vector<std::string> const& keys,
                                                                             std::string const& owner);

    // Pending lists, claims and retries (worker_recovery.cpp).
    /// Re-reads a consumer's own pending list and handles it. Returns the error that stopped it
    /// early (the list must be read again later), or none.
    asio::awaitable<read_failure> drain_own_pending(consumer_state& c);
    /// Each id's delivery count, as XPENDING has it for `consumer` now (0: not its entry).
    asio::awaitable<delivery_plan> exact_deliveries(std::size_t stream, std::string const& consumer,
                                                    entry_batch const& batch);
    asio::awaitable<void> claim_loop(std::shared_ptr<consumer_state> c);
    asio::awaitable<void> claim_round(consumer_state& c, std::size_t stream);
    asio::awaitable<void> retry_loop(std::shared_ptr<consumer_state> c);

    void schedule_retry(std::size_t stream, stream_id id, std::uint64_t deliveries, milliseconds delay);

    // Acks (worker_acks.cpp).
    void queue_ack(ack_record rec);
    void arm_ack_timer();
    void flush_acks();
    void ack_confirmed(ack_record const& r);
    void ack_dropped(ack_record const& r);
    void ack_failed(std::vector<ack_record>&& records, bool back_off);
    void ack_flush_done(flush_op& op, error_code ec);
    void log_ack_failure(std::string const& text, std::size_t ids);
    asio::awaitable<void> wait_acks_drained(milliseconds limit);

    std::unique_ptr<wake_signal> stop_signal_;
    std::unique_ptr<wake_signal> tasks_signal_;
    std::unique_ptr<wake_signal> retry_signal_;
    std::unique_ptr<wake_signal> acks_signal_;
    asio::steady_timer ack_timer_;
    bool ack_timer_armed_ = false;
    exponential_backoff ack_backoff_{milliseconds{20}, milliseconds{1000}};
    std::vector<ack_record> ack_queue_;
    std::vector<std::string> markers_to_retry_; // acked without their "done" marker (OOM): written later
    clock::time_point first_ack_queued_{};
    std::set<std::string> unflushed_done_; // idempotency keys acked here, "done" not yet written
    std::size_t acks_in_flight_ = 0;
    std::size_t ack_flushes_in_flight_ = 0;
    std::uint64_t ack_failures_logged_ = 0;
    std::deque<consumer_state*> parked_;
    std::deque<consumer_state*> capacity_waiters_; // consumers at an in-flight bound, oldest first
    std::priority_queue<retry_item, std::vector<retry_item>, std::greater<>> retries_;
    std::size_t in_flight_ = 0;
    std::size_t batches_handling_ = 0;
    std::size_t reads_in_flight_ = 0;
    std::size_t tasks_ = 0;
    std::size_t running_consumers_ = 0; // consumer coroutines not yet finished (stats() is O(1))
    std::uint64_t wake_generation_ = 0;
    std::uint64_t reconnect_generation_ = 0;
    std::size_t read_size_ = 0;                     // COUNT of reads now: opts_.batch, less after drops
    std::uint64_t shrunk_generation_ = UINT64_MAX;  // the connection generation already penalised
    std::vector<std::uint64_t> keyspace_listeners_;
    std::optional<std::uint64_t> reconnect_listener_;
    std::shared_ptr<consumer_state> claimer_;
    std::shared_ptr<consumer_state> retrier_;
    std::shared_ptr<consumer_state> keeper_;
    std::vector<std::string> retired_names_; // retired consumers not yet deleted from the group
    bool block_mode_ = false;
    std::unique_ptr<connection> wake_conn_; // dedicated mode: carries the blocking reads
    bool blocker_active_ = false;
    bool stop_requested_ = false;
    bool stopping_ = false;

    friend class redstream::worker;
};

} // namespace redstream::detail
