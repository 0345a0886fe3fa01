#pragma once

// Samples the state of one consumer group: lag (with fallbacks), pending, ages, consumers.

#include <redstream/io/client.hpp>
#include <redstream/protocol/stream_id.hpp>

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace redstream {

/// One consumer of the group, from XINFO CONSUMERS.
struct consumer_sample {
    std::string name;
    std::uint64_t pending = 0;
    std::uint64_t idle_ms = 0;               ///< since its last read attempt
    std::optional<std::int64_t> inactive_ms; ///< since its last successful read (Redis 7.2+)
};

/// The state of a (stream, group) at one moment. Ages use the server's clock (TIME), so they
/// do not depend on this host's clock agreeing with the producers'.
struct group_sample {
    std::string stream;
    std::string group;
    bool stream_exists = false;
    bool group_exists = false;
    std::uint64_t server_time_ms = 0;
    std::uint64_t length = 0;                 ///< XLEN
    stream_id last_generated_id;              ///< newest id ever added
    stream_id last_delivered_id;              ///< the group's cursor
    std::optional<std::uint64_t> entries_read;
    std::optional<std::uint64_t> reported_lag; ///< XINFO GROUPS lag; nullopt when nil or before 7.0
    std::uint64_t lag = 0;                    ///< reported_lag, or counted after last_delivered_id
    bool lag_counted = false;                 ///< the fallback count was used
    bool lag_capped = false;                  ///< ...and reached its bound: the lag is at least `lag`
    std::uint64_t age_lag_ms = 0;             ///< newest entry time minus last-delivered time
    std::uint64_t pending = 0;
    std::optional<stream_id> oldest_pending_id;
    std::uint64_t oldest_pending_age_ms = 0;  ///< server time minus the oldest pending id's time
    std::uint64_t oldest_pending_idle_ms = 0; ///< since the oldest pending entry was last delivered
    std::uint64_t oldest_pending_deliveries = 0;
    std::vector<consumer_sample> consumers;
};

/// Options of sample_group().
struct sample_options {
    /// When Redis reports no lag (nil: group created at an arbitrary id, entries deleted or
    /// trimmed; or a server older than 7.0), count the entries after the group's cursor, up to
    /// this many (a script returns only the count). 0 disables the fallback.
    std::size_t count_bound = 10000;
};

/// Reads the group's state in one pipelined round trip (TIME, XINFO STREAM, XINFO GROUPS,
/// XINFO CONSUMERS, XPENDING), plus one more only when the lag has to be counted. A missing
/// stream or group is reported through stream_exists / group_exists, not thrown; transport
/// errors and other server errors (WRONGTYPE) throw.
boost::asio::awaitable<group_sample> sample_group(client& c, std::string_view stream, std::string_view group,
                                                  sample_options opts = {});

} // namespace redstream
