#pragma once
/// @file
/// The RESP2/RESP3 data types.

#include <cstdint>
#include <string_view>

namespace redstream::resp {

/// Every RESP2/RESP3 data type the parser reports. The enumerator values are the wire markers.
enum class type : char {
    simple_string = '+',   ///< `+OK`: a line of text
    simple_error = '-',    ///< `-ERR ...`: an error line
    integer = ':',         ///< `:42`: a signed 64-bit integer
    bulk_string = '$',     ///< length-prefixed, binary-safe string
    blob_error = '!',      ///< RESP3 binary-safe error
    verbatim_string = '=', ///< RESP3 string with a format (`txt:`, stripped from node::value)
    null = '_',            ///< RESP3 null; also RESP2's null bulk string and null array
    double_type = ',',     ///< RESP3 double (text, `inf`, `-inf`, `nan` included)
    boolean = '#',         ///< RESP3 boolean (`t` or `f`)
    big_number = '(',      ///< RESP3 big number (decimal text)
    array = '*',           ///< array of any elements
    map = '%',             ///< RESP3 map: keys and values alternate among its children
    set = '~',             ///< RESP3 set
    attribute = '|',       ///< RESP3 attribute: consumed by the parser, never reported
    push = '>',            ///< RESP3 push: out-of-band data (pub/sub messages, notifications)
};

/// True for the types whose elements follow as children: array, map, set, attribute, push.
[[nodiscard]] constexpr bool is_aggregate(type t) noexcept {
    return t == type::array || t == type::map || t == type::set || t == type::attribute || t == type::push;
}

/// True for error replies: simple_error and blob_error.
[[nodiscard]] constexpr bool is_error(type t) noexcept {
    return t == type::simple_error || t == type::blob_error;
}

/// The type's name for logs: the enumerator's name ("bulk_string", "map"...), "double" for
/// double_type, "unknown" for a value outside the enum.
[[nodiscard]] std::string_view to_string(type t) noexcept;

} // namespace redstream::resp
