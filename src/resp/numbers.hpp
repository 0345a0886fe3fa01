#pragma once

#include <charconv>
#include <cstdint>
#include <string_view>

namespace redstream::resp::detail {

// Strict decimal parsing: the whole input must be a number, no spaces, no '+'.
[[nodiscard]] inline bool parse_int64(std::string_view s, std::int64_t& out) noexcept {
    if (s.empty())
        return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && p == s.data() + s.size();
}

[[nodiscard]] inline bool parse_uint64(std::string_view s, std::uint64_t& out) noexcept {
    if (s.empty() || s.front() == '-')
        return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && p == s.data() + s.size();
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
