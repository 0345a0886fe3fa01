#pragma once
/// @file
/// Which master serves which hash slot: the reply of CLUSTER SLOTS, and the map built from it.

#include <redstream/cluster/key_slot.hpp>
#include <redstream/protocol/reply_reader.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace redstream::cluster {

/// A node as CLUSTER SLOTS names it.
struct node_address {
    /// The node's preferred endpoint; empty when the node does not know it (Redis sends null
    /// or "" then): the host of the node that was asked.
    std::string host;
    std::uint16_t port = 0; ///< the node's client port
    std::string id; ///< the node id (40 hex characters); empty from servers before 4.0
    /// The same endpoint (host and port; the id is not compared: a MOVED names no id).
    friend bool operator==(node_address const& a, node_address const& b) {
        return a.host == b.host && a.port == b.port;
    }
};

/// "host:port", as MOVED and the logs write it (IPv6 hosts unbracketed, as Redis does).
[[nodiscard]] std::string to_string(node_address const& n);

/// One entry of CLUSTER SLOTS: a range of slots, its master and its replicas.
struct slot_range {
    std::uint16_t first = 0; ///< the first slot of the range
    std::uint16_t last = 0;  ///< the last slot, included
    node_address master;                ///< the node that serves the range
    std::vector<node_address> replicas; ///< its replicas, as listed
};

/// The reply of CLUSTER SLOTS.
struct cluster_slots {
    std::vector<slot_range> ranges; ///< in the order the server listed them
};

/// The slot → master table of a cluster, one entry per slot.
class slot_map {
public:
    /// No slot has a master: every lookup gives nullopt.
    slot_map();

    /// Builds the table from CLUSTER SLOTS. Nodes with an empty host get `asked_host` (the
    /// host of the node that answered). Overlapping ranges: the last one wins.
    [[nodiscard]] static slot_map from_reply(cluster_slots const& reply, std::string_view asked_host);

    /// The index (into masters()) of the master serving `slot`, or nullopt when no range covers it.
    [[nodiscard]] std::optional<std::size_t> master_of(std::uint16_t slot) const noexcept;
    /// The master serving `key`'s slot.
    [[nodiscard]] std::optional<std::size_t> master_of_key(std::string_view key) const noexcept {
        return master_of(key_slot(key));
    }
    /// Every master that serves at least one slot, in the order first seen.
    [[nodiscard]] std::vector<node_address> const& masters() const noexcept { return masters_; }
    /// How many slots have no master (0 when the cluster's key space is fully covered).
    [[nodiscard]] std::size_t uncovered_slots() const noexcept;
    /// How many slots `masters()[index]` serves.
    [[nodiscard]] std::size_t slots_of(std::size_t index) const noexcept;

    /// Applies a MOVED redirect without waiting for the next CLUSTER SLOTS: `slot` is served
    /// by `node` (added to masters() if new). Returns its index.
    std::size_t assign(std::uint16_t slot, node_address const& node);

private:
    std::size_t index_of(node_address const& node);

    static constexpr std::uint16_t no_owner = 0xffff;
    std::vector<node_address> masters_;
    std::vector<std::uint16_t> owner_; // per slot: index into masters_, or no_owner
};

} // namespace redstream::cluster

namespace redstream {

/// Reads the reply of CLUSTER SLOTS (RESP2 or RESP3, with or without the Redis 7 metadata
/// map of each node) into cluster::cluster_slots. A range or node of another shape fails with
/// errc::wrong_reply_type.
template <>
struct reader<cluster::cluster_slots> {
    /// Binds to `out` and clears it.
    void start(cluster::cluster_slots& out) noexcept;
    /// Takes the next element; true once the whole reply has been read.
    bool feed(resp::node const& n, error_code& ec);

private:
    void on_range_element(resp::node const& n, error_code& ec);
    void on_node_field(resp::node const& n, error_code& ec);

    cluster::cluster_slots* out_ = nullptr;
    std::size_t remaining_ = 0;  // elements still to come (pre-order count)
    std::size_t range_field_ = 0; // position inside the current range: first, last, nodes...
    std::size_t node_field_ = 0;  // position inside the current node: host, port, id, metadata
    cluster::node_address* node_ = nullptr;
};

} // namespace redstream
