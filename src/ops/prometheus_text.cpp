// The Prometheus text exposition format (version 0.0.4) of metric families.

#include <redstream/ops/metric_family.hpp>

#include <fmt/format.h>

#include <charconv>
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

// Shortest form that reads back to the same double, as fmt writes it ("0.0001", not
// std::to_chars' "1e-04": `le` values name series, so their spelling must not change);
// Prometheus spells infinity "+Inf". Formatted into a stack buffer, not through an inserter.
void write_number(std::string& out, double v) {
    if (std::isinf(v)) {
        out += v > 0 ? "+Inf" : "-Inf";
        return;
    }
    if (std::isnan(v)) {
        out += "NaN";
        return;
    }
    char buf[32];
    auto const r = fmt::format_to_n(buf, sizeof buf, "{}", v);
    out.append(buf, r.out);
}

void write_count(std::string& out, std::uint64_t v) {
    char buf[24];
    auto const r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

void write_escaped(std::string& out, std::string_view v) {
    // Most values need no escaping: append them in runs, not character by character.
    std::size_t run = 0;
    for (std::size_t i = 0; i < v.size(); ++i) {
        char const ch = v[i];
        if (ch != '\\' && ch != '"' && ch != '\n')
            continue;
        out.append(v.data() + run, i - run);
        out += ch == '\n' ? "\\n" : ch == '"' ? "\\\"" : "\\\\";
        run = i + 1;
    }
    out.append(v.data() + run, v.size() - run);
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
        out.append(name).append("_bucket");
        write_labels(out, s.labels, &b);
        out += ' ';
        write_count(out, b.cumulative_count);
        out += '\n';
    }
    out.append(name).append("_sum");
    write_labels(out, s.labels, nullptr);
    out += ' ';
    write_number(out, s.sum);
    out += '\n';
    out.append(name).append("_count");
    write_labels(out, s.labels, nullptr);
    out += ' ';
    write_count(out, s.count);
    out += '\n';
}

// A size to reserve up front, so the text grows without copying itself.
std::size_t estimated_size(std::vector<metric_family> const& families) {
    std::size_t n = 0;
    for (auto const& f : families) {
        n += 2 * f.name.size() + f.help.size() + 32;
        for (auto const& s : f.samples) {
            std::size_t labels = 0;
            for (auto const& l : s.labels)
                labels += l.name.size() + l.value.size() + 4;
            n += (f.name.size() + labels + 32) * (s.buckets.size() + 2);
        }
    }
    return n;
}

} // namespace

std::string to_prometheus_text(std::vector<metric_family> const& families) {
    std::string out;
    out.reserve(estimated_size(families));
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
