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

// Sets `ec` and rejects the element, so that each check below reads as one line.
inline bool fail(boost::system::error_code& ec, error e) noexcept {
    ec = e;
    return false;
}

// A one-line element: simple string or error, integer, null, double, boolean or big number.
inline bool check_scalar(char marker, std::string_view line, boost::system::error_code& ec) noexcept {
    std::int64_t integer = 0;
    switch (marker) {
    case '+':
    case '-':
        return true;
    case ':':
        return detail::parse_int64(line, integer) || fail(ec, error::invalid_integer);
    case '_':
        return line.empty() || fail(ec, error::missing_crlf);
    case ',':
        return valid_double(line) || fail(ec, error::invalid_double);
    case '#':
        return line == "t" || line == "f" || fail(ec, error::invalid_boolean);
    case '(':
        return valid_big_number(line) || fail(ec, error::invalid_big_number);
    default:
        return fail(ec, error::invalid_type_marker);
    }
}

// The length line of a blob or the count line of an aggregate; -1 (a RESP2 null) only where
// `null_allowed`. "?" announces a streamed element, which Redis never sends. Forced inline for
// the reason given above read_frame().
[[gnu::always_inline]]
inline bool parse_length(std::string_view line, bool null_allowed, std::int64_t& n,
                         boost::system::error_code& ec) noexcept {
    if (line == "?")
        return fail(ec, error::streamed_unsupported);
    if (!detail::parse_int64(line, n) || n < -1 || (n == -1 && !null_allowed))
        return fail(ec, error::invalid_length);
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
        frame f;
        if (status const st = read_frame(in, f, ec); st != status::element)
            return st;
        consumed += f.size;
        in.remove_prefix(f.size);
        if (f.t != type::attribute && attributes_ == 0) {
            emit(f, out);
            return status::element;
        }
        skip_attribute_part(f);
    }
}

// The steps of next() are forced inline: GCC -O2 otherwise keeps some of them out of line once
// next() has grown (about 25% more instructions per element than the unsplit loop).

// Frames the element at in[0]: its header line, checked for its type, and any payload. Sets
// hint_ only when more input is needed.
[[gnu::always_inline]]
inline parser::status parser::read_frame(std::string_view in, frame& f,
                                         boost::system::error_code& ec) noexcept {
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
    f = frame{static_cast<type>(in[0]), line, 0, eol + 2};
    switch (in[0]) {
    case '$':
    case '!':
    case '=':
        return read_blob(in, f, ec);
    case '*':
    case '%':
    case '~':
    case '|':
    case '>':
        return read_aggregate(f, ec);
    default:
        return check_scalar(in[0], line, ec) ? status::element : status::failed;
    }
}

// A blob string, blob error or verbatim string: `f` holds the length line on entry; the payload
// and its CRLF must follow.
[[gnu::always_inline]]
inline parser::status parser::read_blob(std::string_view in, frame& f,
                                        boost::system::error_code& ec) noexcept {
    std::int64_t len = 0;
    if (!parse_length(f.value, f.t == type::bulk_string, len, ec))
        return status::failed;
    if (len == -1) { // RESP2 null bulk string
        f.t = type::null;
        f.value = {};
        return status::element;
    }
    if (static_cast<std::uint64_t>(len) > limits_.max_bulk_length) {
        ec = error::bulk_too_long;
        return status::failed;
    }
    auto const n = static_cast<std::size_t>(len);
    if (in.size() < f.size + n + 2) {
        hint_ = f.size + n + 2;
        return status::need_more;
    }
    if (in[f.size + n] != '\r' || in[f.size + n + 1] != '\n') {
        ec = error::missing_crlf;
        return status::failed;
    }
    f.value = in.substr(f.size, n);
    f.size += n + 2;
    if (f.t == type::verbatim_string) {
        if (f.value.size() < 4 || f.value[3] != ':') {
            ec = error::invalid_verbatim;
            return status::failed;
        }
        f.value.remove_prefix(4);
    }
    return status::element;
}

// An aggregate header: `f` holds the count line on entry. The children are later elements.
[[gnu::always_inline]]
inline parser::status parser::read_aggregate(frame& f, boost::system::error_code& ec) const noexcept {
    std::int64_t count = 0;
    if (!parse_length(f.value, f.t == type::array, count, ec))
        return status::failed;
    f.value = {};
    if (count == -1) { // RESP2 null array
        f.t = type::null;
        return status::element;
    }
    if (static_cast<std::uint64_t>(count) > limits_.max_aggregate_size) {
        ec = error::aggregate_too_large;
        return status::failed;
    }
    f.children = static_cast<std::size_t>(count);
    if (f.t == type::map || f.t == type::attribute)
        f.children *= 2;
    if (f.children > 0 && depth_ + 1 > limits_.max_depth) {
        ec = error::nesting_too_deep;
        return status::failed;
    }
    return status::element;
}

// Attributes and everything inside them are consumed silently: only the stack is kept.
[[gnu::always_inline]]
inline void parser::skip_attribute_part(frame const& f) noexcept {
    bool const opens_attribute = f.t == type::attribute;
    if (f.children > 0) {
        stack_[depth_++] = level{f.children, opens_attribute ? level_kind::attribute : level_kind::normal};
        if (opens_attribute)
            ++attributes_;
    } else if (!opens_attribute) {
        finish_element();
    }
}

// Reports `f` in `out` and opens its level if it has children, else completes it.
[[gnu::always_inline]]
inline void parser::emit(frame const& f, node& out) noexcept {
    hint_ = 0;
    if (f.t == type::push && depth_ > 0 && oob_level_ == no_level) {
        // A push inside another reply: reported apart, not counted in its parent.
        out = node{f.t, f.children, 0, f.value, true};
        if (f.children > 0) {
            oob_level_ = depth_;
            stack_[depth_++] = level{f.children, level_kind::out_of_band};
        } else {
            oob_finished_ = true;
        }
        return;
    }
    bool const oob = oob_level_ != no_level;
    out = node{f.t, f.children, oob ? depth_ - oob_level_ : depth_, f.value, oob};
    if (f.children > 0)
        stack_[depth_++] = level{f.children, level_kind::normal};
    else
        finish_element();
}

} // namespace redstream::resp
