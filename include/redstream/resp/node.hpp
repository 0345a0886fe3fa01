#pragma once
/// @file
/// One parsed RESP element.

#include <redstream/resp/type.hpp>

#include <cstddef>
#include <string_view>

namespace redstream::resp {

/// One parsed RESP element, reported in pre-order (a parent before its children).
///
/// `value` points into the caller's input buffer and is valid only until that buffer changes:
/// adapters copy what they keep. For verbatim strings the three-letter format and ':' are
/// stripped. For aggregates `children` is the number of child elements that follow (for maps,
/// twice the number of pairs); scalars have 0. `depth` is 0 for the top-level element of a reply.
///
/// `out_of_band` marks the elements of a push that arrived *inside* another reply (Redis 7.0
/// sends keyspace notifications raised while a command runs in the middle of its reply). Such
/// a push does not count as an element of the enclosing aggregate; its `depth` is relative to
/// the push (0 for the push itself).
struct node {
    type data_type = type::null; ///< the element's type (RESP2 null bulk strings and arrays read as type::null)
    std::size_t children = 0;    ///< child elements that follow (maps and attributes: twice the pairs); 0 for scalars
    std::size_t depth = 0;       ///< nesting level: 0 for a reply's top-level element
    /// The payload of a scalar (a string's bytes, a number's or boolean's text "t"/"f", an
    /// error's text); empty for aggregates and null. Points into the caller's input buffer.
    std::string_view value;
    bool out_of_band = false;    ///< part of a push that arrived inside another reply (see above)
};

} // namespace redstream::resp
