#pragma once

/// @file
/// Samples the state of one consumer group: lag (with fallbacks), pending, ages, consumers.

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
    std::string name;                        ///< the consumer's name in the group
    std::uint64_t pending = 0;               ///< entries in its pending list
    std::uint64_t idle_ms = 0;               ///< since its last read attempt
    std::optional<std::int64_t> inactive_ms; ///< since its last successful read (Redis 7.2+)
};

/// The state of a (stream, group) at one moment. Ages use the server's clock (TIME), so they
/// do not depend on this host's clock agreeing with the producers'.
///
/// When the stream or the group does not exist, only `stream`, `group`, `server_time_ms` and
/// the `*_exists` flags (and `length` and `last_generated_id` for a missing group) are filled.
struct group_sample {
    std::string stream;                       ///< the stream sampled
    std::string group;                        ///< the group sampled
    bool stream_exists = false;               ///< false: XINFO STREAM said "no such key"
    bool group_exists = false;                ///< false: the stream has no group of that name
    std::uint64_t server_time_ms = 0;         ///< the server's clock (TIME) when sampled, Unix ms
    std::uint64_t length = 0;                 ///< XLEN
    stream_id last_generated_id;              ///< newest id ever added
    stream_id last_delivered_id;              ///< the group's cursor
    std::optional<std::uint64_t> entries_read; ///< XINFO GROUPS entries-read; nullopt when nil or before 7.0
    std::optional<std::uint64_t> reported_lag; ///< XINFO GROUPS lag; nullopt when nil or before 7.0
    std::uint64_t lag = 0;                    ///< reported_lag, or counted after last_delivered_id
    bool lag_counted = false;                 ///< the fallback count was used
    bool lag_capped = false;                  ///< ...and reached its bound: the lag is at least `lag`
    std::uint64_t age_lag_ms = 0;             ///< newest entry time minus last-delivered time (0 without lag)
    std::uint64_t pending = 0;                ///< entries delivered and not yet acknowledged (XINFO GROUPS)
    std::optional<stream_id> oldest_pending_id; ///< the lowest pending id; nullopt when nothing is pending
    std::uint64_t oldest_pending_age_ms = 0;  ///< server time minus the oldest pending id's time
    std::uint64_t oldest_pending_idle_ms = 0; ///< since the oldest pending entry was last delivered
    std::uint64_t oldest_pending_deliveries = 0; ///< times the oldest pending entry has been delivered
    /// The group's consumers (XINFO CONSUMERS); empty if that command failed (best effort).
    std::vector<consumer_sample> consumers;
};

/// Options of sample_group().
struct sample_options {
    /// When Redis reports no lag (nil: group created at an arbitrary id, entries deleted or
    /// trimmed; or a server older than 7.0), count the entries after the group's cursor, up to
    /// this many (a script returns only the count). 0 disables the fallback.
    ///
    /// With 0, an unreported lag reads as 0 (group_sample::lag_counted false), even when
    /// entries wait after the cursor: age_lag_ms still shows them.
    std::size_t count_bound = 10000;
};

/// Reads the group's state in one pipelined round trip (TIME, XINFO STREAM, XINFO GROUPS,
/// XINFO CONSUMERS, XPENDING), plus one more only when the lag has to be counted. A missing
/// stream or group is reported through stream_exists / group_exists, not thrown; transport
/// errors and other server errors (WRONGTYPE) throw.
///
/// **Errors**: throws boost::system::system_error. An error reply to XINFO STREAM (other than
/// "no such key"), XINFO GROUPS or the lag count carries the server's code and text (e.g.
/// "XINFO STREAM on 'orders': WRONGTYPE ..."); a transport error or an error reply to TIME
/// carries only the code. Error replies to XINFO CONSUMERS and XPENDING only leave their
/// fields out.
///
/// **Lifetimes**: `stream` and `group` are referenced until the awaitable completes; the client
/// must outlive it. The sample itself owns everything it holds.
boost::asio::awaitable<group_sample> sample_group(client& c, std::string_view stream, std::string_view group,
                                                  sample_options opts = {});

} // namespace redstream
