#pragma once
/// @file
/// Stream entry ids and the special ids of stream commands.

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace redstream {

/// A concrete stream entry id `<ms>-<seq>`, totally ordered like Redis orders them.
///
/// Only concrete ids: the special ids ("$", ">", "*", "-", "+") are spelled with special_id.
struct stream_id {
    std::uint64_t ms = 0;  ///< the millisecond part (Unix time in ms for server-generated ids)
    std::uint64_t seq = 0; ///< the sequence number within that millisecond

    /// Orders by `ms`, then `seq`, as Redis does; also gives ==, < and the rest.
    friend constexpr auto operator<=>(stream_id const&, stream_id const&) = default;

    /// The smallest id strictly greater than this one (used for exclusive ranges and MINID).
    /// `max().next()` wraps around to 0-0.
    [[nodiscard]] constexpr stream_id next() const noexcept {
        return seq == UINT64_MAX ? stream_id{ms + 1, 0} : stream_id{ms, seq + 1};
    }

    /// Parses "ms-seq" or a bare "ms" (seq 0). Returns nullopt for anything else.
    ///
    /// Both parts are plain decimal numbers that fit 64 bits: no sign, no spaces, no "(" of
    /// exclusive ranges, no special ids.
    [[nodiscard]] static std::optional<stream_id> parse(std::string_view s) noexcept;

    /// The buffer size format() needs: two 20-digit numbers and the dash.
    static constexpr std::size_t max_chars = 41;
    /// Writes "ms-seq" into `buf`, which must hold max_chars bytes (no NUL is written), and
    /// returns a view of the text in `buf`.
    std::string_view format(char* buf) const noexcept;

    /// "ms-seq" as a string, such as "1700000000000-0".
    [[nodiscard]] std::string to_string() const;

    /// 0-0, the smallest id (below every real entry: Redis ids start at 0-1).
    static constexpr stream_id min() noexcept { return {0, 0}; }
    /// The largest id, 18446744073709551615-18446744073709551615.
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
