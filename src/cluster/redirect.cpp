#include <redstream/cluster/key_slot.hpp>
#include <redstream/cluster/redirect.hpp>

#include <charconv>

namespace redstream::cluster {

namespace {

template <class T>
bool parse_number(std::string_view text, T& out) {
    auto const* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, out);
    return ec == std::errc{} && ptr == end && !text.empty();
}

} // namespace

std::optional<redirect> parse_redirect(std::string_view text) {
    redirect r;
    if (text.starts_with("MOVED ")) {
        r.type = redirect::kind::moved;
        text.remove_prefix(6);
    } else if (text.starts_with("ASK ")) {
        r.type = redirect::kind::ask;
        text.remove_prefix(4);
    } else {
        return std::nullopt;
    }
    auto const space = text.find(' ');
    if (space == std::string_view::npos || !parse_number(text.substr(0, space), r.slot) || r.slot >= slot_count)
        return std::nullopt;
    auto const address = text.substr(space + 1);
    auto const colon = address.rfind(':');
    if (colon == std::string_view::npos || !parse_number(address.substr(colon + 1), r.port) || r.port == 0)
        return std::nullopt;
    r.host.assign(address.substr(0, colon));
    return r;
}

} // namespace redstream::cluster
