#pragma once
/// @file
/// Error codes: redstream::errc (the client's own) and redstream::server_errc (error replies).

#include <boost/system/error_code.hpp>

#include <string_view>
#include <type_traits>

namespace redstream {

/// Errors raised by redstream itself (transport, protocol, usage), in client_category()
/// ("redstream"). Compare an error_code against them directly: `ec == errc::closed`.
enum class errc {
    not_connected = 1,      ///< the connection is down and the request did not ask to wait (or its wait expired)
    connection_lost,        ///< the connection dropped while the request was written or queued (a written command may have run)
    connect_timeout,        ///< name lookup, TCP/TLS connect and handshake exceeded config::connect_timeout
    pong_timeout,           ///< the health-check PING was not answered within its deadline
    closed,                 ///< the connection was closed by its owner (close(), or the connection or client destroyed)
    read_buffer_full,       ///< a reply needs more than config::max_read_buffer bytes
    unexpected_reply,       ///< the server sent a reply nobody asked for
    wrong_reply_type,       ///< a reply's shape does not match the adapter it was read into
    invalid_url,            ///< the URL could not be parsed
    hello_refused,          ///< HELLO failed for another reason than an unknown command (or NOPROTO, which fall back to RESP2) and without a known code
    mixed_subscription,     ///< a request mixes SUBSCRIBE-family commands with other commands
    resp2_no_pushes,        ///< subscriptions need RESP3 on the shared connection (a SUBSCRIBE-family request on RESP2)
    tls_unavailable,        ///< a rediss:// URL on a build without TLS support (every connect attempt fails with it)
    unexpected_push,        ///< a RESP3 push arrived on a connection that speaks RESP2
    adapter_failed,         ///< the request's adapter threw; its targets may be partly filled
    internal_error,         ///< an exception escaped the connection's own code (logged)
};

/// Redis error replies that callers compare against, in server_category()
/// ("redstream.server"). The server's text is kept separately (server_error::message). An
/// error reply maps to a code by its first word (classify_server_error()).
enum class server_errc {
    other = 1,    ///< an error reply with a prefix not listed here ("ERR", ...)
    busygroup,    ///< XGROUP CREATE: the group exists already
    nogroup,      ///< the consumer group (or the stream) does not exist
    wrongtype,    ///< the key holds another type
    noscript,     ///< EVALSHA: the script is not cached
    loading,      ///< the server is loading its dataset
    readonly,     ///< a write sent to a replica
    noauth,       ///< authentication required
    wrongpass,    ///< wrong user name or password
    noperm,       ///< the ACL user may not run this command or touch this key
    oom,          ///< maxmemory reached
    busy,         ///< a script is running
    execabort,    ///< EXEC discarded because of a previous error
    unknown_command, ///< "ERR unknown command"
    moved,        ///< Redis Cluster: the key's slot is served by another node (cluster::parse_redirect)
    ask,          ///< Redis Cluster: the slot is migrating; ask the named node once, after ASKING
    tryagain,     ///< Redis Cluster: a multi-key command's keys are split by a migration; retry later
    clusterdown,  ///< Redis Cluster: the cluster cannot serve the slot (no master for it)
    crossslot,    ///< Redis Cluster: the keys of one command hash to different slots
};

/// The category of errc, named "redstream": one immutable instance for the program. Its
/// messages say what to do where there is something to do.
[[nodiscard]] boost::system::error_category const& client_category() noexcept;
/// The category of server_errc, named "redstream.server": one immutable instance for the
/// program. Its messages describe the code, not the server's own words.
[[nodiscard]] boost::system::error_category const& server_category() noexcept;

/// Makes an error_code of client_category(); also what lets `ec == errc::...` compile.
[[nodiscard]] inline boost::system::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), client_category()};
}
/// Makes an error_code of server_category(); also what lets `ec == server_errc::...` compile.
[[nodiscard]] inline boost::system::error_code make_error_code(server_errc e) noexcept {
    return {static_cast<int>(e), server_category()};
}

/// Maps the text of an error reply ("NOGROUP No such key...") to its code.
///
/// The first word decides, exactly and case-sensitively (BUSYGROUP, NOGROUP, WRONGTYPE,
/// NOSCRIPT, LOADING, READONLY, NOAUTH, WRONGPASS, NOPERM, OOM, BUSY, EXECABORT, MOVED, ASK,
/// TRYAGAIN, CLUSTERDOWN, CROSSSLOT); text starting
/// with "ERR unknown command" is server_errc::unknown_command; anything else is
/// server_errc::other.
[[nodiscard]] server_errc classify_server_error(std::string_view text) noexcept;

/// True when the error means the connection must be re-established (transport or protocol
/// failure); false for server errors that fail only their own command.
///
/// False for no error, for every server_errc, and for the usage errors of one request
/// (errc::wrong_reply_type, errc::adapter_failed, errc::mixed_subscription,
/// errc::resp2_no_pushes); true for every other errc, parser errors (resp::error), and any
/// other category (Asio, SSL), operation_aborted included.
[[nodiscard]] bool is_fatal(boost::system::error_code const& ec) noexcept;

} // namespace redstream

/// @cond
template <>
struct boost::system::is_error_code_enum<redstream::errc> : std::true_type {};
template <>
struct boost::system::is_error_code_enum<redstream::server_errc> : std::true_type {};
/// @endcond
