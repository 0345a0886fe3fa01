#include "private_cluster.hpp"

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <thread>

namespace redstream::support {

namespace {

// A redis-cli run's stdout.
std::string run(std::string const& cmd) {
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p)
        throw std::runtime_error("cannot run redis-cli");
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p))
        out.append(buf, n);
    ::pclose(p);
    return out;
}

} // namespace

private_cluster::private_cluster(std::size_t masters) {
    if (masters < 3)
        throw std::invalid_argument("a Redis Cluster needs at least 3 masters");
    std::string create = "redis-cli --cluster create";
    for (std::size_t i = 0; i < masters; ++i) {
        // The bus port defaults to port + 10000, which may be past 65535 or taken: pick one.
        nodes_.push_back(std::make_unique<private_redis>(std::vector<std::string>{
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-port",
            std::to_string(pick_port())}));
        create += " 127.0.0.1:" + std::to_string(nodes_.back()->port());
    }
    auto const out = run(create + " --cluster-yes 2>&1");
    if (out.find("[OK] All 16384 slots covered") == std::string::npos)
        throw std::runtime_error("redis-cli --cluster create failed:\n" + out);
    // Bounded wait for the gossip to agree: every node must see the cluster as ok.
    auto const deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;) {
        bool all_ok = true;
        for (auto const& n : nodes_)
            all_ok = all_ok &&
                     run("redis-cli -p " + std::to_string(n->port()) + " CLUSTER INFO").find("cluster_state:ok") !=
                         std::string::npos;
        if (all_ok)
            return;
        if (std::chrono::steady_clock::now() > deadline)
            throw std::runtime_error("the private cluster did not reach cluster_state:ok within 30 s");
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

std::string private_cluster::url() const { return nodes_.front()->url(); }

} // namespace redstream::support
