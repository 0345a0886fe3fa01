#pragma once

// Helpers that drive the parser and readers the way the connection does: bytes arrive in
// chunks, unconsumed bytes are kept and re-offered with the next chunk.

#include <redstream/protocol/adapter.hpp>
#include <redstream/resp/parser.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace redstream::test {

struct flat_node {
    resp::type t;
    std::size_t children;
    std::size_t depth;
    std::string value;
    friend bool operator==(flat_node const&, flat_node const&) = default;
};

inline std::ostream& operator<<(std::ostream& os, flat_node const& n) {
    return os << resp::to_string(n.t) << "/" << n.children << "/" << n.depth << "/'" << n.value << "'";
}

struct parse_outcome {
    std::vector<flat_node> nodes;
    std::size_t replies = 0;
    boost::system::error_code ec;
    bool complete = false; // every byte consumed and the last reply finished
};

/// Parses `wire` delivered in chunks cut at `cuts` (ascending offsets).
inline parse_outcome parse_chunks(std::string_view wire, std::vector<std::size_t> const& cuts,
                                  resp::parser_limits limits = {}) {
    parse_outcome out;
    resp::parser p{limits};
    std::string buffer;
    std::size_t fed = 0;
    std::vector<std::size_t> ends = cuts;
    ends.push_back(wire.size());
    for (std::size_t end : ends) {
        buffer.append(wire.substr(fed, end - fed));
        fed = end;
        for (;;) {
            resp::node n;
            std::size_t used = 0;
            auto st = p.next(buffer, n, used, out.ec);
            if (st == resp::parser::status::failed)
                return out;
            if (st == resp::parser::status::need_more) {
                buffer.erase(0, used);
                break;
            }
            out.nodes.push_back({n.data_type, n.children, n.depth, std::string{n.value}});
            buffer.erase(0, used);
            if (p.reply_complete())
                ++out.replies;
        }
    }
    out.complete = buffer.empty() && p.reply_complete();
    return out;
}

inline parse_outcome parse_whole(std::string_view wire, resp::parser_limits limits = {}) {
    return parse_chunks(wire, {}, limits);
}

/// Reads the replies in `wire` through `adapter`, as the connection would. Returns the first
/// error a reply reported (server error or wrong type) or a parser error.
inline boost::system::error_code read_replies(std::string_view wire, any_adapter adapter,
                                              std::vector<std::size_t> const& cuts = {}) {
    resp::parser p;
    std::string buffer;
    std::size_t fed = 0, index = 0;
    bool skip = false;
    boost::system::error_code first;
    std::vector<std::size_t> ends = cuts;
    ends.push_back(wire.size());
    for (std::size_t end : ends) {
        buffer.append(wire.substr(fed, end - fed));
        fed = end;
        for (;;) {
            resp::node n;
            std::size_t used = 0;
            boost::system::error_code pec;
            auto st = p.next(buffer, n, used, pec);
            if (st == resp::parser::status::failed)
                return pec;
            if (st == resp::parser::status::need_more) {
                buffer.erase(0, used);
                break;
            }
            if (n.depth == 0)
                skip = false;
            if (!skip) {
                boost::system::error_code ec;
                adapter.on_node(index, n, ec);
                if (ec) {
                    skip = true;
                    if (!first)
                        first = ec;
                }
            }
            buffer.erase(0, used);
            if (p.reply_complete())
                ++index;
        }
    }
    return first;
}

} // namespace redstream::test
