#pragma once

#include <redstream/resp/parser.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace redstream {

using std::chrono::milliseconds;

/// TLS settings for rediss:// URLs.
struct tls_options {
    std::string ca_file;      ///< PEM bundle to verify the server; empty: the system's default paths
    std::string cert_file;    ///< client certificate (mutual TLS), optional
    std::string key_file;     ///< client private key, optional
    std::string server_name;  ///< SNI and the name verified; empty: the URL's host
    bool verify_peer = true;
};

/// Exponential backoff with jitter between reconnect attempts.
struct reconnect_options {
    bool enabled = true;
    milliseconds initial_delay{50};
    milliseconds max_delay{2000};
    double multiplier = 2.0;
    double jitter = 0.2; ///< each delay is scaled by a random factor in [1 - jitter, 1 + jitter]
};

/// Everything a connection needs. Build it from a URL, then adjust fields.
struct config {
    enum class transport { tcp, tls, unix_socket };

    transport kind = transport::tcp;
    std::string host = "127.0.0.1";
    std::uint16_t port = 6379;
    std::string unix_path;
    std::string username; ///< ACL user; empty: password-only AUTH (the default user)
    std::string password; ///< never logged, never part of an error message
    int database = 0;
    std::string client_name = "redstream";
    tls_options tls;

    /// One budget per attempt for the name lookup, the TCP connect, the TLS handshake and
    /// HELLO/AUTH/SELECT together (a lookup still running then is abandoned, not waited for).
    milliseconds connect_timeout{5000};
    milliseconds health_check_interval{2000};  ///< PING period; 0 disables
    milliseconds health_check_timeout{5000};   ///< a PING unanswered this long drops the connection
    reconnect_options reconnect;

    bool try_resp3 = true;                     ///< HELLO 3; falls back to RESP2 if refused
    resp::parser_limits limits;
    std::size_t max_read_buffer = 128u << 20;  ///< bytes buffered for one incomplete element
    std::size_t max_write_batch = 1u << 20;    ///< bytes coalesced into one socket write
    std::size_t push_queue_capacity = 4096;    ///< pushes kept for the receiver; more are dropped

    /// Parses `redis://[user:pass@]host[:port][/db]`, `rediss://...` (TLS) or
    /// `unix:///path/to/socket[?db=N]` (also `redis+unix://`, `password=` query). Throws
    /// boost::system::system_error(errc::invalid_url) whose text never contains the password.
    [[nodiscard]] static config from_url(std::string_view url);

    /// The address for logs and errors, with any password replaced by "***".
    [[nodiscard]] std::string redacted_address() const;
};

} // namespace redstream
