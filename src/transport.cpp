#include "transport.hpp"

#include <redstream/error.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#ifdef REDSTREAM_HAS_TLS
#include <boost/asio/ssl/host_name_verification.hpp>
#include <openssl/ssl.h>
#endif

namespace redstream::detail {

namespace asio = boost::asio;
using asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

asio::awaitable<error_code> connect_tcp(tcp::socket& sock, config const& cfg) {
    tcp::resolver resolver{sock.get_executor()};
    auto [rec, endpoints] = co_await resolver.async_resolve(cfg.host, std::to_string(cfg.port), use_tuple);
    if (rec)
        co_return rec;
    auto [cec, ep] = co_await asio::async_connect(sock, endpoints, use_tuple);
    if (cec)
        co_return cec;
    error_code ec;
    sock.set_option(tcp::no_delay(true), ec); // replies must not wait for Nagle
    co_return error_code{};
}

} // namespace

asio::awaitable<error_code> transport::connect(config const& cfg) {
    switch (cfg.kind) {
    case config::transport::tcp: {
        auto& sock = stream_.emplace<tcp_socket>(ex_);
        co_return co_await connect_tcp(sock, cfg);
    }
    case config::transport::unix_socket: {
        auto& sock = stream_.emplace<unix_socket>(ex_);
        auto [ec] = co_await sock.async_connect(asio::local::stream_protocol::endpoint{cfg.unix_path}, use_tuple);
        co_return ec;
    }
    case config::transport::tls: {
#ifdef REDSTREAM_HAS_TLS
        tls_ctx_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
        error_code ec;
        tls_ctx_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                              asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                              asio::ssl::context::no_tlsv1_1);
        if (cfg.tls.ca_file.empty())
            tls_ctx_->set_default_verify_paths(ec);
        else
            tls_ctx_->load_verify_file(cfg.tls.ca_file, ec);
        if (ec)
            co_return ec;
        if (!cfg.tls.cert_file.empty()) {
            tls_ctx_->use_certificate_chain_file(cfg.tls.cert_file, ec);
            if (!ec)
                tls_ctx_->use_private_key_file(cfg.tls.key_file, asio::ssl::context::pem, ec);
            if (ec)
                co_return ec;
        }
        auto& s = stream_.emplace<tls_stream>(ex_, *tls_ctx_);
        std::string const& name = cfg.tls.server_name.empty() ? cfg.host : cfg.tls.server_name;
        if (cfg.tls.verify_peer) {
            s.set_verify_mode(asio::ssl::verify_peer);
            s.set_verify_callback(asio::ssl::host_name_verification(name));
        } else {
            s.set_verify_mode(asio::ssl::verify_none);
        }
        if (!SSL_set_tlsext_host_name(s.native_handle(), name.c_str()))
            co_return error_code{static_cast<int>(::ERR_get_error()), asio::error::get_ssl_category()};
        if (auto tec = co_await connect_tcp(s.next_layer(), cfg))
            co_return tec;
        auto [hec] = co_await s.async_handshake(asio::ssl::stream_base::client, use_tuple);
        co_return hec;
#else
        co_return make_error_code(errc::tls_unavailable);
#endif
    }
    }
    co_return make_error_code(errc::invalid_url);
}

asio::awaitable<std::pair<error_code, std::size_t>> transport::read_some(asio::mutable_buffer b) {
    return std::visit(
        [b](auto& s) -> asio::awaitable<std::pair<error_code, std::size_t>> {
            if constexpr (std::is_same_v<std::decay_t<decltype(s)>, std::monostate>) {
                return []() -> asio::awaitable<std::pair<error_code, std::size_t>> {
                    co_return std::pair{make_error_code(errc::not_connected), std::size_t{0}};
                }();
            } else {
                return [](auto& st, asio::mutable_buffer buf) -> asio::awaitable<std::pair<error_code, std::size_t>> {
                    auto [ec, n] = co_await st.async_read_some(buf, use_tuple);
                    co_return std::pair{ec, n};
                }(s, b);
            }
        },
        stream_);
}

asio::awaitable<std::pair<error_code, std::size_t>> transport::write_all(asio::const_buffer b) {
    return std::visit(
        [b](auto& s) -> asio::awaitable<std::pair<error_code, std::size_t>> {
            if constexpr (std::is_same_v<std::decay_t<decltype(s)>, std::monostate>) {
                return []() -> asio::awaitable<std::pair<error_code, std::size_t>> {
                    co_return std::pair{make_error_code(errc::not_connected), std::size_t{0}};
                }();
            } else {
                return [](auto& st, asio::const_buffer buf) -> asio::awaitable<std::pair<error_code, std::size_t>> {
                    auto [ec, n] = co_await asio::async_write(st, buf, use_tuple);
                    co_return std::pair{ec, n};
                }(s, b);
            }
        },
        stream_);
}

void transport::close() noexcept {
    error_code ec;
    std::visit(
        [&ec](auto& s) {
            using T = std::decay_t<decltype(s)>;
            if constexpr (std::is_same_v<T, std::monostate>) {
            } else if constexpr (std::is_same_v<T, tcp_socket> || std::is_same_v<T, unix_socket>) {
                s.close(ec);
            } else {
                s.next_layer().close(ec); // no TLS shutdown: the peer may be gone
            }
        },
        stream_);
}

} // namespace redstream::detail
