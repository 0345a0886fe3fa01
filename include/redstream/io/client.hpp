#pragma once

#include <redstream/io/connection.hpp>
#include <redstream/protocol/stream_id.hpp>

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace redstream {

namespace detail {
class client_impl;
}

/// Options of XADD for publish().
struct publish_options {
    std::optional<std::size_t> maxlen; ///< MAXLEN ~ n (approximate trimming; cheap)
    bool exact_trim = false;           ///< MAXLEN = n instead of ~
};

using field_list = std::vector<std::pair<std::string, std::string>>;

/// The entry point: one multiplexed connection (kept alive and reconnected in the background
/// on the caller's executor), keyspace-notification routing for workers, and producing.
///
/// **Thread safety**: none; use it on its executor's thread.
class client {
public:
    client(boost::asio::any_io_executor ex, config cfg, logger log = {});
    ~client();
    client(client const&) = delete;
    client& operator=(client const&) = delete;

    [[nodiscard]] boost::asio::any_io_executor get_executor() const;
    [[nodiscard]] redstream::connection& connection() noexcept;
    [[nodiscard]] logger const& get_logger() const noexcept;

    /// Closes the connection; pending and later operations fail with errc::closed.
    void close();

    /// XADD `fields` to `stream`; returns the new id.
    boost::asio::awaitable<stream_id> publish(std::string_view stream, field_list const& fields,
                                              publish_options opts = {});
    /// Pipelines one XADD per element in a single request; returns the ids in order.
    boost::asio::awaitable<std::vector<stream_id>> publish_batch(std::string_view stream,
                                                                 std::vector<field_list> const& messages,
                                                                 publish_options opts = {});

    /// Calls `fn` whenever an `xadd` keyspace notification for `key` arrives (needs RESP3 and
    /// notify-keyspace-events with K and t); other events on the key (xtrim, xgroup-*, xsetid,
    /// del...) never call it. Returns an id for remove_keyspace_listener().
    ///
    /// The listener is registered only once SUBSCRIBE has succeeded. Otherwise this throws
    /// boost::system::system_error with the server's text (NOPERM when the ACL user has no
    /// right to the `__keyspace@<db>__:<key>` channel; Redis 7 gives new users none) and
    /// leaves nothing registered, so a retry subscribes again. A listener that throws is
    /// logged, and the other listeners still run.
    boost::asio::awaitable<std::uint64_t> add_keyspace_listener(std::string key, std::function<void()> fn);
    void remove_keyspace_listener(std::uint64_t id);
    /// Calls `fn` after every reconnect (not the first connect). A listener that throws is logged.
    std::uint64_t add_reconnect_listener(std::function<void()> fn);
    void remove_reconnect_listener(std::uint64_t id);

    /// True when keyspace notifications for stream XADDs reach this client. With
    /// `configure`, adds "Kt" to notify-keyspace-events (needs CONFIG SET permission).
    boost::asio::awaitable<bool> keyspace_events_enabled(bool configure);

    /// Serialises the one blocking read allowed on the connection (block_slice wake-ups).
    boost::asio::awaitable<void> acquire_block_turn();
    void release_block_turn();

private:
    std::shared_ptr<detail::client_impl> impl_;
};

} // namespace redstream
