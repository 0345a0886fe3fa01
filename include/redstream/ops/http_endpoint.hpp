#pragma once

/// @file
/// A small HTTP/1.1 server (Boost.Beast) on the application's executor serving /metrics and
/// /healthz, plus any routes the application adds.

#include <redstream/ops/metrics.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace redstream {

/// What a route sees of a request. The views point into the endpoint's request buffer:
/// valid until the route's awaitable completes.
struct http_request_view {
    std::string_view method; ///< "GET", "POST"... as sent (case-sensitive)
    std::string_view target; ///< path and query
    std::string_view body;   ///< the request body (at most 1 MiB), empty if none
};

/// What a route answers.
struct http_reply {
    unsigned status = 200; ///< HTTP status code, sent as is
    std::string content_type = "text/plain; charset=utf-8"; ///< the Content-Type header
    std::string body; ///< the response body (Content-Length is set from it)
};

/// Serves, on one executor (no threads of its own):
/// - `GET /metrics`: metrics_registry::scrape(), Prometheus text format 0.0.4;
/// - `GET /healthz`: metrics_registry::check_health() as JSON, 200 when healthy, else 503;
/// - routes added with add_route(); anything else is 404 (405 for a known path, wrong method).
/// Keep-alive, a 30 s idle timeout per connection and a 1 MiB request-body limit.
///
/// Each connection is served by its own coroutine, one request at a time; a route or a scrape
/// that throws answers 500 with the exception's text in the body.
///
/// **Lifetimes**: refers to the registry without owning it. Connections are served by detached
/// coroutines that may still be finishing a request after stop() or the destructor: keep the
/// registry (and what it refers to) alive until the io_context has stopped running them.
///
/// **Thread safety**: none; use it on `ex`'s thread, the one the registry's objects use.
class http_endpoint {
public:
    /// A route: called on the endpoint's executor for each matching request; the request view
    /// is valid until the returned awaitable completes. An exception becomes a 500 reply.
    using route = std::function<boost::asio::awaitable<http_reply>(http_request_view const&)>;

    /// Binds now (port 0 picks a free port; see port()).
    ///
    /// Listens on `where` (with SO_REUSEADDR); throws boost::system::system_error if it
    /// cannot (address in use, no permission).
    http_endpoint(boost::asio::any_io_executor ex, metrics_registry& registry, boost::asio::ip::tcp::endpoint where);
    /// Stops, as stop() does.
    ~http_endpoint();
    http_endpoint(http_endpoint const&) = delete;
    http_endpoint& operator=(http_endpoint const&) = delete;

    /// Serves `method` requests to `path` (matched exactly, without the query) with `handler`.
    /// A route for `GET /metrics` or `GET /healthz` replaces the built-in one; adding a route
    /// again replaces it. Takes effect for requests dispatched from then on.
    void add_route(std::string method, std::string path, route handler);
    /// Accepts and serves until stop().
    ///
    /// Accept errors other than cancellation are ignored and accepting goes on. Returns once
    /// stop() has closed the acceptor (or its accept was cancelled); it does not wait for open
    /// connections. After stop() it returns at once: an endpoint cannot be restarted.
    boost::asio::awaitable<void> run();
    /// Stops accepting and closes open connections.
    ///
    /// More exactly, it closes the acceptor and cancels the reads and writes open connections
    /// are waiting for, which closes the idle ones. A connection whose route (or scrape) is
    /// running at that moment still sends that reply, and then stays open, serving further
    /// requests, until the peer closes it or it idles for 30 s. Idempotent.
    void stop();
    /// The local port bound (useful after binding port 0). Throws boost::system::system_error
    /// after stop() (the acceptor is closed).
    [[nodiscard]] unsigned short port() const;

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

} // namespace redstream
