#pragma once

#include "redis_server.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace redstream::test {

/// A private Redis Cluster for one test: `masters` redis-servers in cluster mode (each with a
/// free cluster bus port of its own), joined with `redis-cli --cluster create`, the slots
/// split evenly in port order as redis-cli does, and `replicas` replicas per master
/// (`--cluster-replicas`; the first `masters` nodes are the masters). Ready (cluster_state:ok
/// on every node, every replica's link to its master up) when the constructor returns;
/// stopped by pid with the servers.
class redis_cluster {
public:
    explicit redis_cluster(std::size_t masters = 3, std::size_t replicas = 0);

    [[nodiscard]] std::vector<std::unique_ptr<redis_server>> const& nodes() const noexcept { return nodes_; }
    [[nodiscard]] redis_server& node(std::size_t i) const { return *nodes_.at(i); }
    /// redis://127.0.0.1:<port of the first node>, a seed.
    [[nodiscard]] std::string url() const { return nodes_.front()->url(); }

    /// Bounded wait (30 s) until every running node sees cluster_state:ok and every replica's
    /// link is up; throws std::runtime_error after that.
    void wait_until_ok() const;

private:

    std::vector<std::unique_ptr<redis_server>> nodes_;
};

} // namespace redstream::test
