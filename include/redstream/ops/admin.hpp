#pragma once

/// @file
/// Group administration and safe trimming, as awaitable operations on a client.

#include <redstream/io/client.hpp>
#include <redstream/io/cluster_client.hpp>
#include <redstream/protocol/info_types.hpp>
#include <redstream/protocol/stream_id.hpp>

#include <boost/asio/awaitable.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace redstream {

/// XGROUP CREATE stream group start MKSTREAM [ENTRIESREAD n]. Returns false if the group
/// existed already (BUSYGROUP), true if it was created; throws on other errors.
///
/// The stream is created if missing. `entries_read` (ENTRIESREAD, Redis 7+) lets Redis report
/// the new group's lag. The functions of this header share these rules:
/// - **Errors**: boost::system::system_error; for an error reply, its server_errc code and a
///   text naming the operation and the server's words; for transport errors
///   (errc::not_connected, errc::connection_lost, errc::closed...), the code only.
/// - **Lifetimes**: the string_view arguments are referenced until the awaitable completes;
///   the client must outlive it.
/// - **Thread safety**: await them on the client's executor.
boost::asio::awaitable<bool> ensure_group(client& c, std::string_view stream, std::string_view group,
                                          std::string_view start_id = "$",
                                          std::optional<std::uint64_t> entries_read = std::nullopt);
/// XGROUP DESTROY. Returns whether a group was destroyed (false: no group of that name). A
/// missing stream is an error reply, thrown. Errors and lifetimes as ensure_group().
boost::asio::awaitable<bool> destroy_group(client& c, std::string_view stream, std::string_view group);
/// XGROUP SETID stream group id: moves the group's cursor (`id` may be "$" or "0"). Throws on
/// an error reply (NOGROUP, a malformed id...); errors and lifetimes as ensure_group().
boost::asio::awaitable<void> set_group_id(client& c, std::string_view stream, std::string_view group,
                                          std::string_view id);
/// XGROUP DELCONSUMER. Returns how many pending messages the consumer had (they are dropped
/// from the PEL: prefer a worker's own deletion, which only deletes idle consumers).
/// Errors and lifetimes as ensure_group().
boost::asio::awaitable<std::int64_t> delete_consumer(client& c, std::string_view stream, std::string_view group,
                                                     std::string_view consumer);

/// What safe_trim() decided.
struct trim_plan {
    std::optional<stream_id> min_id;  ///< entries below this are acknowledged by every group; nullopt with no group
    std::uint64_t length_before = 0;  ///< XLEN before trimming
    std::uint64_t deleted = 0;        ///< entries removed (0 with dry_run)
    std::vector<std::pair<std::string, stream_id>> group_floors; ///< each group's oldest needed id
};

/// Trims `stream` without ever deleting an entry some group still needs: MINID is the minimum
/// over groups of (oldest pending id, or last-delivered id + 1). With no group, nothing is
/// trimmed. `approximate` uses `MINID ~` (cheaper; may keep a few more entries).
///
/// Two round trips (XINFO GROUPS with XLEN, then XPENDING per group) and the XTRIM: a group
/// created in between is not taken into account, so create groups before trimming. A missing
/// stream throws (XINFO's error reply); errors and lifetimes as ensure_group().
boost::asio::awaitable<trim_plan> safe_trim(client& c, std::string_view stream, bool dry_run = false,
                                            bool approximate = false);

/// One partition's safe_trim().
struct partition_trim {
    std::string key;  ///< the partition's stream key
    bool present = false; ///< the key exists (a partition nothing was written to is skipped)
    trim_plan plan;   ///< its plan (empty when not present)
};

/// safe_trim() of every partition of `stream` (cluster::partition_keys(), `partitions` keys) on
/// one server, each with its own floor: a group's progress in one partition says nothing about
/// another. In partition order; errors as safe_trim() for the first partition that fails.
boost::asio::awaitable<std::vector<partition_trim>> safe_trim_partitions(client& c, std::string_view stream,
                                                                         std::size_t partitions, bool dry_run = false,
                                                                         bool approximate = false);
/// The same on a cluster: each partition trimmed on the master that serves it now.
boost::asio::awaitable<std::vector<partition_trim>> safe_trim_partitions(cluster_client& c, std::string_view stream,
                                                                         std::size_t partitions, bool dry_run = false,
                                                                         bool approximate = false);

} // namespace redstream
