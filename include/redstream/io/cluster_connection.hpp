#pragma once
/// @file
/// A Redis Cluster connection: requests routed to the master of each command's key slot, one
/// multiplexed connection per master, MOVED and ASK followed.

#include <redstream/cluster/slot_map.hpp>
#include <redstream/detail/fwd.hpp>
#include <redstream/io/config.hpp>
#include <redstream/io/logger.hpp>
#include <redstream/protocol/adapter.hpp>
#include <redstream/protocol/request.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/deferred.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>

namespace redstream {

/// What a cluster_connection did so far.
struct cluster_stats {
    std::uint64_t moved = 0;     ///< MOVED redirects followed (each also applied to the slot map)
    std::uint64_t ask = 0;       ///< ASK redirects followed (ASKING, then the command, once)
    std::uint64_t retries = 0;   ///< commands sent again after TRYAGAIN, CLUSTERDOWN, LOADING or an unmapped slot
    std::uint64_t refreshes = 0; ///< slot maps read with CLUSTER SLOTS
    std::size_t nodes = 0;       ///< node connections opened (one per master used)
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
/// Not yet (issue 14): a periodic refresh, several seeds, routing reads to replicas, and the
/// worker and producer on partitioned streams.
///
/// **Thread safety**: like connection, use it from its executor's thread.
class cluster_connection {
public:
    using executor_type = boost::asio::any_io_executor; ///< the executor everything runs on

    /// No I/O until the first request. `seed` names any node of the cluster.
    cluster_connection(executor_type ex, config seed, logger log = {});
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

    /// Closes every node connection; pending and later requests fail with errc::closed.
    void close();

    /// The slot map as last read or corrected (empty before the first request).
    [[nodiscard]] cluster::slot_map const& slots() const noexcept;
    /// Counters (no I/O).
    [[nodiscard]] cluster_stats stats() const noexcept;
    /// The executor given to the constructor.
    [[nodiscard]] executor_type get_executor() const noexcept;

private:
    void exec_impl(request const& req, any_adapter adapter,
                   boost::asio::any_completion_handler<void(error_code, std::size_t)> h);

    std::shared_ptr<detail::cluster_connection_impl> impl_;
};

} // namespace redstream
