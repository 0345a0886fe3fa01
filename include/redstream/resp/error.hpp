#pragma once
/// @file
/// Error codes of the RESP parser.

#include <boost/system/error_code.hpp>

#include <type_traits>

namespace redstream::resp {

/// Errors of the RESP parser: the bytes received are not a reply we accept. In
/// parser_category() ("redstream.resp"). When a connection's parser reports one, the
/// connection drops and its requests in flight fail with that code; is_fatal() is true for all.
enum class error {
    invalid_type_marker = 1, ///< the first byte of an element is not a RESP type
    invalid_length,          ///< a length or count is not a valid decimal number
    invalid_integer,         ///< an integer reply is not a 64-bit decimal
    invalid_boolean,         ///< a boolean is not `#t` or `#f`
    invalid_double,          ///< a double is not a decimal, inf, -inf or nan
    invalid_big_number,      ///< a big number has characters other than an optional sign and digits
    invalid_verbatim,        ///< a verbatim string lacks its "fmt:" prefix
    missing_crlf,            ///< an element is not terminated by CRLF
    nesting_too_deep,        ///< aggregates nest deeper than parser_limits::max_depth
    bulk_too_long,           ///< a bulk length exceeds parser_limits::max_bulk_length
    aggregate_too_large,     ///< an aggregate count exceeds parser_limits::max_aggregate_size
    line_too_long,           ///< a simple line exceeds parser_limits::max_line_length
    streamed_unsupported,    ///< RESP3 streamed strings/aggregates (never sent by Redis)
};

/// The category of resp::error, named "redstream.resp": one immutable instance for the program.
[[nodiscard]] boost::system::error_category const& parser_category() noexcept;

/// Makes an error_code of parser_category(); also what lets `ec == resp::error::...` compile.
[[nodiscard]] inline boost::system::error_code make_error_code(error e) noexcept {
    return {static_cast<int>(e), parser_category()};
}

} // namespace redstream::resp

/// @cond
template <>
struct boost::system::is_error_code_enum<redstream::resp::error> : std::true_type {};
/// @endcond
