#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace redstream {

using std::chrono::milliseconds;

/// How a parked consumer (its last read came back empty) learns that there is more to read.
/// None of them lets a blocking command stall the shared connection for long.
enum class wakeup_mode {
    automatic,   ///< keyspace if the server has (or lets us set) notify-keyspace-events, else dedicated
    keyspace,    ///< RESP3 keyspace pushes for `xadd` on the shared connection
    block_slice, ///< one bounded XREADGROUP BLOCK per connection at a time, acks flushed first
    dedicated,   ///< XREADGROUP BLOCK on a second connection the worker opens; the shared one never blocks
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

/// Everything a worker needs. Only `stream` (or `streams`) and `group` are required.
struct worker_options {
    std::string stream{};                 ///< the stream to consume, or use `streams`
    std::vector<std::string> streams{};   ///< several streams (e.g. partitions) read in one XREADGROUP
    std::string group{};

    // Group creation.
    bool create_group = true;           ///< XGROUP CREATE ... MKSTREAM at start; BUSYGROUP is fine
    std::string start_id = "$";         ///< where a new group starts: "$", "0" or an id
    bool recreate_group_on_nogroup = false; ///< re-create the group if it disappears under us

    // Consumers.
    std::size_t consumers = 1;          ///< consumer coroutines started by run()
    std::string consumer_prefix = "redstream";
    std::string identity{};               ///< host.pid part of names; empty: <hostname>.<pid>
    std::size_t batch = 128;            ///< COUNT of each XREADGROUP
    std::size_t max_in_flight_per_consumer = 1024; ///< read but not yet acked, per consumer (room for a deep read pipeline)
    std::size_t max_in_flight = 65536;  ///< read but not yet acked, per worker

    // Acknowledgements.
    std::size_t ack_batch = 512;        ///< flush a batched XACK at this many ids...
    milliseconds ack_flush_interval{1}; ///< ...or this long after the first pending ack

    // Wake-ups.
    wakeup_mode wakeup = wakeup_mode::automatic;
    bool configure_keyspace_events = false; ///< CONFIG SET notify-keyspace-events (adds "Kt")
    milliseconds idle_poll_interval{2000};  ///< a parked consumer re-reads at least this often
    milliseconds block_slice{50};           ///< BLOCK of the shared blocking read (block_slice mode)
    milliseconds dedicated_block{1000};     ///< BLOCK on the wake-up connection (dedicated mode)

    // Failures.
    milliseconds min_idle{60000};       ///< claim messages idle this long from any consumer
    milliseconds claim_interval{0};     ///< how often the claim loop scans; 0: min_idle / 2
    std::size_t claim_batch = 100;      ///< COUNT of each XAUTOCLAIM
    std::uint64_t max_deliveries = 5;   ///< more deliveries than this: dead-letter
    std::string dead_letter_stream{};     ///< empty: "<stream>:dlq"
    std::size_t dead_letter_maxlen = 100000; ///< MAXLEN ~ of the dead-letter stream

    // Shutdown.
    milliseconds drain_timeout{10000};  ///< stop(): wait this long for handlers, then cancel them
    bool delete_consumers_on_stop = true; ///< XGROUP DELCONSUMER when a consumer's PEL is empty

    // Idempotency: skip messages already handled, recorded atomically with the ack.
    struct idempotency_options {
        bool enabled = false;
        std::string key_field{};            ///< field whose value identifies the effect; empty: stream+id
        std::string key_prefix = "redstream:done:";
        milliseconds ttl{24 * 3600 * 1000}; ///< how long "done" markers are kept
        milliseconds lease{30000};         ///< a message being handled is reserved this long
    } idempotency{};
};

} // namespace redstream
