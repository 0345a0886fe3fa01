#include <redstream/ops/http_endpoint.hpp>

#include "io/use_tuple.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <map>
#include <set>
#include <utility>

namespace redstream {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using detail::use_tuple;

struct http_endpoint::impl : std::enable_shared_from_this<impl> {
    impl(asio::any_io_executor ex, metrics_registry& r, tcp::endpoint where) : registry(r), acceptor(ex, where) {}

    metrics_registry& registry;
    tcp::acceptor acceptor;
    std::map<std::pair<std::string, std::string>, route> routes; // (method, path)
    std::set<beast::tcp_stream*> open;
    bool stopped = false;

    asio::awaitable<http_reply> dispatch(http_request_view const& req);
    asio::awaitable<void> serve(tcp::socket socket);
};

asio::awaitable<http_reply> http_endpoint::impl::dispatch(http_request_view const& req) {
    auto const path = req.target.substr(0, req.target.find('?'));
    std::pair<std::string, std::string> const key{std::string{req.method}, std::string{path}};
    if (auto it = routes.find(key); it != routes.end()) {
        auto reply = co_await it->second(req);
        co_return reply;
    }
    bool known_path = false;
    for (auto const& entry : routes)
        known_path = known_path || entry.first.second == path;
    // Results bound to named locals first: GCC 12 may destroy temporaries that share a full
    // expression with co_await twice.
    if (req.method == "GET" && path == "/metrics") {
        http_reply reply{200, "text/plain; version=0.0.4; charset=utf-8", {}};
        reply.body = co_await registry.scrape();
        co_return reply;
    }
    if (req.method == "GET" && path == "/healthz") {
        auto const h = co_await registry.check_health();
        http_reply reply{h.healthy ? 200u : 503u, "application/json", h.to_json()};
        reply.body += '\n';
        co_return reply;
    }
    if (known_path || path == "/metrics" || path == "/healthz")
        co_return http_reply{405, "text/plain; charset=utf-8", "method not allowed\n"};
    co_return http_reply{404, "text/plain; charset=utf-8", "not found\n"};
}

asio::awaitable<void> http_endpoint::impl::serve(tcp::socket socket) {
    auto self = shared_from_this();
    beast::tcp_stream stream{std::move(socket)};
    open.insert(&stream);
    // Unregistered however serve() ends (an exception included): stop() cancels what is open.
    struct unregister {
        std::set<beast::tcp_stream*>& open;
        beast::tcp_stream* s;
        ~unregister() { open.erase(s); }
    } const guard{open, &stream};
    beast::flat_buffer buffer;
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(1 << 20);
        stream.expires_after(std::chrono::seconds(30));
        auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
        if (ec)
            break;
        auto const& req = parser.get();
        http_request_view view{std::string_view{req.method_string().data(), req.method_string().size()},
                               std::string_view{req.target().data(), req.target().size()}, req.body()};
        http_reply reply;
        try {
            reply = co_await dispatch(view);
        } catch (std::exception const& e) {
            reply = http_reply{500, "text/plain; charset=utf-8", std::string{"error: "} + e.what() + "\n"};
        } catch (...) { // a route handler is user code: anything it throws is a 500, not a lost connection
            reply = http_reply{500, "text/plain; charset=utf-8", "error: the handler threw a non-standard exception\n"};
        }
        http::response<http::string_body> res{static_cast<http::status>(reply.status), req.version()};
        res.set(http::field::server, "redstream");
        res.set(http::field::content_type, reply.content_type);
        res.keep_alive(req.keep_alive());
        res.body() = std::move(reply.body);
        res.prepare_payload();
        auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
        if (wec || !res.keep_alive())
            break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

http_endpoint::http_endpoint(asio::any_io_executor ex, metrics_registry& registry, tcp::endpoint where)
    : impl_(std::make_shared<impl>(std::move(ex), registry, where)) {}

http_endpoint::~http_endpoint() { stop(); }

void http_endpoint::add_route(std::string method, std::string path, route handler) {
    impl_->routes[{std::move(method), std::move(path)}] = std::move(handler);
}

asio::awaitable<void> http_endpoint::run() {
    auto self = impl_;
    while (!self->stopped) {
        auto [ec, socket] = co_await self->acceptor.async_accept(use_tuple);
        if (ec) {
            if (self->stopped || ec == asio::error::operation_aborted)
                break;
            continue; // e.g. too many open files: try again
        }
        asio::co_spawn(self->acceptor.get_executor(), self->serve(std::move(socket)), asio::detached);
    }
}

void http_endpoint::stop() {
    if (impl_->stopped)
        return;
    impl_->stopped = true;
    beast::error_code ignored;
    impl_->acceptor.close(ignored);
    for (auto* s : impl_->open)
        s->cancel();
}

unsigned short http_endpoint::port() const { return impl_->acceptor.local_endpoint().port(); }

} // namespace redstream
