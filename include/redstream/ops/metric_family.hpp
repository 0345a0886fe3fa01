#pragma once

/// @file
/// The metrics as data: what metrics_registry::collect() returns, and what both the built-in
/// Prometheus text exposition and the prometheus-cpp adapter render. An application that exports
/// metrics some other way (OpenTelemetry, StatsD) adapts these structures.

#include <cstdint>
#include <string>
#include <vector>

namespace redstream {

/// The Prometheus type of a family.
enum class metric_type {
    counter,   ///< only grows (until the process restarts); names end in `_total`
    gauge,     ///< a value sampled at collection time
    histogram, ///< bucketed observations with their sum and count
};

/// One label of a sample, e.g. `stream="orders"`. Values are raw (not escaped).
struct metric_label {
    std::string name;  ///< label name
    std::string value; ///< label value, any bytes
};

/// One bucket of a histogram sample.
struct metric_bucket {
    double upper_bound = 0;            ///< `le`; the last bucket's is +infinity
    std::uint64_t cumulative_count = 0; ///< observations <= upper_bound
};

/// One time series of a family at collection time.
struct metric_sample {
    std::vector<metric_label> labels; ///< in exposition order
    double value = 0;                 ///< counters and gauges
    std::vector<metric_bucket> buckets; ///< histograms: cumulative, ending with the +Inf bucket
    double sum = 0;                   ///< histograms: sum of the observations
    std::uint64_t count = 0;          ///< histograms: number of observations (= the +Inf bucket)
};

/// A metric family: one name, help text and type, and its samples (possibly none).
struct metric_family {
    std::string name; ///< e.g. `redstream_messages_acked_total`
    std::string help; ///< one line
    metric_type type = metric_type::gauge; ///< counter, gauge or histogram
    std::vector<metric_sample> samples;    ///< one per label set
};

/// Renders families in the Prometheus text exposition format (version 0.0.4): a HELP and a TYPE
/// line per family, then its samples, label values escaped.
[[nodiscard]] std::string to_prometheus_text(std::vector<metric_family> const& families);

} // namespace redstream
