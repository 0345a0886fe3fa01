#include <redstream/protocol/stream_id.hpp>

#include "resp/numbers.hpp"

#include <charconv>

namespace redstream {

std::optional<stream_id> stream_id::parse(std::string_view s) noexcept {
    stream_id id;
    auto const dash = s.find('-');
    if (dash == std::string_view::npos) {
        if (!resp::detail::parse_uint64(s, id.ms))
            return std::nullopt;
        return id;
    }
    if (!resp::detail::parse_uint64(s.substr(0, dash), id.ms) ||
        !resp::detail::parse_uint64(s.substr(dash + 1), id.seq))
        return std::nullopt;
    return id;
}

std::string_view stream_id::format(char* buf) const noexcept {
    char* p = std::to_chars(buf, buf + 20, ms).ptr;
    *p++ = '-';
    p = std::to_chars(p, p + 20, seq).ptr;
    return {buf, static_cast<std::size_t>(p - buf)};
}

std::string stream_id::to_string() const {
    char buf[max_chars];
    return std::string{format(buf)};
}

} // namespace redstream
