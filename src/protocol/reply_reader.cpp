#include <redstream/protocol/reply_reader.hpp>

#include <redstream/detail/protocol/node_values.hpp>

#include "resp/numbers.hpp"

namespace redstream {

namespace detail {

bool is_scalar_text(resp::type t) noexcept {
    switch (t) {
    case resp::type::simple_string:
    case resp::type::bulk_string:
    case resp::type::verbatim_string:
    case resp::type::integer:
    case resp::type::double_type:
    case resp::type::big_number:
        return true;
    default:
        return false;
    }
}

bool parse_integer_node(resp::node const& n, std::int64_t& v) noexcept {
    return is_scalar_text(n.data_type) && resp::detail::parse_int64(n.value, v);
}

bool parse_unsigned_node(resp::node const& n, std::uint64_t& v) noexcept {
    return is_scalar_text(n.data_type) && resp::detail::parse_uint64(n.value, v);
}

bool parse_double_node(resp::node const& n, double& v) noexcept {
    if (!is_scalar_text(n.data_type))
        return false;
    if (n.value == "inf" || n.value == "+inf") {
        v = std::numeric_limits<double>::infinity();
        return true;
    }
    if (n.value == "-inf") {
        v = -std::numeric_limits<double>::infinity();
        return true;
    }
    return resp::detail::parse_double(n.value, v);
}

server_error to_server_error(resp::node const& n) {
    return server_error{classify_server_error(n.value), std::string{n.value}};
}

} // namespace detail

bool reader<bool>::feed(resp::node const& n, error_code& ec) noexcept {
    if (n.data_type == resp::type::boolean)
        *out_ = n.value == "t";
    else if (n.data_type == resp::type::integer && (n.value == "0" || n.value == "1"))
        *out_ = n.value == "1";
    else if (n.data_type == resp::type::simple_string && n.value == "OK")
        *out_ = true;
    else
        ec = errc::wrong_reply_type;
    return true;
}

bool reader<stream_id>::feed(resp::node const& n, error_code& ec) noexcept {
    std::optional<stream_id> id;
    if (detail::is_scalar_text(n.data_type))
        id = stream_id::parse(n.value);
    if (id)
        *out_ = *id;
    else
        ec = errc::wrong_reply_type;
    return true;
}

} // namespace redstream
