#pragma once

// Group administration and safe trimming, as awaitable operations on a client.

#include <redstream/io/client.hpp>
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
boost::asio::awaitable<bool> ensure_group(client& c, std::string_view stream, std::string_view group,
                                          std::string_view start_id = "$",
                                          std::optional<std::uint64_t> entries_read = std::nullopt);
/// XGROUP DESTROY. Returns whether a group was destroyed.
boost::asio::awaitable<bool> destroy_group(client& c, std::string_view stream, std::string_view group);
/// XGROUP SETID stream group id.
boost::asio::awaitable<void> set_group_id(client& c, std::string_view stream, std::string_view group,
                                          std::string_view id);
/// XGROUP DELCONSUMER. Returns how many pending messages the consumer had (they are dropped
/// from the PEL: prefer a worker's own deletion, which only deletes idle consumers).
boost::asio::awaitable<std::int64_t> delete_consumer(client& c, std::string_view stream, std::string_view group,
                                                     std::string_view consumer);

/// What safe_trim() decided.
struct trim_plan {
    std::optional<stream_id> min_id;  ///< entries below this are acknowledged by every group
    std::uint64_t length_before = 0;
    std::uint64_t deleted = 0;        ///< entries removed (0 with dry_run)
    std::vector<std::pair<std::string, stream_id>> group_floors; ///< each group's oldest needed id
};

/// Trims `stream` without ever deleting an entry some group still needs: MINID is the minimum
/// over groups of (oldest pending id, or last-delivered id + 1). With no group, nothing is
/// trimmed. `approximate` uses `MINID ~` (cheaper; may keep a few more entries).
boost::asio::awaitable<trim_plan> safe_trim(client& c, std::string_view stream, bool dry_run = false,
                                            bool approximate = false);

} // namespace redstream
