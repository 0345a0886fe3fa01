#include "io/transport.hpp"
#include "io/use_tuple.hpp"

#include <redstream/protocol/error.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#ifdef REDSTREAM_HAS_TLS
#include <boost/asio/ssl/host_name_verification.hpp>
#include <openssl/ssl.h>
#endif

namespace redstream::detail {

namespace asio = boost::asio;
using asio::ip::tcp;

// A name lookup that its waiter can walk away from. Asio 1.26's async_resolve ignores
// per-operation cancellation, and resolver::cancel() cannot stop a getaddrinfo() already
// running on Asio's resolver thread, so a timeout raced against the lookup would still wait
// for it (for as long as the system's resolver takes). Instead the lookup's state is shared
// with its completion handler: resolve() stops waiting on cancellation or close(), and the
// lookup finishes in the background, touching only this state.
struct transport::pending_lookup {
    explicit pending_lookup(asio::any_io_executor ex) : resolver(ex), wake(ex, asio::steady_timer::time_point::max()) {}

    void abandon() {
        resolver.cancel(); // a lookup not yet started on the resolver thread never starts
        wake.cancel();
    }

    tcp::resolver resolver;
    asio::steady_timer wake; // never expires: the lookup's completion or abandon() ends the wait
    error_code ec;
    endpoints results;
    bool done = false;
};

asio::awaitable<std::pair<error_code, transport::endpoints>> transport::resolve(config const& cfg) {
    auto lookup = std::make_shared<pending_lookup>(ex_);
    lookup->resolver.async_resolve(cfg.host, std::to_string(cfg.port), [lookup](error_code ec, endpoints r) {
        lookup->ec = ec;
        lookup->results = std::move(r);
        lookup->done = true;
        lookup->wake.cancel();
    });
    lookup_ = lookup;
    co_await lookup->wake.async_wait(use_tuple);
    lookup_.reset();
    if (!lookup->done) {
        lookup->abandon();
        co_return std::pair{make_error_code(asio::error::operation_aborted), endpoints{}};
    }
    co_return std::pair{lookup->ec, std::move(lookup->results)};
}

asio::awaitable<error_code> transport::connect_tcp(tcp_socket& sock, config const& cfg) {
    auto [rec, found] = co_await resolve(cfg);
    if (rec)
        co_return rec;
    auto [cec, ep] = co_await asio::async_connect(sock, found, use_tuple);
    if (cec)
        co_return cec;
    error_code ec;
    sock.set_option(tcp::no_delay(true), ec); // replies must not wait for Nagle
    sock.non_blocking(true, ec);               // try_write_some() never waits
    co_return ec;
}

asio::awaitable<error_code> transport::connect(config const& cfg) {
    switch (cfg.kind) {
    case config::transport::tcp: {
        auto& sock = stream_.emplace<tcp_socket>(ex_);
        co_return co_await connect_tcp(sock, cfg);
    }
    case config::transport::unix_socket: {
        auto& sock = stream_.emplace<unix_socket>(ex_);
        auto [ec] = co_await sock.async_connect(asio::local::stream_protocol::endpoint{cfg.unix_path}, use_tuple);
        if (!ec)
            sock.non_blocking(true, ec); // try_write_some() never waits
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

namespace {

template <class Socket>
inline constexpr bool is_socket = std::is_same_v<Socket, tcp::socket> || std::is_same_v<Socket, asio::local::stream_protocol::socket>;

} // namespace

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

std::size_t transport::try_write_some(asio::const_buffer b) noexcept {
    return std::visit(
        [b](auto& s) -> std::size_t {
            if constexpr (is_socket<std::decay_t<decltype(s)>>) {
                error_code ec;
                std::size_t const n = s.write_some(b, ec);
                return ec ? 0 : n;
            } else {
                return 0;
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
    if (lookup_)
        lookup_->abandon();
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
