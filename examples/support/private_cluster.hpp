#pragma once

#include "private_redis.hpp"

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace redstream::support {

/// A throw-away Redis Cluster for benchmarks run without --url (`redstream bench --cluster M`):
/// M private_redis nodes in cluster mode (each with a free bus port), joined with
/// `redis-cli --cluster create` (found on PATH), slots split evenly. Ready (cluster_state:ok
/// on every node) when the constructor returns; stopped with its nodes.
class private_cluster {
public:
    explicit private_cluster(std::size_t masters);

    /// The first node's URL (a seed).
    [[nodiscard]] std::string url() const;
    [[nodiscard]] std::vector<std::unique_ptr<private_redis>> const& nodes() const noexcept { return nodes_; }

private:
    std::vector<std::unique_ptr<private_redis>> nodes_;
};

} // namespace redstream::support
