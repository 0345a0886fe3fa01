#include <redstream/resp/error.hpp>
#include <redstream/resp/parser.hpp>

#include "resp/numbers.hpp"

#include <cstring>

namespace redstream::resp {

namespace {

// Where the CRLF ending the line that starts at in[0] lies, or npos if it has not arrived yet.
// Header lines ("$12", "*4") are a few bytes long: scan them inline and call memchr only for
// long simple strings, where it pays off.
std::size_t find_crlf(std::string_view in) noexcept {
    std::size_t const quick = in.size() < 24 ? in.size() : 24;
    std::size_t from = 1;
    for (; from < quick; ++from) {
        if (in[from] == '\r') {
            if (from + 1 >= in.size())
                return std::string_view::npos;
            if (in[from + 1] == '\n')
                return from;
        }
    }
    while (from < in.size()) {
        auto const* p = static_cast<char const*>(std::memchr(in.data() + from, '\r', in.size() - from));
        if (p == nullptr)
            return std::string_view::npos;
        auto pos = static_cast<std::size_t>(p - in.data());
        if (pos + 1 >= in.size())
            return std::string_view::npos; // '\n' not here yet
        if (in[pos + 1] == '\n')
            return pos;
        from = pos + 1;
    }
    return std::string_view::npos;
}

bool valid_double(std::string_view s) noexcept {
    if (s == "inf" || s == "-inf" || s == "nan" || s == "+inf")
        return true;
    double d = 0;
    return detail::parse_double(s, d);
}

bool valid_big_number(std::string_view s) noexcept {
    if (!s.empty() && (s.front() == '-' || s.front() == '+'))
        s.remove_prefix(1);
    if (s.empty())
        return false;
    for (char c : s)
        if (c < '0' || c > '9')
            return false;
    return true;
}

} // namespace

parser::parser(parser_limits limits) noexcept : limits_(limits) {
    if (limits_.max_depth > depth_cap)
        limits_.max_depth = depth_cap;
}

void parser::reset() noexcept {
    depth_ = 0;
    attributes_ = 0;
    oob_level_ = no_level;
    oob_finished_ = false;
    hint_ = 0;
}

void parser::finish_element() noexcept {
    // A completed aggregate is itself one element of its parent, except an attribute (it only
    // decorates the element that follows it) and an out-of-band push (it is not part of the
    // reply it interrupted).
    while (depth_ > 0) {
        level& top = stack_[depth_ - 1];
        if (--top.remaining > 0)
            return;
        --depth_;
        if (top.kind == level_kind::attribute) {
            --attributes_;
            return;
        }
        if (top.kind == level_kind::out_of_band) {
            oob_level_ = no_level;
            oob_finished_ = true;
            return;
        }
    }
}

parser::status parser::next(std::string_view in, node& out, std::size_t& consumed,
                            boost::system::error_code& ec) noexcept {
    oob_finished_ = false;
    for (;;) {
        if (in.empty()) {
            hint_ = 1;
            return status::need_more;
        }
        std::size_t const eol = find_crlf(in);
        if (eol == std::string_view::npos) {
            if (in.size() > limits_.max_line_length + 3) {
                ec = error::line_too_long;
                return status::failed;
            }
            hint_ = in.size() + 1;
            return status::need_more;
        }
        if (eol - 1 > limits_.max_line_length) {
            ec = error::line_too_long;
            return status::failed;
        }
        std::string_view const line = in.substr(1, eol - 1);
        std::size_t total = eol + 2;
        type t = static_cast<type>(in[0]);
        std::string_view value = line;
        std::size_t children = 0;

        switch (in[0]) {
        case '+':
        case '-':
            break;
        case ':': {
            std::int64_t v = 0;
            if (!detail::parse_int64(line, v)) {
                ec = error::invalid_integer;
                return status::failed;
            }
            break;
        }
        case '$':
        case '!':
        case '=': {
            if (line == "?") {
                ec = error::streamed_unsupported;
                return status::failed;
            }
            std::int64_t len = 0;
            if (!detail::parse_int64(line, len) || len < -1 || (len == -1 && in[0] != '$')) {
                ec = error::invalid_length;
                return status::failed;
            }
            if (len == -1) { // RESP2 null bulk string
                t = type::null;
                value = {};
                break;
            }
            if (static_cast<std::uint64_t>(len) > limits_.max_bulk_length) {
                ec = error::bulk_too_long;
                return status::failed;
            }
            auto const n = static_cast<std::size_t>(len);
            if (in.size() < total + n + 2) {
                hint_ = total + n + 2;
                return status::need_more;
            }
            if (in[total + n] != '\r' || in[total + n + 1] != '\n') {
                ec = error::missing_crlf;
                return status::failed;
            }
            value = in.substr(total, n);
            total += n + 2;
            if (t == type::verbatim_string) {
                if (value.size() < 4 || value[3] != ':') {
                    ec = error::invalid_verbatim;
                    return status::failed;
                }
                value.remove_prefix(4);
            }
            break;
        }
        case '_':
            if (!line.empty()) {
                ec = error::missing_crlf;
                return status::failed;
            }
            break;
        case ',':
            if (!valid_double(line)) {
                ec = error::invalid_double;
                return status::failed;
            }
            break;
        case '#':
            if (line != "t" && line != "f") {
                ec = error::invalid_boolean;
                return status::failed;
            }
            break;
        case '(':
            if (!valid_big_number(line)) {
                ec = error::invalid_big_number;
                return status::failed;
            }
            break;
        case '*':
        case '%':
        case '~':
        case '|':
        case '>': {
            if (line == "?") {
                ec = error::streamed_unsupported;
                return status::failed;
            }
            std::int64_t count = 0;
            if (!detail::parse_int64(line, count) || count < -1 || (count == -1 && in[0] != '*')) {
                ec = error::invalid_length;
                return status::failed;
            }
            if (count == -1) { // RESP2 null array
                t = type::null;
                value = {};
                break;
            }
            if (static_cast<std::uint64_t>(count) > limits_.max_aggregate_size) {
                ec = error::aggregate_too_large;
                return status::failed;
            }
            children = static_cast<std::size_t>(count);
            if (t == type::map || t == type::attribute)
                children *= 2;
            value = {};
            if (children > 0 && depth_ + 1 > limits_.max_depth) {
                ec = error::nesting_too_deep;
                return status::failed;
            }
            break;
        }
        default:
            ec = error::invalid_type_marker;
            return status::failed;
        }

        consumed += total;
        in.remove_prefix(total);

        if (t == type::attribute || attributes_ > 0) {
            // Attributes and everything inside them are consumed silently.
            if (children > 0) {
                stack_[depth_++] = level{children, t == type::attribute ? level_kind::attribute : level_kind::normal};
                if (t == type::attribute)
                    ++attributes_;
            } else if (t != type::attribute) {
                finish_element();
            }
            continue;
        }

        hint_ = 0;
        if (t == type::push && depth_ > 0 && oob_level_ == no_level) {
            // A push inside another reply: reported apart, not counted in its parent.
            out = node{t, children, 0, value, true};
            if (children > 0) {
                oob_level_ = depth_;
                stack_[depth_++] = level{children, level_kind::out_of_band};
            } else {
                oob_finished_ = true;
            }
            return status::element;
        }
        bool const oob = oob_level_ != no_level;
        out = node{t, children, oob ? depth_ - oob_level_ : depth_, value, oob};
        if (children > 0)
            stack_[depth_++] = level{children, level_kind::normal};
        else
            finish_element();
        return status::element;
    }
}

} // namespace redstream::resp
