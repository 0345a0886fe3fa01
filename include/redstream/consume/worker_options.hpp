#pragma once
/// @file
/// Every option of a worker, and the wake-up modes of parked consumers.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace redstream {

/// The duration type of every time option (worker_options, config): whole milliseconds.
using std::chrono::milliseconds;

/// How a parked consumer (its last read came back empty) learns that there is more to read.
/// None of them lets a blocking command stall the shared connection for long. The worker
/// resolves it once per run(), before starting its consumers; in every mode a parked consumer
/// also re-reads after worker_options::idle_poll_interval, and every reconnect wakes all.
enum class wakeup_mode {
    /// keyspace if the server has (or lets us set) notify-keyspace-events, the connection speaks
    /// RESP3 and SUBSCRIBE to the keyspace channel is allowed; else dedicated
    automatic,
    /// RESP3 keyspace pushes for `xadd` on the shared connection (`__keyspace@<db>__:<stream>`);
    /// each event wakes one parked consumer
    keyspace,
    /// one bounded XREADGROUP BLOCK (worker_options::block_slice) per connection at a time,
    /// acks flushed first; everything else sent on that connection waits behind it
    block_slice,
    /// XREADGROUP BLOCK on a second connection the worker opens (same address and credentials,
    /// client name `<client_name>-wake`, closed by stop()); the shared one never blocks
    dedicated,
};

/// The mode's name as in the enum ("automatic", "keyspace", "block_slice", "dedicated"), for
/// logs, metrics and JSON.
[[nodiscard]] constexpr std::string_view to_string(wakeup_mode m) noexcept {
    switch (m) {
    case wakeup_mode::automatic: return "automatic";
    case wakeup_mode::keyspace: return "keyspace";
    case wakeup_mode::block_slice: return "block_slice";
    case wakeup_mode::dedicated: return "dedicated";
    }
    return "unknown";
}

/// Everything a worker needs. Only `stream` (or `streams`) and `group` are required; the
/// worker's constructor throws std::invalid_argument without them, or when `batch` or
/// `max_in_flight` is 0. Durations are in milliseconds.
struct worker_options {
    std::string stream{};                 ///< the stream to consume, or use `streams`
    /// Several streams (partitions, say) read in one XREADGROUP. With `stream` set too, the
    /// worker reads `stream` first, then these in order, each name once.
    std::vector<std::string> streams{};
    std::string group{};                  ///< the consumer group (one name, on every stream)

    // Group creation.
    /// XGROUP CREATE ... MKSTREAM at start; BUSYGROUP is fine, and so is a refusal (OOM, no
    /// ACL right) when the group exists already. Off: the group must exist.
    bool create_group = true;
    std::string start_id = "$";         ///< where a new group starts: "$", "0" or an id
    /// When a read fails with NOGROUP, re-create the group (at `start_id`) before retrying.
    /// Off: NOGROUP is logged and the read retried with backoff until the group is back.
    bool recreate_group_on_nogroup = false;

    // Consumers.
    std::size_t consumers = 1;          ///< consumer coroutines started by run()
    /// First part of every consumer name. The readers are `<prefix>.<identity>.<n>` (n = 0, 1,
    /// ...), the claim and retry loops `<prefix>.<identity>.claim` and `<prefix>.<identity>.retry`.
    std::string consumer_prefix = "redstream";
    /// Middle part of consumer names. Empty: `<hostname>.<pid>` of the process that made the
    /// worker. Set it to something stable (a pod name) so a restarted process resumes its
    /// consumers' pending lists.
    std::string identity{};
    /// COUNT of each XREADGROUP. After a connection lost with reads in flight the worker halves
    /// its read size (once per connection) and grows it back towards this (worker_stats::read_size).
    std::size_t batch = 128;
    /// Messages read but not yet acked, per consumer (room for a deep read pipeline). A read is
    /// sent only when at least half a batch of room is free under both bounds (backpressure).
    /// 0 (the default): 16 × `batch` (2,048 at the default batch), room for the deepest read
    /// pipeline (8 reads) plus the batch in hand and the acks travelling, whatever the batch.
    std::size_t max_in_flight_per_consumer = 0;
    std::size_t max_in_flight = 65536;  ///< read but not yet acked, per worker (all its consumers and loops)

    // Acknowledgements.
    /// Flush a batched XACK at this many ids (also the most ids one XACK carries)...
    std::size_t ack_batch = 512;
    /// ...or this long after the first pending ack. Acks also ride with the next read, and are
    /// flushed at once when the worker's last batch in hand is done and no read is travelling.
    milliseconds ack_flush_interval{1};

    // Wake-ups.
    /// How parked consumers learn of new entries; worker_stats::wakeup tells the mode chosen.
    /// wakeup_mode::keyspace makes run() throw std::runtime_error if keyspace events cannot be
    /// used.
    wakeup_mode wakeup = wakeup_mode::automatic;
    /// In the automatic and keyspace modes, CONFIG SET notify-keyspace-events adding "K" and
    /// "t" when they are missing (needs the right to run CONFIG SET).
    bool configure_keyspace_events = false;
    milliseconds idle_poll_interval{2000};  ///< a parked consumer re-reads at least this often
    milliseconds block_slice{50};           ///< BLOCK of the shared blocking read (block_slice mode)
    milliseconds dedicated_block{1000};     ///< BLOCK on the wake-up connection (dedicated mode)

    // Failures.
    /// Claim messages idle this long from any consumer. Messages waiting in this process (in a
    /// batch, or for their ack) are kept from looking idle; a message whose handler runs
    /// longer than this may be claimed and handled elsewhere too.
    milliseconds min_idle{60000};
    /// How often the claim loop scans; 0: min_idle / 2, clamped to [50 ms, 30 s]. Also how often
    /// a retired consumer whose pending list is not empty yet is tried for deletion.
    milliseconds claim_interval{0};
    std::size_t claim_batch = 100;      ///< idle entries per claim page (XPENDING IDLE … COUNT, then one XCLAIM)
    /// A message delivered more than this many times is dead-lettered without calling the
    /// handler; one whose handler fails (retry or throw) on this delivery is dead-lettered too.
    std::uint64_t max_deliveries = 5;
    /// Where dead letters go, for every stream; empty: `<stream>:dlq` for each stream.
    std::string dead_letter_stream{};
    std::size_t dead_letter_maxlen = 100000; ///< MAXLEN ~ of the dead-letter stream

    // Shutdown.
    /// stop(): wait this long for handlers, then cancel them. Also how long the group creation
    /// at start waits for a connection that is down, and how long the drain waits for acks.
    milliseconds drain_timeout{10000};
    /// Delete consumers from the group (XGROUP DELCONSUMER) at stop() and after
    /// worker::remove_consumer(), each only once its pending list is empty (checked atomically).
    bool delete_consumers_on_stop = true;

    /// Idempotency: skip messages already handled, recorded atomically with the ack. Each
    /// message's key is `key_prefix` + the value of `key_field`, or `key_prefix` +
    /// `<stream>:<id>`. Before handling, a script reserves the key for `lease` unless it exists;
    /// a message whose key says "done" is acked without calling the handler, and one another
    /// consumer holds the lease of is left pending. On ack the "done" mark and the XACK are
    /// written by one script; a failed handler releases the reservation. If the reservation
    /// itself fails (NOPERM on the keys, OOM), the rest of the batch is left pending.
    struct idempotency_options {
        bool enabled = false;               ///< off by default: no key is read or written
        /// Field whose value identifies the effect; empty, or absent from a message: stream+id.
        std::string key_field{};
        std::string key_prefix = "redstream:done:"; ///< prefix of every marker key
        milliseconds ttl{24 * 3600 * 1000}; ///< how long "done" markers are kept
        /// A message being handled is reserved this long. The worker renews the reservation for
        /// the rest of a batch whenever half of it has passed; a handler running longer than
        /// this may be run again by another consumer.
        milliseconds lease{30000};
    } idempotency{}; ///< the exactly-once-effect helper (off by default)
};

} // namespace redstream
