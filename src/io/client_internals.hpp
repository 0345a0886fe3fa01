#pragma once

// What the worker needs of a client beyond its public API: keyspace-notification and reconnect
// listeners, and the connection's one blocking read. Internal (src/ only); the tests use it too.

#include <redstream/detail/fwd.hpp>
#include <redstream/io/client.hpp>

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <string>

namespace redstream::detail {

struct client_internals {
    /// Calls `fn` whenever an `xadd` keyspace notification for `key` arrives (needs RESP3 and
    /// notify-keyspace-events with K and t); other events on the key (xtrim, xgroup-*, xsetid,
    /// del...) never call it. Returns an id for remove_keyspace_listener().
    ///
    /// The listener is registered only once SUBSCRIBE has succeeded. Otherwise this throws
    /// boost::system::system_error with the server's text (NOPERM when the ACL user has no
    /// right to the `__keyspace@<db>__:<key>` channel; Redis 7 gives new users none) and
    /// leaves nothing registered, so a retry subscribes again. A listener that throws is
    /// logged, and the other listeners still run.
    static boost::asio::awaitable<std::uint64_t> add_keyspace_listener(client& c, std::string key,
                                                                       std::function<void()> fn);
    static void remove_keyspace_listener(client& c, std::uint64_t id);
    /// Calls `fn` after every reconnect (not the first connect). A listener that throws is logged.
    static std::uint64_t add_reconnect_listener(client& c, std::function<void()> fn);
    static void remove_reconnect_listener(client& c, std::uint64_t id);

    /// True when keyspace notifications for stream XADDs reach this client. With
    /// `configure`, adds "Kt" to notify-keyspace-events (needs CONFIG SET permission).
    static boost::asio::awaitable<bool> keyspace_events_enabled(client& c, bool configure);

    /// Serialises the one blocking read allowed on the connection (block_slice wake-ups).
    static boost::asio::awaitable<void> acquire_block_turn(client& c);
    static void release_block_turn(client& c);
};

} // namespace redstream::detail
