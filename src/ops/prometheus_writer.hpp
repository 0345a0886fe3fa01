#pragma once

// Writes the Prometheus text exposition format: one HELP/TYPE header per family, then its
// samples with escaped label values.

#include <redstream/consume/histogram.hpp>

#include <fmt/format.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace redstream::detail {

using label_list = std::vector<std::pair<std::string_view, std::string_view>>;

class prometheus_writer {
public:
    /// Starts a family: `type` is counter, gauge or histogram.
    void family(std::string_view name, std::string_view type, std::string_view help) {
        fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    }

    void sample(std::string_view name, label_list const& labels, double value) {
        out_ += name;
        write_labels(labels, {});
        fmt::format_to(std::back_inserter(out_), " {}\n", number(value));
    }

    /// _bucket (cumulative, with le), _sum and _count lines of a histogram family.
    void histogram_samples(std::string_view name, label_list const& labels, histogram const& h) {
        std::uint64_t cumulative = 0;
        auto const& bounds = h.bounds();
        auto const& counts = h.counts();
        for (std::size_t i = 0; i <= bounds.size(); ++i) {
            cumulative += counts[i];
            std::string const le = i < bounds.size() ? number(bounds[i]) : std::string{"+Inf"};
            fmt::format_to(std::back_inserter(out_), "{}_bucket", name);
            write_labels(labels, le);
            fmt::format_to(std::back_inserter(out_), " {}\n", cumulative);
        }
        fmt::format_to(std::back_inserter(out_), "{}_sum", name);
        write_labels(labels, {});
        fmt::format_to(std::back_inserter(out_), " {}\n", number(h.sum()));
        fmt::format_to(std::back_inserter(out_), "{}_count", name);
        write_labels(labels, {});
        fmt::format_to(std::back_inserter(out_), " {}\n", h.count());
    }

    [[nodiscard]] std::string take() { return std::move(out_); }

private:
    static std::string number(double v) { return fmt::format("{}", v); }

    void write_labels(label_list const& labels, std::string_view le) {
        if (labels.empty() && le.empty())
            return;
        out_ += '{';
        bool first = true;
        for (auto const& [k, v] : labels) {
            if (!first)
                out_ += ',';
            first = false;
            out_ += k;
            out_ += "=\"";
            escape(v);
            out_ += '"';
        }
        if (!le.empty()) {
            if (!first)
                out_ += ',';
            out_ += "le=\"";
            out_ += le;
            out_ += '"';
        }
        out_ += '}';
    }

    void escape(std::string_view v) {
        for (char ch : v) {
            if (ch == '\\')
                out_ += "\\\\";
            else if (ch == '"')
                out_ += "\\\"";
            else if (ch == '\n')
                out_ += "\\n";
            else
                out_ += ch;
        }
    }

    std::string out_;
};

} // namespace redstream::detail
