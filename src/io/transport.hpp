#pragma once

#include <redstream/io/config.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#ifdef REDSTREAM_HAS_TLS
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#endif

#include <memory>
#include <optional>
#include <utility>
#include <variant>

namespace redstream::detail {

using boost::system::error_code;

/// One byte stream to a server: TCP, TLS over TCP, or a Unix socket. A new transport is made
/// for every connection attempt.
class transport {
public:
    explicit transport(boost::asio::any_io_executor ex) : ex_(std::move(ex)) {}

    /// Resolves, connects and (for TLS) handshakes. Not bounded in time: the caller races it
    /// against its connect timeout. Every step honours terminal cancellation, the name lookup
    /// included (see pending_lookup).
    boost::asio::awaitable<error_code> connect(config const& cfg);
    boost::asio::awaitable<std::pair<error_code, std::size_t>> read_some(boost::asio::mutable_buffer b);
    boost::asio::awaitable<std::pair<error_code, std::size_t>> write_all(boost::asio::const_buffer b);
    /// Writes what the socket takes now, without waiting: the bytes written, 0 when it takes
    /// none or for TLS (whose records write_all() must send). A failure is left for the next
    /// write_all() to find, which ends the connection the usual way.
    std::size_t try_write_some(boost::asio::const_buffer b) noexcept;
    /// Closes the socket at once and abandons a name lookup; pending operations complete with
    /// an error.
    void close() noexcept;

private:
    using tcp_socket = boost::asio::ip::tcp::socket;
    using unix_socket = boost::asio::local::stream_protocol::socket;
    using endpoints = boost::asio::ip::tcp::resolver::results_type;
    struct pending_lookup;

    boost::asio::awaitable<std::pair<error_code, endpoints>> resolve(config const& cfg);
    boost::asio::awaitable<error_code> connect_tcp(tcp_socket& sock, config const& cfg);

    std::shared_ptr<pending_lookup> lookup_; // while resolve() waits
#ifdef REDSTREAM_HAS_TLS
    using tls_stream = boost::asio::ssl::stream<tcp_socket>;
    std::unique_ptr<boost::asio::ssl::context> tls_ctx_;
    std::variant<std::monostate, tcp_socket, unix_socket, tls_stream> stream_;
#else
    std::variant<std::monostate, tcp_socket, unix_socket> stream_;
#endif
    boost::asio::any_io_executor ex_;
};

} // namespace redstream::detail
