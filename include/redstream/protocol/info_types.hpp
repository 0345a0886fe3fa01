#pragma once
/// @file
/// The replies of XINFO STREAM, XINFO GROUPS and XINFO CONSUMERS.

#include <redstream/protocol/stream_id.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace redstream {

/// A stand-alone copy of one stream entry (used where a reply holds one or two entries).
struct owned_entry {
    stream_id id;                                            ///< the entry's id
    std::vector<std::pair<std::string, std::string>> fields; ///< (name, value) in stream order
};

/// XINFO STREAM key. Fields added in Redis 7 are nullopt on older servers. Keys of the reply
/// not listed here are skipped.
struct stream_info {
    std::uint64_t length = 0;           ///< entries in the stream (XLEN)
    std::uint64_t radix_tree_keys = 0;  ///< keys of the stream's radix tree (memory layout)
    std::uint64_t radix_tree_nodes = 0; ///< nodes of the stream's radix tree (memory layout)
    std::uint64_t groups = 0;           ///< consumer groups on the stream
    stream_id last_generated_id;        ///< the newest id ever added (it may have been deleted since)
    std::optional<stream_id> max_deleted_entry_id;    ///< highest id deleted (Redis 7+)
    std::optional<std::uint64_t> entries_added;       ///< entries ever added (Redis 7+)
    std::optional<stream_id> recorded_first_entry_id; ///< id of the first entry (Redis 7+)
    std::optional<owned_entry> first_entry; ///< copy of the first entry; nullopt on an empty stream
    std::optional<owned_entry> last_entry;  ///< copy of the last entry; nullopt on an empty stream
};

/// One element of XINFO GROUPS key. `entries_read` and `lag` are nullopt when Redis reports
/// nil (group created at an arbitrary id, entries deleted or trimmed) or is older than 7.0.
/// Read the whole reply into a `std::vector<group_info>`.
struct group_info {
    std::string name;                         ///< the group's name
    std::uint64_t consumers = 0;              ///< consumers the group knows
    std::uint64_t pending = 0;                ///< entries delivered and not yet acknowledged
    stream_id last_delivered_id;              ///< the group's cursor
    std::optional<std::uint64_t> entries_read; ///< the group's read counter (Redis 7+; see above)
    std::optional<std::uint64_t> lag;          ///< entries not yet delivered (Redis 7+; see above)
};

/// One element of XINFO CONSUMERS key group. `inactive_ms` exists from Redis 7.2 on. Read the
/// whole reply into a `std::vector<consumer_info>`.
struct consumer_info {
    std::string name;                        ///< the consumer's name
    std::uint64_t pending = 0;               ///< entries in its pending list
    std::uint64_t idle_ms = 0;               ///< milliseconds since its last attempted interaction (Redis's `idle`)
    std::optional<std::int64_t> inactive_ms; ///< milliseconds since its last successful read (Redis 7.2+, `inactive`)
};

} // namespace redstream
