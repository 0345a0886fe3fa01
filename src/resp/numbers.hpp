#pragma once

#include <charconv>
#include <cstdint>
#include <string_view>

namespace redstream::resp::detail {

// Strict decimal parsing: the whole input must be a number, no spaces, no '+'. Hand-rolled
// because lengths and ids are parsed for every element and std::from_chars is a costly call.
[[nodiscard]] inline bool parse_uint64(std::string_view s, std::uint64_t& out) noexcept {
    if (s.empty() || s.size() > 20)
        return false;
    std::uint64_t v = 0;
    for (char c : s) {
        auto const d = static_cast<unsigned>(c) - '0';
        if (d > 9)
            return false;
        if (v > (UINT64_MAX - d) / 10)
            return false; // overflow
        v = v * 10 + d;
    }
    out = v;
    return true;
}

[[nodiscard]] inline bool parse_int64(std::string_view s, std::int64_t& out) noexcept {
    bool const negative = !s.empty() && s.front() == '-';
    if (negative)
        s.remove_prefix(1);
    std::uint64_t v = 0;
    if (!parse_uint64(s, v))
        return false;
    if (negative) {
        if (v > static_cast<std::uint64_t>(INT64_MAX) + 1)
            return false;
        out = v == static_cast<std::uint64_t>(INT64_MAX) + 1 ? INT64_MIN : -static_cast<std::int64_t>(v);
    } else {
        if (v > static_cast<std::uint64_t>(INT64_MAX))
            return false;
        out = static_cast<std::int64_t>(v);
    }
    return true;
}

[[nodiscard]] inline bool parse_double(std::string_view s, double& out) noexcept {
    if (s.empty())
        return false;
    if (s.front() == '+')
        s.remove_prefix(1);
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && p == s.data() + s.size();
}

} // namespace redstream::resp::detail
