// The Prometheus text exposition format (version 0.0.4) of metric families.

#include <redstream/ops/metric_family.hpp>

#include <fmt/format.h>

#include <cmath>
#include <iterator>

namespace redstream {

namespace {

std::string_view type_name(metric_type t) {
    switch (t) {
    case metric_type::counter: return "counter";
    case metric_type::histogram: return "histogram";
    case metric_type::gauge: break;
    }
    return "gauge";
}

// Shortest form that reads back to the same double; Prometheus spells infinity "+Inf".
void write_number(std::string& out, double v) {
    if (std::isinf(v))
        out += v > 0 ? "+Inf" : "-Inf";
    else if (std::isnan(v))
        out += "NaN";
    else
        fmt::format_to(std::back_inserter(out), "{}", v);
}

void write_escaped(std::string& out, std::string_view v) {
    for (char ch : v) {
        if (ch == '\\')
            out += "\\\\";
        else if (ch == '"')
            out += "\\\"";
        else if (ch == '\n')
            out += "\\n";
        else
            out += ch;
    }
}

// {a="x",b="y"} plus, for histogram buckets, le="bound".
void write_labels(std::string& out, std::vector<metric_label> const& labels, metric_bucket const* bucket) {
    if (labels.empty() && bucket == nullptr)
        return;
    out += '{';
    bool first = true;
    for (auto const& l : labels) {
        if (!first)
            out += ',';
        first = false;
        out += l.name;
        out += "=\"";
        write_escaped(out, l.value);
        out += '"';
    }
    if (bucket != nullptr) {
        if (!first)
            out += ',';
        out += "le=\"";
        write_number(out, bucket->upper_bound);
        out += '"';
    }
    out += '}';
}

void write_histogram(std::string& out, std::string_view name, metric_sample const& s) {
    for (auto const& b : s.buckets) {
        fmt::format_to(std::back_inserter(out), "{}_bucket", name);
        write_labels(out, s.labels, &b);
        fmt::format_to(std::back_inserter(out), " {}\n", b.cumulative_count);
    }
    fmt::format_to(std::back_inserter(out), "{}_sum", name);
    write_labels(out, s.labels, nullptr);
    out += ' ';
    write_number(out, s.sum);
    fmt::format_to(std::back_inserter(out), "\n{}_count", name);
    write_labels(out, s.labels, nullptr);
    fmt::format_to(std::back_inserter(out), " {}\n", s.count);
}

} // namespace

std::string to_prometheus_text(std::vector<metric_family> const& families) {
    std::string out;
    for (auto const& f : families) {
        fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", f.name, f.help, f.name,
                       type_name(f.type));
        for (auto const& s : f.samples) {
            if (f.type == metric_type::histogram) {
                write_histogram(out, f.name, s);
                continue;
            }
            out += f.name;
            write_labels(out, s.labels, nullptr);
            out += ' ';
            write_number(out, s.value);
            out += '\n';
        }
    }
    return out;
}

} // namespace redstream
