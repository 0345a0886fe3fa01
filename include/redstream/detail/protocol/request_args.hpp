#pragma once

// The argument types request::push() accepts.

#include <redstream/protocol/stream_id.hpp>

#include <chrono>
#include <concepts>
#include <ranges>
#include <string_view>
#include <type_traits>

namespace redstream::detail {

template <class T>
concept string_like = std::convertible_to<T const&, std::string_view>;

template <class T>
concept integer_arg = std::integral<T> && !std::same_as<T, bool> && !std::same_as<T, char>;

template <class T>
concept scalar_arg = string_like<T> || integer_arg<T> || std::same_as<T, stream_id> ||
                     std::same_as<T, std::chrono::milliseconds> || std::same_as<T, double>;

template <class T>
concept pair_arg = requires(T const& p) {
    requires scalar_arg<std::remove_cvref_t<decltype(p.first)>>;
    requires scalar_arg<std::remove_cvref_t<decltype(p.second)>>;
};

// A range of scalars or of pairs (field/value lists) expands in place into its elements.
template <class T>
concept range_arg = std::ranges::sized_range<T const> && !string_like<T> &&
                    (scalar_arg<std::ranges::range_value_t<T const>> ||
                     pair_arg<std::ranges::range_value_t<T const>>);

} // namespace redstream::detail
