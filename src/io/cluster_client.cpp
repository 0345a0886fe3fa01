#include <redstream/io/cluster_client.hpp>

#include "io/use_tuple.hpp"
#include "io/xadd_request.hpp"

#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <map>

namespace redstream {

namespace asio = boost::asio;
using detail::use_tuple;

// Shared with the routed connection's node source, which may be called while a request is
// under way after the cluster_client is gone: it finds the state closed, never a dangling one.
struct cluster_client::state {
    asio::any_io_executor ex;
    config seed;
    logger log;
    std::map<std::string, std::unique_ptr<client>> nodes; // by "host:port"
    std::unique_ptr<cluster_connection> routed;
    bool closed = false;

    client* node(cluster::node_address const& n) {
        if (closed)
            return nullptr;
        auto const address = cluster::to_string(n);
        if (auto it = nodes.find(address); it != nodes.end())
            return it->second.get();
        config cfg = seed;
        cfg.host = n.host;
        cfg.port = n.port;
        cfg.extra_seeds.clear();
        return nodes.emplace(address, std::make_unique<client>(ex, std::move(cfg), log)).first->second.get();
    }
};

cluster_client::cluster_client(asio::any_io_executor ex, config seed, logger log)
    : state_(std::make_shared<state>(state{std::move(ex), std::move(seed), std::move(log), {}, nullptr, false})) {
    std::weak_ptr<state> weak = state_;
    state_->routed = std::make_unique<cluster_connection>(
        state_->ex, state_->seed, state_->log, [weak](cluster::node_address const& n) -> redstream::connection* {
            auto s = weak.lock();
            auto* c = s ? s->node(n) : nullptr;
            return c ? &c->connection() : nullptr;
        });
}

cluster_client::~cluster_client() { close(); }

void cluster_client::close() {
    if (state_->closed)
        return;
    state_->closed = true;
    state_->routed->close();
    for (auto& [address, c] : state_->nodes)
        c->close();
}

asio::awaitable<bool> cluster_client::is_cluster(config const& seed, logger log) {
    if (seed.cluster != cluster_mode::automatic)
        co_return seed.cluster == cluster_mode::on;
    // The seed, then each extra seed: the first that answers says.
    std::vector<seed_node> nodes{{seed.host, seed.port}};
    nodes.insert(nodes.end(), seed.extra_seeds.begin(), seed.extra_seeds.end());
    error_code last;
    for (auto const& n : nodes) {
        config cfg = seed;
        cfg.host = n.host;
        cfg.port = n.port;
        cfg.reconnect.enabled = false; // one try per node
        cfg.health_check_interval = milliseconds{0};
        redstream::connection probe{co_await asio::this_coro::executor, std::move(cfg), log};
        probe.async_run([](error_code) {});
        request r;
        r.push("INFO", "cluster");
        std::string info;
        auto [ec, replies] = co_await probe.async_exec(r, adapt(info), use_tuple);
        probe.close();
        if (!ec)
            co_return info.find("cluster_enabled:1") != std::string::npos;
        last = ec;
    }
    throw boost::system::system_error(last, "INFO cluster");
}

cluster_connection& cluster_client::routed() noexcept { return *state_->routed; }

client& cluster_client::node(cluster::node_address const& n) {
    auto* c = state_->node(n);
    if (!c)
        throw boost::system::system_error(make_error_code(errc::closed));
    return *c;
}

asio::awaitable<void> cluster_client::refresh() {
    auto s = state_;
    auto [ec] = co_await s->routed->async_refresh(use_tuple);
    if (ec)
        throw boost::system::system_error(ec, "CLUSTER SLOTS");
}

asio::awaitable<client*> cluster_client::owner_of(std::string_view key) {
    auto s = state_;
    if (s->routed->slots().masters().empty())
        co_await refresh();
    auto const& map = s->routed->slots();
    auto const index = map.master_of_key(key);
    if (!index)
        throw boost::system::system_error(make_error_code(server_errc::clusterdown), "no master serves the slot");
    co_return &node(map.masters()[*index]);
}

asio::awaitable<stream_id> cluster_client::publish(std::string_view stream, field_list const& fields,
                                                   publish_options opts) {
    auto s = state_;
    request r;
    detail::push_xadd(r, stream, fields, opts);
    stream_id id;
    co_await s->routed->async_exec(r, adapt(id), asio::use_awaitable);
    co_return id;
}

asio::any_io_executor cluster_client::get_executor() const { return state_->ex; }

logger const& cluster_client::get_logger() const noexcept { return state_->log; }

config const& cluster_client::get_config() const noexcept { return state_->seed; }

std::vector<std::string> cluster_client::node_addresses() const {
    std::vector<std::string> out;
    for (auto const& [address, c] : state_->nodes)
        out.push_back(address);
    return out;
}

std::vector<std::pair<std::string, client*>> cluster_client::node_clients() const {
    std::vector<std::pair<std::string, client*>> out;
    for (auto const& [address, c] : state_->nodes)
        out.emplace_back(address, c.get());
    return out;
}

} // namespace redstream
