#include <redstream/resp/error.hpp>
#include <redstream/resp/type.hpp>

#include <string>

namespace redstream::resp {

namespace {

class parser_category_impl final : public boost::system::error_category {
public:
    char const* name() const noexcept override { return "redstream.resp"; }

    std::string message(int ev) const override {
        switch (static_cast<error>(ev)) {
        case error::invalid_type_marker: return "RESP protocol error: unknown type marker";
        case error::invalid_length: return "RESP protocol error: invalid length or count";
        case error::invalid_integer: return "RESP protocol error: invalid integer";
        case error::invalid_boolean: return "RESP protocol error: invalid boolean";
        case error::invalid_double: return "RESP protocol error: invalid double";
        case error::invalid_big_number: return "RESP protocol error: invalid big number";
        case error::invalid_verbatim: return "RESP protocol error: verbatim string without format prefix";
        case error::missing_crlf: return "RESP protocol error: element not terminated by CRLF";
        case error::nesting_too_deep: return "RESP reply nests deeper than parser_limits::max_depth";
        case error::bulk_too_long: return "RESP bulk string longer than parser_limits::max_bulk_length";
        case error::aggregate_too_large: return "RESP aggregate larger than parser_limits::max_aggregate_size";
        case error::line_too_long: return "RESP line longer than parser_limits::max_line_length";
        case error::streamed_unsupported: return "RESP3 streamed types are not supported";
        }
        return "unknown RESP parser error";
    }
};

} // namespace

boost::system::error_category const& parser_category() noexcept {
    static parser_category_impl const instance; // immutable, like std::generic_category()
    return instance;
}

std::string_view to_string(type t) noexcept {
    switch (t) {
    case type::simple_string: return "simple_string";
    case type::simple_error: return "simple_error";
    case type::integer: return "integer";
    case type::bulk_string: return "bulk_string";
    case type::blob_error: return "blob_error";
    case type::verbatim_string: return "verbatim_string";
    case type::null: return "null";
    case type::double_type: return "double";
    case type::boolean: return "boolean";
    case type::big_number: return "big_number";
    case type::array: return "array";
    case type::map: return "map";
    case type::set: return "set";
    case type::attribute: return "attribute";
    case type::push: return "push";
    }
    return "unknown";
}

} // namespace redstream::resp
