#pragma once
/// @file
/// The entry point on a Redis Cluster: one client per master (its multiplexed connection, its
/// keyspace notifications) and routed commands over those same connections.

#include <redstream/io/client.hpp>
#include <redstream/io/cluster_connection.hpp>

#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace redstream {

/// A Redis Cluster: a redstream::client for each master, opened the first time something goes
/// there, and a cluster_connection that routes commands over the same connections, so each
/// master has one multiplexed connection from this process (a seed asked for the slot map that
/// is not a master by the same address gets a client too; clients are kept until close()). Workers of partitioned
/// streams run on the client of the master that owns their partition, where keyspace
/// notifications for it are published (they are local to a node).
///
/// **Lifetimes**: partitioned workers and producers refer to it without owning it; it must
/// outlive them.
///
/// **Thread safety**: none; use it on its executor's thread.
class cluster_client {
public:
    /// No I/O yet. `seed` names any node (config::extra_seeds more of them); every master's
    /// client gets its options and credentials.
    cluster_client(boost::asio::any_io_executor ex, config seed, logger log = {});
    /// Closes everything, as close() does.
    ~cluster_client();
    cluster_client(cluster_client const&) = delete;
    cluster_client& operator=(cluster_client const&) = delete;

    /// True when `seed` is a Redis Cluster: config::cluster says so, or (automatic) INFO cluster
    /// on a short-lived connection to the seed (then each of config::extra_seeds until one
    /// answers) says `cluster_enabled:1`. Throws boost::system::system_error with the last
    /// node's error when automatic and none can be asked.
    static boost::asio::awaitable<bool> is_cluster(config const& seed, logger log = {});

    /// Routed commands: split per master, MOVED and ASK followed (cluster_connection).
    [[nodiscard]] cluster_connection& routed() noexcept;
    /// The client of the master at `node`, made the first time (it starts connecting at once).
    /// Throws boost::system::system_error(errc::closed) after close().
    client& node(cluster::node_address const& node);
    /// The client of the master serving `key`'s slot now, reading the slot map first if there
    /// is none yet. Throws boost::system::system_error when the map cannot be read, or
    /// server_errc::clusterdown when no master serves the slot.
    boost::asio::awaitable<client*> owner_of(std::string_view key);
    /// Reads the slot map again (CLUSTER SLOTS); throws as owner_of().
    boost::asio::awaitable<void> refresh();

    /// XADD routed by `stream`'s slot; errors as client::publish(), plus redirects that did not
    /// settle within cluster_connection's tries.
    boost::asio::awaitable<stream_id> publish(std::string_view stream, field_list const& fields,
                                              publish_options opts = {});

    /// The executor given to the constructor.
    [[nodiscard]] boost::asio::any_io_executor get_executor() const;
    /// The logger given to the constructor.
    [[nodiscard]] logger const& get_logger() const noexcept;
    /// The seed's config.
    [[nodiscard]] config const& get_config() const noexcept;
    /// The masters' clients made so far, by "host:port".
    [[nodiscard]] std::vector<std::string> node_addresses() const;
    /// The masters' clients made so far with their "host:port" (metrics, health). The pointers
    /// stay valid until the cluster_client is destroyed.
    [[nodiscard]] std::vector<std::pair<std::string, client*>> node_clients() const;

    /// Closes the routed connection and every master's client. Idempotent and final.
    void close();

private:
    struct state;
    std::shared_ptr<state> state_;
};

} // namespace redstream
