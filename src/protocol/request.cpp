#include <redstream/protocol/request.hpp>

#include <algorithm>
#include <cctype>

namespace redstream {

namespace {

bool equals_ignore_case(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::toupper(static_cast<unsigned char>(x)) == y;
           });
}

// Under RESP3 these are confirmed by one push per channel instead of a reply.
bool is_subscription_command(std::string_view cmd) noexcept {
    for (std::string_view s : {"SUBSCRIBE", "PSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SSUBSCRIBE",
                               "SUNSUBSCRIBE"})
        if (equals_ignore_case(cmd, s))
            return true;
    return false;
}

void append_number(std::string& out, std::uint64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

} // namespace

void request::write_header(std::size_t count) {
    payload_.push_back('*');
    append_number(payload_, count);
    payload_.append("\r\n", 2);
}

void request::write_bulk(std::string_view s) {
    payload_.push_back('$');
    append_number(payload_, s.size());
    payload_.append("\r\n", 2);
    payload_.append(s.data(), s.size());
    payload_.append("\r\n", 2);
}

void request::write_integer(std::int64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    write_bulk(std::string_view{buf, static_cast<std::size_t>(r.ptr - buf)});
}

void request::write_unsigned(std::uint64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    write_bulk(std::string_view{buf, static_cast<std::size_t>(r.ptr - buf)});
}

void request::note_command(std::string_view command, std::size_t args) {
    ++commands_;
    if (is_subscription_command(command))
        subscriptions_.push_back(std::max<std::size_t>(args, 1));
    else
        ++replies_;
}

} // namespace redstream
