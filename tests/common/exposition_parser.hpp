#pragma once

// Reads Prometheus text exposition back into data, so tests compare two expositions series by
// series (names, labels, values) rather than byte by byte: two writers may order labels or
// format numbers differently and still say the same thing.

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace redstream::test {

/// One exposition, parsed.
struct parsed_exposition {
    /// "name{a=\"x\",le=\"0.5\"}" (labels sorted, `le` renormalised) -> value.
    std::map<std::string, double> series;
    /// Family name -> type, from the TYPE lines.
    std::map<std::string, std::string> families;
    /// Series that appeared more than once (an invalid exposition).
    std::vector<std::string> duplicates;
};

namespace detail_exposition {

inline std::string canonical_number(std::string const& text) {
    double const v = std::strtod(text.c_str(), nullptr);
    std::ostringstream out;
    out.precision(17);
    out << v;
    return out.str();
}

// Parses `{k="v",...}` starting at line[i] == '{'; leaves i after '}'.
inline std::vector<std::pair<std::string, std::string>> parse_labels(std::string const& line, std::size_t& i) {
    std::vector<std::pair<std::string, std::string>> labels;
    ++i;
    while (i < line.size() && line[i] != '}') {
        auto const eq = line.find('=', i);
        if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"')
            throw std::runtime_error("bad label in: " + line);
        std::string name = line.substr(i, eq - i);
        std::string value;
        i = eq + 2;
        while (i < line.size() && line[i] != '"') {
            if (line[i] == '\\' && i + 1 < line.size()) {
                ++i;
                value += line[i] == 'n' ? '\n' : line[i];
            } else {
                value += line[i];
            }
            ++i;
        }
        ++i; // closing quote
        if (i < line.size() && line[i] == ',')
            ++i;
        if (name == "le")
            value = canonical_number(value);
        labels.emplace_back(std::move(name), std::move(value));
    }
    ++i; // '}'
    std::sort(labels.begin(), labels.end());
    return labels;
}

} // namespace detail_exposition

/// Parses the text format (comments other than TYPE are skipped; timestamps are not expected).
inline parsed_exposition parse_exposition(std::string const& text) {
    parsed_exposition out;
    std::istringstream in{text};
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty())
            continue;
        if (line.rfind("# TYPE ", 0) == 0) {
            std::istringstream words{line.substr(7)};
            std::string name, type;
            words >> name >> type;
            out.families[name] = type;
            continue;
        }
        if (line[0] == '#')
            continue;
        std::size_t i = line.find_first_of("{ ");
        std::string key = line.substr(0, i);
        if (i != std::string::npos && line[i] == '{') {
            auto const labels = detail_exposition::parse_labels(line, i);
            key += '{';
            for (std::size_t k = 0; k < labels.size(); ++k)
                key += (k ? "," : "") + labels[k].first + "=\"" + labels[k].second + "\"";
            key += '}';
        }
        auto const value = detail_exposition::canonical_number(line.substr(line.find_first_not_of(' ', i)));
        if (!out.series.emplace(key, std::strtod(value.c_str(), nullptr)).second)
            out.duplicates.push_back(key);
    }
    return out;
}

} // namespace redstream::test
