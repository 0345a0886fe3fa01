#pragma once

// A small HTTP/1.1 server (Boost.Beast) on the application's executor serving /metrics and
// /healthz, plus any routes the application adds.

#include <redstream/ops/metrics.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace redstream {

/// What a route sees of a request.
struct http_request_view {
    std::string_view method;
    std::string_view target; ///< path and query
    std::string_view body;
};

/// What a route answers.
struct http_reply {
    unsigned status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
};

/// Serves, on one executor (no threads of its own):
/// - `GET /metrics`: metrics_registry::scrape(), Prometheus text format 0.0.4;
/// - `GET /healthz`: metrics_registry::check_health() as JSON, 200 when healthy, else 503;
/// - routes added with add_route(); anything else is 404 (405 for a known path, wrong method).
/// Keep-alive, a 30 s idle timeout per connection and a 1 MiB request-body limit.
class http_endpoint {
public:
    using route = std::function<boost::asio::awaitable<http_reply>(http_request_view const&)>;

    /// Binds now (port 0 picks a free port; see port()).
    http_endpoint(boost::asio::any_io_executor ex, metrics_registry& registry, boost::asio::ip::tcp::endpoint where);
    ~http_endpoint();
    http_endpoint(http_endpoint const&) = delete;
    http_endpoint& operator=(http_endpoint const&) = delete;

    void add_route(std::string method, std::string path, route handler);
    /// Accepts and serves until stop().
    boost::asio::awaitable<void> run();
    /// Stops accepting and closes open connections.
    void stop();
    [[nodiscard]] unsigned short port() const;

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

} // namespace redstream
