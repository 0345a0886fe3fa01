#pragma once
/// @file
/// One multiplexed RESP3 connection: pipelined requests, pushes, reconnects.

#include <redstream/detail/fwd.hpp>
#include <redstream/protocol/adapter.hpp>
#include <redstream/io/config.hpp>
#include <redstream/io/logger.hpp>
#include <redstream/protocol/push.hpp>
#include <redstream/protocol/request.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/deferred.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace redstream {

/// Where a connection is in its life (connection::state()):
/// - `idle`: made, async_run() not started yet;
/// - `connecting`: an attempt is under way (name lookup, connect, TLS, HELLO/AUTH/SELECT), or
///   the server answered but is still loading its dataset;
/// - `connected`: the handshake succeeded; requests are written as they come;
/// - `disconnected`: the last attempt or session failed; waiting out the reconnect backoff;
/// - `closed`: close() was called, or the connection ended for good (see async_run()).
enum class connection_state { idle, connecting, connected, disconnected, closed };

/// Counters and gauges of one connection, read on demand.
struct connection_stats {
    std::uint64_t connects = 0;          ///< successful handshakes
    std::uint64_t pushes_dropped = 0;    ///< pushes lost because the push queue was full
    std::size_t requests_waiting = 0;    ///< queued, not yet written (including those waiting for a reconnect)
    std::size_t requests_in_flight = 0;  ///< written, reply pending
    /// Why the last connection attempt or connection ended (server_errc::loading while the
    /// server loads); empty until something failed. Not cleared by a successful connect.
    error_code last_error{};
};

/// One multiplexed connection to a Redis server, on the caller's executor.
///
/// Any number of coroutines may call async_exec() at once: requests are queued, coalesced into
/// one socket write and their replies matched in order. No request ever blocks the others
/// except by the time the server takes to answer it, so never send blocking commands
/// (`XREADGROUP ... BLOCK`, `BLPOP`) on a shared connection except in bounded slices.
///
/// async_run() must be running for anything to happen: it connects, performs the handshake
/// (HELLO 3 with AUTH and SETNAME, then SELECT; RESP2 fallback), health-checks with PING and
/// reconnects with exponential backoff and jitter.
///
/// **Thread safety**: none. Use a connection only from its executor's thread (a strand or a
/// single-threaded io_context).
///
/// **Lifetimes**: keep the connection alive while its operations are pending (async_run()
/// included). Destroying it closes it: what is still pending completes with errc::closed.
/// Requests and adapter targets belong to the caller: see async_exec().
class connection {
public:
    /// The executor everything runs on: the connection's coroutines, its timers, and every
    /// completion it posts.
    using executor_type = boost::asio::any_io_executor;

    /// Makes an idle connection (no I/O until async_run()). `cfg` and `log` are copied.
    connection(executor_type ex, config cfg, logger log = {});
    connection(connection const&) = delete;
    connection& operator=(connection const&) = delete;
    /// Closes the connection: pending operations complete with errc::closed.
    ~connection();

    /// The executor given to the constructor.
    [[nodiscard]] executor_type get_executor() const noexcept;

    /// Keeps the connection alive until close() or cancellation.
    ///
    /// **Completion signature**: `void(error_code)`. Success after close(); an authentication
    /// error (WRONGPASS, NOPERM...) if the very first handshake fails; the last error if
    /// reconnecting is disabled; errc::internal_error if an exception stopped the connection
    /// (it is logged, and pending requests and push receivers complete with the same error).
    /// An exception thrown while a session is up (by the log sink, say) only drops that
    /// session: it is logged and the connection is re-established.
    /// Calling it while it runs completes the new operation at once with errc::not_connected;
    /// after close(), with errc::closed. Requests may be queued before it starts: they wait.
    ///
    /// **Cancellation**: any type; equivalent to close().
    ///
    /// **Lifetimes**: the connection must outlive the operation.
    template <class Token = boost::asio::deferred_t>
    auto async_run(Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(error_code)>(
            [this](auto h) { run_impl(std::move(h)); }, token);
    }

    /// Sends `req` and reads its replies through `adapter`.
    ///
    /// **Completion signature**: `void(error_code, std::size_t replies_read)`. Transport errors
    /// (errc::connection_lost, errc::not_connected...) fail the whole request. A server error
    /// reply fails only its command: read into result<T> to keep the others; with plain targets
    /// the first server error is reported in `ec` after every reply has been read. An adapter
    /// that throws fails its request with errc::adapter_failed once all its replies have been
    /// read (and skipped); the connection goes on. A refused SUBSCRIBE-family command fails the
    /// request with the error's code; read it into result<ignore_t> to keep the server's text.
    ///
    /// Validation failures complete at once (posted, never inline): errc::closed after close(),
    /// errc::mixed_subscription, errc::resp2_no_pushes. A request with no commands completes at
    /// once with success and 0 replies. While the connection is down after having been up, a
    /// request fails at once with errc::not_connected unless request::options::wait_for_connection
    /// lets it wait; before the first connection it waits for the attempt under way and fails
    /// with that attempt's error if the attempt fails. Requests written or queued when the
    /// connection drops fail with errc::connection_lost (queued ones may wait instead, as
    /// above), or with the protocol error that dropped it (a resp::error,
    /// errc::unexpected_reply, errc::unexpected_push, errc::read_buffer_full).
    ///
    /// **Cancellation**: terminal and partial: a request not yet written is removed; a written
    /// one completes at once with operation_aborted and its reply is discarded when it arrives.
    /// total: only requests not yet written. Cancel is not undo: a written command may still
    /// run on the server.
    ///
    /// **Lifetimes**: `req` must stay alive until the operation is initiated (with the default
    /// `deferred` token: until it is awaited); the connection keeps its own copy. The adapter's
    /// targets must stay alive until completion.
    ///
    /// **Thread safety**: call it on the connection's executor; the completion is posted there
    /// (through the handler's associated executor).
    template <class Token = boost::asio::deferred_t>
    auto async_exec(request const& req, any_adapter adapter = {}, Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(error_code, std::size_t)>(
            [this](auto h, request const* r, any_adapter a) { exec_impl(*r, std::move(a), std::move(h)); },
            token, &req, std::move(adapter));
    }

    /// Receives the next RESP3 push (pub/sub message, keyspace notification). Pushes are queued
    /// up to config::push_queue_capacity; beyond that they are dropped and counted, so a slow
    /// receiver never stalls replies. Do not await replies on this connection from the
    /// coroutine that receives pushes while the queue may be full: hand events to another.
    ///
    /// Each push goes to one receiver. A client's connection already has one (the client
    /// routes keyspace notifications to its workers): do not receive pushes on
    /// client::connection(), or workers miss their wake-ups.
    ///
    /// **Completion signature**: `void(error_code, push_message)`. After close() (or once the
    /// connection has ended for good) it fails with `asio::experimental::error::channel_closed`;
    /// pushes still queued then are dropped.
    ///
    /// **Cancellation**: per-operation cancellation completes it with
    /// `asio::experimental::error::channel_cancelled`; no push is lost by that.
    template <class Token = boost::asio::deferred_t>
    auto async_receive_push(Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(error_code, push_message)>(
            [this](auto h) { receive_push_impl(std::move(h)); }, token);
    }

    /// Stops async_run, fails pending requests with errc::closed. Idempotent. A closed
    /// connection cannot be reopened: make a new one.
    void close();

    /// Registers a hook called (posted) after every successful (re)connect with the count of
    /// connects so far: consumers use it to re-read their pending lists. A hook that throws
    /// is logged.
    ///
    /// The first connect passes 1. Hooks cannot be removed: the connection keeps `hook` (and
    /// what it captures) for as long as its state lives, so capture weak references to
    /// objects that may die first.
    void on_connected(std::function<void(std::uint64_t connects)> hook);

    /// The current state (see connection_state).
    [[nodiscard]] connection_state state() const noexcept;
    /// 3 after HELLO 3 succeeded, 2 after the RESP2 fallback, 0 before the first handshake.
    [[nodiscard]] int protocol() const noexcept;
    /// The server's version as reported at the last handshake ("7.0.15"); empty before the
    /// first. The reference stays valid as long as the connection; its value may change at a
    /// reconnect.
    [[nodiscard]] std::string const& server_version() const noexcept;
    /// A snapshot of the counters and queue lengths (no I/O).
    [[nodiscard]] connection_stats stats() const noexcept;
    /// The connection's own copy of the config given to the constructor.
    [[nodiscard]] config const& get_config() const noexcept;
    /// The logger given to the constructor; the connection logs through it.
    [[nodiscard]] logger const& get_logger() const noexcept;

private:
    void run_impl(boost::asio::any_completion_handler<void(error_code)> h);
    void exec_impl(request const& req, any_adapter adapter,
                   boost::asio::any_completion_handler<void(error_code, std::size_t)> h);
    void receive_push_impl(boost::asio::any_completion_handler<void(error_code, push_message)> h);

    friend struct detail::connection_internals; // the worker's reads that complete inline (src/io)
    std::shared_ptr<detail::connection_impl> impl_;
};

} // namespace redstream
