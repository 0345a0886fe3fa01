#pragma once
/// @file
/// The entry point: a running, multiplexed connection plus producing (XADD).

#include <redstream/detail/fwd.hpp>
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

/// Options of XADD for publish().
struct publish_options {
    std::optional<std::size_t> maxlen; ///< MAXLEN ~ n (approximate trimming; cheap); nullopt: no trimming
    bool exact_trim = false;           ///< MAXLEN = n instead of ~ (only with maxlen)
};

/// The fields of one entry, as (name, value) pairs in the order they are written.
using field_list = std::vector<std::pair<std::string, std::string>>;

/// The entry point: one multiplexed connection (kept alive and reconnected in the background
/// on the caller's executor), keyspace-notification routing for workers, and producing.
///
/// **Lifetimes**: workers, autoscalers and metrics registries refer to a client without owning
/// it: the client must outlive them (and their run()). The client's own state lives until its
/// background coroutines have finished after close() or destruction.
///
/// **Thread safety**: none; use it on its executor's thread.
class client {
public:
    /// Starts connecting at once, in the background on `ex` (no need to call
    /// connection::async_run()); connection failures are logged and retried as `cfg.reconnect`
    /// says, never thrown. `cfg` and `log` are copied.
    ///
    /// If the very first handshake is refused (WRONGPASS, NOAUTH, NOPERM), or a failure meets
    /// `cfg.reconnect.enabled == false`, the connection ends for good: that is logged as an
    /// error, requests waiting then fail with that error and later ones with errc::closed.
    client(boost::asio::any_io_executor ex, config cfg, logger log = {});
    /// Closes the connection (as close() does) without waiting for anything.
    ~client();
    client(client const&) = delete;
    client& operator=(client const&) = delete;

    /// The executor given to the constructor.
    [[nodiscard]] boost::asio::any_io_executor get_executor() const;
    /// The client's connection, for commands of your own (connection::async_exec()). It is
    /// running already: do not call its async_run(), and do not receive its pushes (the client
    /// routes them to workers). The reference is valid as long as the client.
    [[nodiscard]] redstream::connection& connection() noexcept;
    /// The logger given to the constructor.
    [[nodiscard]] logger const& get_logger() const noexcept;

    /// Closes the connection; pending and later operations fail with errc::closed.
    /// Idempotent, and final: a closed client cannot be reconnected.
    void close();

    /// XADD `fields` to `stream`; returns the new id.
    ///
    /// **Errors**: throws boost::system::system_error: a server error reply (e.g.
    /// server_errc::wrongtype, `oom`, `noperm`; the exception carries the code, not the
    /// server's text), errc::not_connected while the connection is down after having been up
    /// (publish does not wait for a reconnect), the failed attempt's error before the first
    /// connection, errc::connection_lost, errc::closed.
    ///
    /// **Cancellation**: through the awaiting coroutine, as connection::async_exec(); a cancelled
    /// XADD that was already written may still add the entry.
    ///
    /// **Lifetimes**: `stream` and `fields` are referenced, not copied, until the returned
    /// awaitable has been awaited: keep them alive until it completes (beware of temporaries
    /// when the awaitable is not awaited at once, e.g. with `co_spawn`).
    boost::asio::awaitable<stream_id> publish(std::string_view stream, field_list const& fields,
                                              publish_options opts = {});
    /// Pipelines one XADD per element in a single request; returns the ids in order.
    ///
    /// Errors, cancellation and lifetimes as publish(). If any XADD is refused, it throws the
    /// first refusal's code after every reply has arrived; the XADDs that succeeded stay added.
    /// An empty `messages` returns an empty vector without I/O.
    boost::asio::awaitable<std::vector<stream_id>> publish_batch(std::string_view stream,
                                                                 std::vector<field_list> const& messages,
                                                                 publish_options opts = {});

private:
    friend struct detail::client_internals; // the worker's listeners and blocking-read turn (src/io)
    std::shared_ptr<detail::client_impl> impl_;
};

} // namespace redstream
