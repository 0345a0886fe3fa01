#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace redstream {

/// A concrete stream entry id `<ms>-<seq>`, totally ordered like Redis orders them.
struct stream_id {
    std::uint64_t ms = 0;
    std::uint64_t seq = 0;

    friend constexpr auto operator<=>(stream_id const&, stream_id const&) = default;

    /// The smallest id strictly greater than this one (used for exclusive ranges and MINID).
    [[nodiscard]] constexpr stream_id next() const noexcept {
        return seq == UINT64_MAX ? stream_id{ms + 1, 0} : stream_id{ms, seq + 1};
    }

    /// Parses "ms-seq" or a bare "ms" (seq 0). Returns nullopt for anything else.
    [[nodiscard]] static std::optional<stream_id> parse(std::string_view s) noexcept;

    /// Formats into `buf` (at least max_chars bytes) and returns the text.
    static constexpr std::size_t max_chars = 41;
    std::string_view format(char* buf) const noexcept;

    [[nodiscard]] std::string to_string() const;

    static constexpr stream_id min() noexcept { return {0, 0}; }
    static constexpr stream_id max() noexcept { return {UINT64_MAX, UINT64_MAX}; }
};

/// The special ids of stream commands, spelled as Redis spells them.
namespace special_id {
inline constexpr std::string_view new_messages = ">";   ///< XREADGROUP: never-delivered entries
inline constexpr std::string_view last = "$";           ///< XGROUP CREATE / XREAD: the current end
inline constexpr std::string_view own_pending = "0";    ///< XREADGROUP: this consumer's pending list
inline constexpr std::string_view range_min = "-";      ///< XRANGE/XPENDING lower bound
inline constexpr std::string_view range_max = "+";      ///< XRANGE/XPENDING upper bound
inline constexpr std::string_view auto_id = "*";        ///< XADD: server-assigned id
} // namespace special_id

} // namespace redstream
