#pragma once

#include <redstream/protocol/stream_id.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace redstream {

/// A stand-alone copy of one stream entry (used where a reply holds one or two entries).
struct owned_entry {
    stream_id id;
    std::vector<std::pair<std::string, std::string>> fields;
};

/// XINFO STREAM key. Fields added in Redis 7 are nullopt on older servers.
struct stream_info {
    std::uint64_t length = 0;
    std::uint64_t radix_tree_keys = 0;
    std::uint64_t radix_tree_nodes = 0;
    std::uint64_t groups = 0;
    stream_id last_generated_id;
    std::optional<stream_id> max_deleted_entry_id;
    std::optional<std::uint64_t> entries_added;
    std::optional<stream_id> recorded_first_entry_id;
    std::optional<owned_entry> first_entry;
    std::optional<owned_entry> last_entry;
};

/// One element of XINFO GROUPS key. `entries_read` and `lag` are nullopt when Redis reports
/// nil (group created at an arbitrary id, entries deleted or trimmed) or is older than 7.0.
struct group_info {
    std::string name;
    std::uint64_t consumers = 0;
    std::uint64_t pending = 0;
    stream_id last_delivered_id;
    std::optional<std::uint64_t> entries_read;
    std::optional<std::uint64_t> lag;
};

/// One element of XINFO CONSUMERS key group. `inactive_ms` exists from Redis 7.2 on.
struct consumer_info {
    std::string name;
    std::uint64_t pending = 0;
    std::uint64_t idle_ms = 0;
    std::optional<std::int64_t> inactive_ms;
};

} // namespace redstream
