#pragma once

// Conversions of one reply element into a value, shared by the readers of reply_reader.hpp and
// stream_readers.hpp (defined in src/protocol/reply_reader.cpp).

#include <redstream/protocol/result.hpp>
#include <redstream/resp/node.hpp>
#include <redstream/resp/type.hpp>

#include <cstddef>
#include <cstdint>

namespace redstream::detail {

[[nodiscard]] bool is_scalar_text(resp::type t) noexcept;
[[nodiscard]] bool parse_integer_node(resp::node const& n, std::int64_t& v) noexcept;
[[nodiscard]] bool parse_unsigned_node(resp::node const& n, std::uint64_t& v) noexcept;
[[nodiscard]] bool parse_double_node(resp::node const& n, double& v) noexcept;
[[nodiscard]] server_error to_server_error(resp::node const& n);

// Bounded so that a hostile count cannot make us allocate before the elements arrive.
inline constexpr std::size_t max_reserve = 4096;

} // namespace redstream::detail
