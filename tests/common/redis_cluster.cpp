#include "redis_cluster.hpp"

#include <chrono>
#include <stdexcept>
#include <thread>

namespace redstream::test {

redis_cluster::redis_cluster(std::size_t masters, std::size_t replicas) {
    std::vector<std::string> create{"--cluster", "create"};
    for (std::size_t i = 0; i < masters * (1 + replicas); ++i) {
        redis_server::options o;
        // The bus port defaults to port + 10000, which a free ephemeral port can push past
        // 65535: give each node a free one.
        o.extra_args = {"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout",
                        "3000", "--cluster-port", std::to_string(free_port())};
        nodes_.push_back(std::make_unique<redis_server>(o));
        create.push_back("127.0.0.1:" + std::to_string(nodes_.back()->port()));
    }
    if (replicas > 0) {
        create.push_back("--cluster-replicas");
        create.push_back(std::to_string(replicas));
    }
    create.push_back("--cluster-yes");
    auto const out = nodes_.front()->cli(create);
    if (out.find("[OK] All 16384 slots covered") == std::string::npos)
        throw std::runtime_error("redis-cli --cluster create failed:\n" + out);
    wait_until_ok();
}

// Bounded wait for the gossip to converge: every node must see the cluster as ok.
void redis_cluster::wait_until_ok() const {
    auto const deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
        bool all_ok = true;
        for (auto const& n : nodes_) {
            if (n->pid() <= 0)
                continue; // stopped by the test
            all_ok = all_ok && n->cli({"CLUSTER", "INFO"}).find("cluster_state:ok") != std::string::npos;
            auto const repl = n->cli({"INFO", "replication"});
            if (repl.find("role:slave") != std::string::npos)
                all_ok = all_ok && repl.find("master_link_status:up") != std::string::npos;
        }
        if (all_ok)
            return;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    throw std::runtime_error("the test cluster did not reach cluster_state:ok (replicas linked) within 30 s");
}

} // namespace redstream::test
