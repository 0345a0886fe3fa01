#pragma once

#include <cstdint>
#include <string_view>

namespace redstream::resp {

/// Every RESP2/RESP3 data type the parser reports. The enumerator values are the wire markers.
enum class type : char {
    simple_string = '+',
    simple_error = '-',
    integer = ':',
    bulk_string = '$',
    blob_error = '!',
    verbatim_string = '=',
    null = '_',
    double_type = ',',
    boolean = '#',
    big_number = '(',
    array = '*',
    map = '%',
    set = '~',
    attribute = '|',
    push = '>',
};

[[nodiscard]] constexpr bool is_aggregate(type t) noexcept {
    return t == type::array || t == type::map || t == type::set || t == type::attribute || t == type::push;
}

[[nodiscard]] constexpr bool is_error(type t) noexcept {
    return t == type::simple_error || t == type::blob_error;
}

[[nodiscard]] std::string_view to_string(type t) noexcept;

} // namespace redstream::resp
