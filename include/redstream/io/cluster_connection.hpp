#pragma once
/// @file
/// A Redis Cluster connection: requests routed to the master of each command's key slot, one
/// multiplexed connection per master, MOVED and ASK followed.

#include <redstream/cluster/slot_map.hpp>
#include <redstream/detail/fwd.hpp>
#include <redstream/io/config.hpp>
#include <redstream/io/connection.hpp>
#include <redstream/io/logger.hpp>
#include <redstream/protocol/adapter.hpp>
#include <redstream/protocol/request.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/deferred.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace redstream {

/// One master's connection as a cluster_connection sees it.
struct cluster_node_stats {
    std::string address;           ///< "host:port"
    connection_state state{};      ///< of its connection now
    std::uint64_t connects = 0;    ///< handshakes completed (reconnects + 1)
};

/// What a cluster_connection did so far.
struct cluster_stats {
    std::uint64_t moved = 0;     ///< MOVED redirects followed (each also applied to the slot map)
    std::uint64_t ask = 0;       ///< ASK redirects followed (ASKING, then the command, once)
    std::uint64_t retries = 0;   ///< commands sent again after TRYAGAIN, CLUSTERDOWN, LOADING or an unmapped slot
    std::uint64_t refreshes = 0; ///< slot maps read with CLUSTER SLOTS
    std::size_t nodes = 0;       ///< node connections opened (one per master used)
    std::vector<cluster_node_stats> node_states; ///< each node connection, by address
};

/// A client of one Redis Cluster.
///
/// The slot map is read with CLUSTER SLOTS from the seed on the first request, and again
/// after MOVED: once for a burst of them (a refresh requested while one runs is folded into
/// one more), while the redirect itself is applied to the map at once. Each master gets one
/// redstream::connection, opened the first time a command goes to it, with the seed's options
/// and credentials.
///
/// A request is split by the slot of each command's key (cluster::command_key), one
/// sub-request per master, all sent at once; the replies reach the adapter in the request's
/// order, as on one connection. A MULTI … EXEC block stays together on its first key's node.
/// Redirects are followed per command (or per transaction): MOVED to the named master, ASK
/// with ASKING in front (before MULTI, never inside). TRYAGAIN, CLUSTERDOWN and LOADING are
/// retried with jittered exponential backoff (10 ms doubling to 1 s, 8 tries); after that the
/// error reaches the adapter as the command's reply.
///
/// CLUSTER SLOTS goes to the known masters first, then the seed, then config::extra_seeds.
/// The map is also read again when a request goes out and it is older than
/// config::cluster_refresh_interval, and after a node's transport error.
///
/// Not yet (issue 14): routing reads to replicas.
///
/// **Thread safety**: like connection, use it from its executor's thread.
class cluster_connection {
public:
    using executor_type = boost::asio::any_io_executor; ///< the executor everything runs on

    /// Where the connection to a master comes from (cluster_client shares its nodes' clients'
    /// connections this way); nullptr when there is none any more (the source was closed),
    /// which fails the request with errc::closed. The connection must stay valid until close().
    using node_source = std::function<connection*(cluster::node_address const&)>;

    /// No I/O until the first request. `seed` names any node of the cluster. The connections
    /// to the masters are its own, made with the seed's options and credentials.
    cluster_connection(executor_type ex, config seed, logger log = {});
    /// As above, with the masters' connections taken from `nodes` (running already; closing
    /// them is the source's business).
    cluster_connection(executor_type ex, config seed, logger log, node_source nodes);
    cluster_connection(cluster_connection const&) = delete;
    cluster_connection& operator=(cluster_connection const&) = delete;
    /// Closes every node connection.
    ~cluster_connection();

    /// Sends `req`, routed as described above, and reads its replies through `adapter`.
    ///
    /// **Completion signature**: `void(error_code, std::size_t replies_read)`, as
    /// connection::async_exec(). A transport error on any node fails the whole request (the
    /// commands sent to other nodes may have run).
    ///
    /// **Lifetimes**: `req` is copied when the operation starts; the adapter's targets must
    /// stay alive until completion.
    template <class Token = boost::asio::deferred_t>
    auto async_exec(request const& req, any_adapter adapter = {}, Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(error_code, std::size_t)>(
            [this](auto h, request const* r, any_adapter a) { exec_impl(*r, std::move(a), std::move(h)); },
            token, &req, std::move(adapter));
    }

    /// Reads the slot map again now (CLUSTER SLOTS), sharing a refresh already running.
    ///
    /// **Completion signature**: `void(error_code)`: the last node's error when none answered.
    template <class Token = boost::asio::deferred_t>
    auto async_refresh(Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(error_code)>(
            [this](auto h) { refresh_impl(std::move(h)); }, token);
    }

    /// Closes every node connection it made; pending and later requests fail with errc::closed.
    void close();

    /// The slot map as last read or corrected (empty before the first request).
    [[nodiscard]] cluster::slot_map const& slots() const noexcept;
    /// Counters (no I/O).
    [[nodiscard]] cluster_stats stats() const;
    /// The executor given to the constructor.
    [[nodiscard]] executor_type get_executor() const noexcept;

private:
    void exec_impl(request const& req, any_adapter adapter,
                   boost::asio::any_completion_handler<void(error_code, std::size_t)> h);

    void refresh_impl(boost::asio::any_completion_handler<void(error_code)> h);

    std::shared_ptr<detail::cluster_connection_impl> impl_;
};

} // namespace redstream
