#include <redstream/cluster/command_keys.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

namespace redstream::cluster {

namespace {

bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::toupper(static_cast<unsigned char>(x)) == std::toupper(static_cast<unsigned char>(y));
           });
}

bool is_one_of(std::string_view name, std::initializer_list<std::string_view> names) noexcept {
    return std::any_of(names.begin(), names.end(), [&](std::string_view n) { return iequals(name, n); });
}

// Reads "<prefix><decimal>\r\n" at `at`; advances past it.
bool read_header(std::string_view in, std::size_t& at, char prefix, std::size_t& value) noexcept {
    if (at >= in.size() || in[at] != prefix)
        return false;
    auto const end = in.find("\r\n", at + 1);
    if (end == std::string_view::npos)
        return false;
    auto [ptr, ec] = std::from_chars(in.data() + at + 1, in.data() + end, value);
    if (ec != std::errc{} || ptr != in.data() + end)
        return false;
    at = end + 2;
    return true;
}

} // namespace

std::optional<std::string_view> command_key(std::vector<std::string_view> const& args) noexcept {
    if (args.empty())
        return std::nullopt;
    auto const name = args[0];
    if (is_one_of(name, {"PING", "INFO", "CLUSTER", "HELLO", "AUTH", "CLIENT", "CONFIG", "SCRIPT", "ACL", "COMMAND",
                         "SELECT", "ASKING", "READONLY", "READWRITE", "DBSIZE", "TIME", "MULTI", "EXEC", "DISCARD",
                         "WAIT", "SUBSCRIBE", "UNSUBSCRIBE", "PSUBSCRIBE", "PUNSUBSCRIBE", "SSUBSCRIBE",
                         "SUNSUBSCRIBE", "FLUSHALL", "FLUSHDB", "ECHO", "QUIT", "RESET"}))
        return std::nullopt;
    if (is_one_of(name, {"XREADGROUP", "XREAD"})) {
        // XREADGROUP GROUP <group> <consumer>: names that could read "STREAMS" come first.
        std::size_t const from = iequals(name, "XREADGROUP") ? 4 : 1;
        for (std::size_t i = from; i + 1 < args.size(); ++i)
            if (iequals(args[i], "STREAMS"))
                return args[i + 1];
        return std::nullopt;
    }
    if (is_one_of(name, {"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"})) {
        std::size_t keys = 0;
        if (args.size() < 4)
            return std::nullopt;
        auto [ptr, ec] = std::from_chars(args[2].data(), args[2].data() + args[2].size(), keys);
        if (ec != std::errc{} || keys == 0)
            return std::nullopt;
        return args[3];
    }
    if (is_one_of(name, {"XGROUP", "XINFO", "OBJECT", "MEMORY"}))
        return args.size() > 2 ? std::optional{args[2]} : std::nullopt;
    return args.size() > 1 ? std::optional{args[1]} : std::nullopt;
}

std::optional<std::vector<routed_command>> split_commands(std::string_view payload) {
    std::vector<routed_command> out;
    std::size_t at = 0;
    while (at < payload.size()) {
        std::size_t count = 0;
        if (!read_header(payload, at, '*', count) || count == 0)
            return std::nullopt;
        routed_command cmd;
        cmd.args.reserve(count);
        for (std::size_t i = 0; i < count; ++i) {
            std::size_t len = 0;
            if (!read_header(payload, at, '$', len) || payload.size() - at < len + 2 ||
                payload.substr(at + len, 2) != "\r\n")
                return std::nullopt;
            cmd.args.push_back(payload.substr(at, len));
            at += len + 2;
        }
        cmd.key = command_key(cmd.args);
        out.push_back(std::move(cmd));
    }
    // A transaction goes where its first keyed command goes: MULTI and EXEC take that key.
    for (std::size_t i = 0; i < out.size(); ++i) {
        if (!iequals(out[i].args[0], "MULTI"))
            continue;
        std::size_t end = i + 1;
        while (end < out.size() && !iequals(out[end].args[0], "EXEC") && !iequals(out[end].args[0], "DISCARD"))
            ++end;
        std::optional<std::string_view> key;
        for (std::size_t j = i + 1; j < end && !key; ++j)
            key = out[j].key;
        out[i].key = key;
        out[i].block = std::min(end, out.size() - 1) - i + 1;
        if (end < out.size())
            out[end].key = key;
        i = end;
    }
    return out;
}

} // namespace redstream::cluster
