#pragma once
/// @file
/// Connection settings (address, credentials, TLS, timeouts, bounds) and URL parsing.

#include <redstream/resp/parser.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace redstream {

/// The duration type of every time option (config, worker_options): whole milliseconds.
using std::chrono::milliseconds;

/// TLS settings for rediss:// URLs (config::transport::tls). TLS 1.2 or newer is required;
/// files are read at every connect attempt, and a file that cannot be read fails that attempt.
struct tls_options {
    std::string ca_file;      ///< PEM bundle to verify the server; empty: the system's default paths
    std::string cert_file;    ///< client certificate chain (PEM, mutual TLS), optional
    std::string key_file;     ///< client private key (PEM); needed with cert_file, ignored without it
    std::string server_name;  ///< SNI and the name verified; empty: the URL's host
    /// Verify the server's certificate chain and its name (`server_name`). Off: any
    /// certificate is accepted (the `verify=0` URL parameter).
    bool verify_peer = true;
};

/// Exponential backoff with jitter between reconnect attempts.
struct reconnect_options {
    /// Reconnect after a failed attempt or a lost connection. Off: the first failure ends
    /// connection::async_run() with that error and fails every request.
    bool enabled = true;
    milliseconds initial_delay{50}; ///< the first delay, and again after each successful connect
    milliseconds max_delay{2000};   ///< the delay stops growing here (before jitter)
    double multiplier = 2.0;        ///< each further failure in a row multiplies the delay by this
    double jitter = 0.2; ///< each delay is scaled by a random factor in [1 - jitter, 1 + jitter]
};

/// One more node to ask for the cluster's slot map (config::extra_seeds).
struct seed_node {
    std::string host;        ///< name or address
    std::uint16_t port = 6379; ///< port
};

/// Whether the URL names a Redis Cluster (config::cluster).
enum class cluster_mode {
    automatic, ///< ask the first node: INFO cluster says `cluster_enabled:1`
    on,        ///< a cluster: slot map, one connection per master, partitioned streams
    off,       ///< one server, even if it runs in cluster mode
};

/// Everything a connection needs. Build it from a URL, then adjust fields. A connection (or
/// client) copies the config it is given: later changes to this object do not affect it.
struct config {
    /// How to reach the server: `tcp` (host and port), `tls` (TCP with TLS, the `tls` options;
    /// errc::tls_unavailable on a build without TLS) or `unix_socket` (`unix_path`).
    enum class transport { tcp, tls, unix_socket };

    transport kind = transport::tcp; ///< set by from_url() from the URL's scheme
    /// Server name or IP address (tcp, tls), resolved again at every connect attempt.
    std::string host = "127.0.0.1";
    std::uint16_t port = 6379;       ///< server port (tcp, tls)
    std::string unix_path;           ///< path of the server's socket (unix_socket)
    std::string username; ///< ACL user; empty: password-only AUTH (the default user)
    std::string password; ///< never logged, never part of an error message
    /// Database selected with SELECT after every handshake when not 0; also the `<db>` of the
    /// keyspace channels workers subscribe to.
    int database = 0;
    /// Sent with HELLO SETNAME (or CLIENT SETNAME); a worker's wake-up connection appends
    /// "-wake" to it.
    std::string client_name = "redstream";
    tls_options tls; ///< used with transport::tls only

    /// One budget per attempt for the name lookup, the TCP connect, the TLS handshake and
    /// HELLO/AUTH/SELECT together (a lookup still running then is abandoned, not waited for).
    milliseconds connect_timeout{5000};
    milliseconds health_check_interval{2000};  ///< PING period; 0 disables
    /// A PING unanswered this long drops the connection (errc::pong_timeout). An error reply
    /// to the PING (LOADING, NOPERM) counts as an answer.
    milliseconds health_check_timeout{5000};
    reconnect_options reconnect; ///< backoff between attempts, or no reconnecting at all

    /// HELLO 3; falls back to RESP2 if refused (unknown command, or NOPROTO). Off: RESP2 from
    /// the start (AUTH, CLIENT SETNAME), without pushes, so no subscriptions or keyspace wake-ups.
    bool try_resp3 = true;
    /// Bounds of the reply parser; a reply beyond them is a protocol error that drops the
    /// connection. `limits.max_depth` is capped at resp::parser::depth_cap.
    resp::parser_limits limits;
    /// Bytes buffered for one incomplete element; a reply that needs more fails with
    /// errc::read_buffer_full and drops the connection.
    std::size_t max_read_buffer = 128u << 20;
    /// Bytes coalesced into one socket write; a single request larger than this is still
    /// written, on its own.
    std::size_t max_write_batch = 1u << 20;
    std::size_t push_queue_capacity = 4096;    ///< pushes kept for the receiver; more are dropped

    /// Redis Cluster or one server, for code that handles both (cluster_client::connect(), the
    /// CLI). URL: `cluster=auto|yes|no`. A plain connection or client ignores it.
    cluster_mode cluster = cluster_mode::automatic;
    /// More nodes of the same cluster, asked for the slot map in order when the known masters
    /// and `host` do not answer. URL: more hosts after the first, `redis://h1:7000,h2:7001`
    /// (a host without a port takes the first one's).
    std::vector<seed_node> extra_seeds;
    /// A cluster's slot map is read again when it is older than this and a request goes out
    /// (besides after MOVED and node failures); 0: only then.
    milliseconds cluster_refresh_interval{10000};

    /// Parses `redis://[user:pass@]host[:port][,host[:port]...][/db]`, `rediss://...` (TLS) or
    /// `unix:///path/to/socket[?db=N]` (also `redis+unix://`, `password=` query). Throws
    /// boost::system::system_error(errc::invalid_url) whose text never contains the password.
    ///
    /// `user:pass@` may be just `pass@` (the default user); user and password may be
    /// %-escaped. `[v6addr]` is accepted as host. Query parameters (any scheme): `db`,
    /// `user`/`username`, `password`, `name`/`client_name`, `ca`/`ca_file`, `verify` (`0`,
    /// `false` or `none` turn tls_options::verify_peer off), `sni`/`server_name`, `cluster`
    /// (`auto`, `yes`/`on`/`1`, `no`/`off`/`0`); any other
    /// parameter is an error. Everything the URL does not name keeps its default.
    [[nodiscard]] static config from_url(std::string_view url);

    /// The address for logs and errors, with any password replaced by "***", such as
    /// `redis://user:***@host:6379/0`, `rediss://...` or `unix:///path?db=0`.
    [[nodiscard]] std::string redacted_address() const;
};

} // namespace redstream
