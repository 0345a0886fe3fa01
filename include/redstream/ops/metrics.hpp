#pragma once

/// @file
/// Metrics and health of the clients, workers and autoscalers an application registers:
/// Prometheus text exposition and a health report, collected on demand (at scrape time).

#include <redstream/ops/metric_family.hpp>
#include <redstream/scaling/autoscaler.hpp>
#include <redstream/scaling/partitioned_autoscaler.hpp>
#include <redstream/io/client.hpp>
#include <redstream/scaling/group_sampler.hpp>
#include <redstream/consume/partitioned_worker.hpp>
#include <redstream/consume/worker.hpp>
#include <redstream/io/cluster_client.hpp>

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace redstream {

/// Thresholds of the health check. A check with a zero threshold is off.
///
/// Besides these, a registered client that is not connected, a sampling error, and a missing
/// stream or group each make the report unhealthy.
struct health_options {
    std::uint64_t max_lag = 0;                              ///< entries not yet delivered (off by default)
    std::chrono::milliseconds max_oldest_pending_age{300000}; ///< oldest unacknowledged entry, by the server's clock
    /// With lag > 0, every consumer idle this long (since its last read attempt) is unhealthy;
    /// so is lag > 0 with no consumer in the group at all.
    std::chrono::milliseconds max_consumer_idle{60000};
};

/// Healthy, or not with the reasons (one line each).
struct health_report {
    bool healthy = true;              ///< true when no check failed
    std::vector<std::string> reasons; ///< one line per failed check, naming the client or stream and group
    /// {"healthy":true,"reasons":[...]}
    [[nodiscard]] std::string to_json() const;
};

/// One sampling of the registered workers' groups: what it read, and what it could not read.
/// Each scrape() or check_health() makes its own, so concurrent ones never mix their errors.
struct registry_sample {
    std::vector<group_sample> groups; ///< one per registered worker's stream that could be sampled, in registration order
    std::vector<std::string> errors; ///< "sampling <stream> <group>: <why>", one per group not read
};

/// Holds references (not ownership) to the objects it reports on: keep them alive while it is
/// used. No globals: make one per application (or per client).
///
/// Objects cannot be removed once added. **Thread safety**: none; use it on the executor of
/// the objects it reports on.
class metrics_registry {
public:
    /// An empty registry with the given health thresholds.
    explicit metrics_registry(health_options health = {}) : health_(health) {}

    /// Reports `c`'s connection (connects, connected, pipeline depth, dropped pushes) with the
    /// label `client="<name>"`, and checks that it is connected. Give each client its own name.
    void add(client& c, std::string name = "default") { clients_.push_back({&c, std::move(name)}); }
    /// Reports `w`'s counters, gauges and histograms (labels `stream`, the worker's streams
    /// joined with ",", and `group`), and samples its groups (per stream) through its client.
    void add(worker& w) { workers_.push_back(&w); }
    /// Reports each partition's worker as add(worker&) does (label `stream` the partition key;
    /// sum over `stream` for the group's totals), samples each partition's group on its master,
    /// and counts partition moves (`redstream_partition_moves_total`).
    void add(partitioned_worker& w) { partitioned_.push_back(&w); }
    /// Reports a cluster: each master's client as add(client&) does, named `<name>:<host:port>`
    /// (and checked as connected), redirects by kind, retries and slot-map refreshes.
    void add(cluster_client& c, std::string name = "cluster") { clusters_.push_back({&c, std::move(name)}); }
    /// Reports `a`'s desired consumers and decisions, labelled like the worker it scales.
    void add(autoscaler& a) { scalers_.push_back(&a); }
    /// Reports each of `a`'s autoscalers as add(autoscaler&) does (one per partition's worker;
    /// a partition that moved starts its decisions counter again, as a restarted process does).
    void add(partitioned_autoscaler& a) { partitioned_scalers_.push_back(&a); }

    /// Samples every registered worker's groups (one pipelined round trip per stream), then
    /// renders the Prometheus text exposition format (version 0.0.4).
    ///
    /// Sampling errors do not throw: they make `redstream_healthy` 0. The returned text is the
    /// caller's.
    boost::asio::awaitable<std::string> scrape();
    /// Samples as scrape() does and evaluates the health checks.
    boost::asio::awaitable<health_report> check_health();

    /// Samples every registered worker's groups (one pipelined round trip per stream). A group
    /// that cannot be read is listed in `errors`, not thrown.
    ///
    /// The streams are sampled one after another, with sample_group() and default
    /// sample_options. If the awaiting coroutine is cancelled, the groups not sampled yet
    /// appear in `errors`.
    boost::asio::awaitable<registry_sample> sample();
    /// Every metric family with the given sample (no I/O): the data render() formats, for
    /// adapters to other metric systems (the prometheus-cpp adapter uses it).
    [[nodiscard]] std::vector<metric_family> collect(registry_sample const& sampled) const;
    /// Renders collect(sampled) in the Prometheus text format (no I/O).
    [[nodiscard]] std::string render(registry_sample const& sampled) const;
    /// Evaluates health with the given sample (no I/O): each sampling error is a reason.
    [[nodiscard]] health_report evaluate(registry_sample const& sampled) const;

private:
    struct named_client {
        client* c;
        std::string name;
    };

    struct named_cluster {
        cluster_client* c;
        std::string name;
    };
    // Every worker now: the added ones, then each partitioned worker's current ones.
    [[nodiscard]] std::vector<worker*> all_workers() const;
    // Every client now: the added ones, then each cluster's masters, with their names.
    [[nodiscard]] std::vector<named_client> all_clients() const;

    health_options health_;
    std::vector<named_client> clients_;
    std::vector<worker*> workers_;
    std::vector<partitioned_worker*> partitioned_;
    std::vector<named_cluster> clusters_;
    std::vector<autoscaler*> scalers_;
    std::vector<partitioned_autoscaler*> partitioned_scalers_;
};

} // namespace redstream
