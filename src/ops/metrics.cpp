#include <redstream/ops/metrics.hpp>
#include <redstream/version.hpp>

#include "protocol/stream_list.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

namespace redstream {

namespace asio = boost::asio;

namespace {

std::vector<std::string> streams_of(worker const& w) {
    return detail::stream_list(w.options().stream, w.options().streams);
}

std::string json_string(std::string_view s) {
    std::string out = "\"";
    for (char ch : s) {
        switch (ch) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        default:
            if (static_cast<unsigned char>(ch) < 0x20)
                out += fmt::format("\\u{:04x}", static_cast<unsigned>(ch));
            else
                out += ch;
        }
    }
    out += '"';
    return out;
}

// A worker's counters: name, help, and how to read it from worker_stats.
struct worker_counter {
    std::string_view name;
    std::string_view help;
    std::uint64_t worker_stats::*field;
};

constexpr worker_counter worker_counters[] = {
    {"redstream_messages_read_total", "Messages delivered to consumers by XREADGROUP.",
     &worker_stats::messages_read},
    {"redstream_messages_handled_total", "Handler calls that finished (returned or threw).", &worker_stats::handled},
    {"redstream_messages_acked_total", "Messages acknowledged (XACK confirmed).", &worker_stats::acked},
    {"redstream_messages_failed_total", "Handler calls that threw or asked to retry.", &worker_stats::failed},
    {"redstream_messages_retried_total", "Redeliveries scheduled with retry_after.", &worker_stats::retried},
    {"redstream_messages_claimed_total", "Messages claimed from idle consumers.", &worker_stats::claimed},
    {"redstream_messages_dead_lettered_total", "Messages moved to the dead-letter stream.",
     &worker_stats::dead_lettered},
    {"redstream_messages_duplicates_skipped_total", "Messages not handled because another copy is accounted for (idempotency marker, another lease, taken over).",
     &worker_stats::skipped_duplicates},
    {"redstream_read_errors_total", "XREADGROUP failures.", &worker_stats::read_errors},
    {"redstream_ack_batches_total", "XACK requests sent.", &worker_stats::ack_batches},
};

struct worker_gauge {
    std::string_view name;
    std::string_view help;
    std::size_t worker_stats::*field;
};

constexpr worker_gauge worker_gauges[] = {
    {"redstream_consumers", "Consumer coroutines running.", &worker_stats::consumers},
    {"redstream_consumers_parked", "Consumers waiting for a wake-up.", &worker_stats::parked},
    {"redstream_in_flight_messages", "Messages read and not yet acknowledged or released.", &worker_stats::in_flight},
    {"redstream_pending_acks", "Acks queued or being sent.", &worker_stats::pending_acks},
    {"redstream_read_depth", "Reads the worker keeps travelling beyond one read-ahead per consumer (adaptive).",
     &worker_stats::read_depth},
    {"redstream_reads_in_flight", "XREADGROUPs of new messages sent and not answered yet.",
     &worker_stats::reads_in_flight},
    {"redstream_read_size", "COUNT of reads now (the batch, halved after a connection lost mid-read).",
     &worker_stats::read_size},
};

struct worker_histogram {
    std::string_view name;
    std::string_view help;
    histogram worker_histograms::*field;
};

constexpr worker_histogram worker_histogram_families[] = {
    {"redstream_handler_duration_seconds", "Time handlers took.", &worker_histograms::handler_seconds},
    {"redstream_end_to_end_latency_seconds", "Entry id time to handler start.",
     &worker_histograms::end_to_end_seconds},
    {"redstream_read_batch_entries", "Entries per non-empty XREADGROUP reply.", &worker_histograms::batch_entries},
    {"redstream_ack_flush_delay_seconds", "Time from the first queued ack to its XACK being sent.",
     &worker_histograms::ack_flush_delay_seconds},
};

// Group state, sampled now.
struct group_gauge {
    std::string_view name;
    std::string_view help;
    double (*value)(group_sample const&);
};

constexpr group_gauge group_gauges[] = {
    {"redstream_group_lag", "Entries not yet delivered to the group (reported by Redis, or counted).",
     [](group_sample const& s) { return static_cast<double>(s.lag); }},
    {"redstream_group_lag_counted", "1 when Redis reported no lag and it was counted (a lower bound if capped).",
     [](group_sample const& s) { return s.lag_counted ? 1.0 : 0.0; }},
    {"redstream_group_age_lag_seconds", "Newest entry time minus the group's last-delivered entry time.",
     [](group_sample const& s) { return static_cast<double>(s.age_lag_ms) / 1000.0; }},
    {"redstream_group_pending", "Entries delivered and not yet acknowledged.",
     [](group_sample const& s) { return static_cast<double>(s.pending); }},
    {"redstream_group_oldest_pending_age_seconds", "Age of the oldest unacknowledged entry (server clock).",
     [](group_sample const& s) { return static_cast<double>(s.oldest_pending_age_ms) / 1000.0; }},
    {"redstream_stream_length", "Entries in the stream (XLEN).",
     [](group_sample const& s) { return static_cast<double>(s.length); }},
    {"redstream_group_consumers", "Consumers the group knows (XINFO CONSUMERS).",
     [](group_sample const& s) { return static_cast<double>(s.consumers.size()); }},
};

using label_list = std::vector<metric_label>;

metric_family& add_family(std::vector<metric_family>& out, std::string_view name, metric_type type,
                          std::string_view help) {
    return out.emplace_back(metric_family{std::string{name}, std::string{help}, type, {}});
}

void add_sample(metric_family& f, label_list labels, double value) {
    f.samples.push_back(metric_sample{.labels = std::move(labels), .value = value, .buckets = {}, .sum = 0, .count = 0});
}

// Owned assignment's figures, for the partitioned workers that use it.
void collect_owned_metrics(std::vector<metric_family>& out, std::vector<partitioned_worker*> const& workers) {
    std::vector<partitioned_worker*> owned;
    for (auto* p : workers)
        if (p->assignment().mode == partition_assignment::owned)
            owned.push_back(p);
    if (owned.empty())
        return;
    auto& held = add_family(out, "redstream_partitions_owned", metric_type::gauge,
                            "Partitions whose lease this member holds (owned assignment).");
    auto& members = add_family(out, "redstream_partition_members", metric_type::gauge,
                               "Live members of the group last seen (owned assignment).");
    auto& lost = add_family(out, "redstream_partition_leases_lost_total", metric_type::counter,
                            "Leases found held by another member, or not renewed in time.");
    for (auto* p : owned) {
        auto const st = p->stats();
        label_list const labels{{"stream", p->options().stream}, {"group", p->options().group}};
        add_sample(held, labels, static_cast<double>(st.owned));
        add_sample(members, labels, static_cast<double>(st.members));
        add_sample(lost, labels, static_cast<double>(st.leases_lost));
    }
}

// Cumulative buckets, the last one +Inf (the histogram's overflow count).
void add_histogram_sample(metric_family& f, label_list labels, histogram const& h) {
    metric_sample s{.labels = std::move(labels), .value = 0, .buckets = {}, .sum = h.sum(), .count = h.count()};
    auto const& bounds = h.bounds();
    auto const& counts = h.counts();
    s.buckets.reserve(bounds.size() + 1);
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= bounds.size(); ++i) {
        cumulative += counts[i];
        s.buckets.push_back({i < bounds.size() ? bounds[i] : std::numeric_limits<double>::infinity(), cumulative});
    }
    f.samples.push_back(std::move(s));
}

// The labels of a worker's series: its stream(s) (comma-separated) and group.
label_list worker_labels(worker const& w) {
    return {{"stream", fmt::format("{}", fmt::join(streams_of(w), ","))}, {"group", w.options().group}};
}

// Counters, gauges and histograms of each worker.
void collect_worker_metrics(std::vector<metric_family>& out, std::vector<worker*> const& workers) {
    std::vector<label_list> labels;
    std::vector<worker_stats> stats;
    for (auto* w : workers) {
        labels.push_back(worker_labels(*w));
        stats.push_back(w->stats());
    }
    for (auto const& c : worker_counters) {
        auto& f = add_family(out, c.name, metric_type::counter, c.help);
        for (std::size_t i = 0; i < workers.size(); ++i)
            add_sample(f, labels[i], static_cast<double>(stats[i].*c.field));
    }
    for (auto const& g : worker_gauges) {
        auto& f = add_family(out, g.name, metric_type::gauge, g.help);
        for (std::size_t i = 0; i < workers.size(); ++i)
            add_sample(f, labels[i], static_cast<double>(stats[i].*g.field));
    }
    for (auto const& h : worker_histogram_families) {
        auto& f = add_family(out, h.name, metric_type::histogram, h.help);
        for (std::size_t i = 0; i < workers.size(); ++i)
            add_histogram_sample(f, labels[i], workers[i]->histograms().*h.field);
    }
}

struct named_connection {
    std::string_view name;
    connection const* conn;
};

void collect_connection_metrics(std::vector<metric_family>& out, std::vector<named_connection> const& connections) {
    auto client_label = [](named_connection const& c) { return label_list{{"client", std::string{c.name}}}; };
    auto& connects = add_family(out, "redstream_connects_total", metric_type::counter,
                                "Successful connection handshakes (reconnects + 1).");
    auto& connected = add_family(out, "redstream_connected", metric_type::gauge, "1 when the client's connection is up.");
    auto& depth = add_family(out, "redstream_pipeline_depth", metric_type::gauge,
                             "Requests queued or awaiting their reply on the connection.");
    auto& dropped = add_family(out, "redstream_pushes_dropped_total", metric_type::counter,
                               "Pushes dropped because the push queue was full.");
    for (auto const& c : connections) {
        auto const st = c.conn->stats();
        add_sample(connects, client_label(c), static_cast<double>(st.connects));
        add_sample(connected, client_label(c), c.conn->state() == connection_state::connected ? 1.0 : 0.0);
        add_sample(depth, client_label(c), static_cast<double>(st.requests_waiting + st.requests_in_flight));
        add_sample(dropped, client_label(c), static_cast<double>(st.pushes_dropped));
    }
}

void collect_group_metrics(std::vector<metric_family>& out, std::vector<group_sample> const& samples) {
    for (auto const& g : group_gauges) {
        auto& f = add_family(out, g.name, metric_type::gauge, g.help);
        for (auto const& s : samples)
            if (s.group_exists)
                add_sample(f, {{"stream", s.stream}, {"group", s.group}}, g.value(s));
    }
    auto& pending = add_family(out, "redstream_consumer_pending", metric_type::gauge, "Entries pending per consumer.");
    auto& idle = add_family(out, "redstream_consumer_idle_seconds", metric_type::gauge,
                            "Time since each consumer's last read attempt.");
    std::size_t consumers = 0;
    for (auto const& s : samples)
        consumers += s.consumers.size();
    pending.samples.reserve(consumers);
    idle.samples.reserve(consumers);
    for (auto const& s : samples)
        for (auto const& c : s.consumers) {
            label_list labels{{"stream", s.stream}, {"group", s.group}, {"consumer", c.name}};
            add_sample(pending, labels, static_cast<double>(c.pending));
            add_sample(idle, std::move(labels), static_cast<double>(c.idle_ms) / 1000.0);
        }
}

template <class Named>
void collect_cluster_metrics(std::vector<metric_family>& out, std::vector<Named> const& clusters) {
    auto& redirects = add_family(out, "redstream_cluster_redirects_total", metric_type::counter,
                                 "MOVED and ASK redirects followed by routed commands.");
    auto& retries = add_family(out, "redstream_cluster_retries_total", metric_type::counter,
                               "Routed commands sent again after TRYAGAIN, CLUSTERDOWN, LOADING or an unmapped slot.");
    auto& refreshes = add_family(out, "redstream_cluster_refreshes_total", metric_type::counter,
                                 "Slot maps read with CLUSTER SLOTS.");
    for (auto const& c : clusters) {
        auto const st = c.c->routed().stats();
        add_sample(redirects, {{"cluster", c.name}, {"kind", "moved"}}, static_cast<double>(st.moved));
        add_sample(redirects, {{"cluster", c.name}, {"kind", "ask"}}, static_cast<double>(st.ask));
        add_sample(retries, {{"cluster", c.name}}, static_cast<double>(st.retries));
        add_sample(refreshes, {{"cluster", c.name}}, static_cast<double>(st.refreshes));
    }
}

// Labelled like the worker each autoscaler scales, so that several never share a series.
void collect_autoscaler_metrics(std::vector<metric_family>& out, std::vector<autoscaler*> const& scalers) {
    auto& desired = add_family(out, "redstream_autoscaler_desired_consumers", metric_type::gauge,
                               "Consumers the scaling policy wants.");
    auto& decisions = add_family(out, "redstream_autoscaler_decisions_total", metric_type::counter,
                                 "Changes of the consumer count.");
    for (auto* a : scalers) {
        auto labels = worker_labels(a->scaled_worker());
        add_sample(desired, labels, static_cast<double>(a->status().desired));
        add_sample(decisions, std::move(labels), static_cast<double>(a->status().decisions));
    }
}

} // namespace

std::string health_report::to_json() const {
    std::string out = fmt::format("{{\"healthy\":{},\"reasons\":[", healthy ? "true" : "false");
    for (std::size_t i = 0; i < reasons.size(); ++i) {
        if (i > 0)
            out += ',';
        out += json_string(reasons[i]);
    }
    out += "]}";
    return out;
}

std::vector<worker*> metrics_registry::all_workers() const {
    auto out = workers_;
    for (auto* p : partitioned_)
        for (auto* w : p->workers())
            out.push_back(w);
    return out;
}

std::vector<metrics_registry::named_client> metrics_registry::all_clients() const {
    auto out = clients_;
    for (auto const& c : clusters_)
        for (auto const& [address, node] : c.c->node_clients())
            out.push_back({node, fmt::format("{}:{}", c.name, address)});
    return out;
}

asio::awaitable<registry_sample> metrics_registry::sample() {
    // What to sample, taken before the first await: a partition's worker may be replaced meanwhile
    // (its client, a cluster master's, stays).
    struct target {
        client* on;
        std::string stream, group;
    };
    std::vector<target> targets;
    for (auto* w : all_workers())
        for (auto const& s : streams_of(*w))
            targets.push_back({&w->get_client(), s, w->options().group});
    registry_sample out;
    for (auto const& t : targets) {
        try {
            out.groups.push_back(co_await sample_group(*t.on, t.stream, t.group));
        } catch (std::exception const& e) {
            out.errors.push_back(fmt::format("sampling {} {}: {}", t.stream, t.group, e.what()));
        }
    }
    co_return out;
}

asio::awaitable<std::string> metrics_registry::scrape() {
    auto const s = co_await sample();
    co_return render(s);
}

asio::awaitable<health_report> metrics_registry::check_health() {
    auto const s = co_await sample();
    co_return evaluate(s);
}

health_report metrics_registry::evaluate(registry_sample const& sampled) const {
    health_report r;
    auto fail = [&](std::string why) {
        r.healthy = false;
        r.reasons.push_back(std::move(why));
    };
    for (auto const& c : all_clients())
        if (c.c->connection().state() != connection_state::connected)
            fail(fmt::format("client {} is not connected to {}", c.name, c.c->connection().get_config().redacted_address()));
    for (auto const& e : sampled.errors)
        fail(e);
    for (auto const& s : sampled.groups) {
        if (!s.stream_exists || !s.group_exists) {
            fail(fmt::format("{} {}: {} does not exist", s.stream, s.group, s.stream_exists ? "group" : "stream"));
            continue;
        }
        if (health_.max_lag > 0 && s.lag > health_.max_lag)
            fail(fmt::format("{} {}: lag {} > {}", s.stream, s.group, s.lag, health_.max_lag));
        auto const max_age = static_cast<std::uint64_t>(health_.max_oldest_pending_age.count());
        if (max_age > 0 && s.pending > 0 && s.oldest_pending_age_ms > max_age)
            fail(fmt::format("{} {}: oldest pending entry {} is {} ms old (> {} ms)", s.stream, s.group,
                             s.oldest_pending_id ? s.oldest_pending_id->to_string() : "?", s.oldest_pending_age_ms,
                             max_age));
        auto const max_idle = static_cast<std::uint64_t>(health_.max_consumer_idle.count());
        if (max_idle > 0 && s.lag > 0) {
            bool const all_idle = std::all_of(s.consumers.begin(), s.consumers.end(),
                                              [&](consumer_sample const& c) { return c.idle_ms > max_idle; });
            if (all_idle)
                fail(fmt::format("{} {}: lag {} but no consumer read in the last {} ms", s.stream, s.group, s.lag,
                                 max_idle));
        }
    }
    return r;
}

std::vector<metric_family> metrics_registry::collect(registry_sample const& sampled) const {
    std::vector<metric_family> out;
    // The collectors hold references to several families at once: no reallocation may move
    // them. Room for more than every family this emits (about 60).
    out.reserve(128);
    collect_worker_metrics(out, all_workers());
    auto const clients = all_clients();
    std::vector<named_connection> connections;
    for (auto const& c : clients)
        connections.push_back({c.name, &c.c->connection()});
    collect_connection_metrics(out, connections);
    if (!clusters_.empty())
        collect_cluster_metrics(out, clusters_);
    if (!partitioned_.empty()) {
        auto& moves = add_family(out, "redstream_partition_moves_total", metric_type::counter,
                                 "Partitions restarted on another master after their slot moved.");
        for (auto* p : partitioned_)
            add_sample(moves, {{"stream", p->options().stream}, {"group", p->options().group}},
                       static_cast<double>(p->stats().moves));
        collect_owned_metrics(out, partitioned_);
    }
    collect_group_metrics(out, sampled.groups);
    auto scalers = scalers_;
    for (auto* p : partitioned_scalers_) {
        auto const more = p->autoscalers();
        scalers.insert(scalers.end(), more.begin(), more.end());
    }
    collect_autoscaler_metrics(out, scalers);
    add_sample(add_family(out, "redstream_healthy", metric_type::gauge, "1 when every health check passes."), {},
               evaluate(sampled).healthy ? 1.0 : 0.0);
    add_sample(add_family(out, "redstream_build_info", metric_type::gauge,
                          "Always 1; the version label is the redstream library's."),
               {{"version", library_version()}}, 1.0);
    return out;
}

std::string metrics_registry::render(registry_sample const& sampled) const {
    return to_prometheus_text(collect(sampled));
}

} // namespace redstream
