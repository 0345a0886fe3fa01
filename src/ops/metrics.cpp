#include <redstream/ops/metrics.hpp>

#include "ops/prometheus_writer.hpp"
#include "protocol/stream_list.hpp"

#include <fmt/format.h>

#include <algorithm>

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
    {"redstream_messages_handled_total", "Handler calls that returned.", &worker_stats::handled},
    {"redstream_messages_acked_total", "Messages acknowledged (XACK confirmed).", &worker_stats::acked},
    {"redstream_messages_failed_total", "Handler calls that threw or asked to retry.", &worker_stats::failed},
    {"redstream_messages_retried_total", "Redeliveries scheduled with retry_after.", &worker_stats::retried},
    {"redstream_messages_claimed_total", "Messages claimed from idle consumers.", &worker_stats::claimed},
    {"redstream_messages_dead_lettered_total", "Messages moved to the dead-letter stream.",
     &worker_stats::dead_lettered},
    {"redstream_messages_duplicates_skipped_total", "Messages acked without handling (idempotency).",
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

// Counters, gauges and histograms of each worker, labelled with its stream(s) (comma-separated)
// and group.
void write_worker_metrics(detail::prometheus_writer& out, std::vector<worker*> const& workers) {
    std::vector<std::string> worker_streams;
    for (auto* w : workers) {
        auto s = streams_of(*w);
        worker_streams.push_back(fmt::format("{}", fmt::join(s, ",")));
    }
    auto worker_labels = [&](std::size_t i) {
        return detail::label_list{{"stream", worker_streams[i]}, {"group", workers[i]->options().group}};
    };

    std::vector<worker_stats> stats;
    for (auto* w : workers)
        stats.push_back(w->stats());
    for (auto const& c : worker_counters) {
        out.family(c.name, "counter", c.help);
        for (std::size_t i = 0; i < workers.size(); ++i)
            out.sample(c.name, worker_labels(i), static_cast<double>(stats[i].*c.field));
    }
    for (auto const& g : worker_gauges) {
        out.family(g.name, "gauge", g.help);
        for (std::size_t i = 0; i < workers.size(); ++i)
            out.sample(g.name, worker_labels(i), static_cast<double>(stats[i].*g.field));
    }
    for (auto const& h : worker_histogram_families) {
        out.family(h.name, "histogram", h.help);
        for (std::size_t i = 0; i < workers.size(); ++i)
            out.histogram_samples(h.name, worker_labels(i), workers[i]->histograms().*h.field);
    }
}

struct named_connection {
    std::string_view name;
    connection const* conn;
};

void write_connection_metrics(detail::prometheus_writer& out,
                              std::vector<named_connection> const& connections) {
    out.family("redstream_connects_total", "counter", "Successful connection handshakes (reconnects + 1).");
    for (auto const& c : connections)
        out.sample("redstream_connects_total", {{"client", c.name}}, static_cast<double>(c.conn->stats().connects));
    out.family("redstream_connected", "gauge", "1 when the client's connection is up.");
    for (auto const& c : connections)
        out.sample("redstream_connected", {{"client", c.name}},
                   c.conn->state() == connection_state::connected ? 1.0 : 0.0);
    out.family("redstream_pipeline_depth", "gauge", "Requests queued or awaiting their reply on the connection.");
    for (auto const& c : connections) {
        auto const st = c.conn->stats();
        out.sample("redstream_pipeline_depth", {{"client", c.name}},
                   static_cast<double>(st.requests_waiting + st.requests_in_flight));
    }
    out.family("redstream_pushes_dropped_total", "counter", "Pushes dropped because the push queue was full.");
    for (auto const& c : connections)
        out.sample("redstream_pushes_dropped_total", {{"client", c.name}},
                   static_cast<double>(c.conn->stats().pushes_dropped));
}

void write_group_metrics(detail::prometheus_writer& out, std::vector<group_sample> const& samples) {
    for (auto const& g : group_gauges) {
        out.family(g.name, "gauge", g.help);
        for (auto const& s : samples)
            if (s.group_exists)
                out.sample(g.name, {{"stream", s.stream}, {"group", s.group}}, g.value(s));
    }
    out.family("redstream_consumer_pending", "gauge", "Entries pending per consumer.");
    for (auto const& s : samples)
        for (auto const& c : s.consumers)
            out.sample("redstream_consumer_pending", {{"stream", s.stream}, {"group", s.group}, {"consumer", c.name}},
                       static_cast<double>(c.pending));
    out.family("redstream_consumer_idle_seconds", "gauge", "Time since each consumer's last read attempt.");
    for (auto const& s : samples)
        for (auto const& c : s.consumers)
            out.sample("redstream_consumer_idle_seconds", {{"stream", s.stream}, {"group", s.group}, {"consumer", c.name}},
                       static_cast<double>(c.idle_ms) / 1000.0);
}

void write_autoscaler_metrics(detail::prometheus_writer& out, std::vector<autoscaler*> const& scalers) {
    out.family("redstream_autoscaler_desired_consumers", "gauge", "Consumers the scaling policy wants.");
    for (auto* a : scalers)
        out.sample("redstream_autoscaler_desired_consumers", {}, static_cast<double>(a->status().desired));
    out.family("redstream_autoscaler_decisions_total", "counter", "Changes of the consumer count.");
    for (auto* a : scalers)
        out.sample("redstream_autoscaler_decisions_total", {}, static_cast<double>(a->status().decisions));
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

asio::awaitable<registry_sample> metrics_registry::sample() {
    registry_sample out;
    for (auto* w : workers_) {
        for (auto const& s : streams_of(*w)) {
            try {
                out.groups.push_back(co_await sample_group(w->get_client(), s, w->options().group));
            } catch (std::exception const& e) {
                out.errors.push_back(fmt::format("sampling {} {}: {}", s, w->options().group, e.what()));
            }
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
    for (auto const& c : clients_)
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

std::string metrics_registry::render(registry_sample const& sampled) const {
    detail::prometheus_writer out;
    write_worker_metrics(out, workers_);
    std::vector<named_connection> connections;
    for (auto const& c : clients_)
        connections.push_back({c.name, &c.c->connection()});
    write_connection_metrics(out, connections);
    write_group_metrics(out, sampled.groups);
    write_autoscaler_metrics(out, scalers_);
    auto const h = evaluate(sampled);
    out.family("redstream_healthy", "gauge", "1 when every health check passes.");
    out.sample("redstream_healthy", {}, h.healthy ? 1.0 : 0.0);
    return out.take();
}

} // namespace redstream
