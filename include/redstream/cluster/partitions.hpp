#pragma once
/// @file
/// A logical stream split into partitions: the key of each partition, and which partition a
/// message goes to.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace redstream::cluster {

/// The hash tag of partition `index` of `count`, chosen so that its slot lies in the
/// index-th of `count` equal slices of the slot space, [index * 16384 / count,
/// (index + 1) * 16384 / count), and one slot away from the slice's edges when the slice has 3
/// slots or more (tools round the edges of an even split differently). The tag is
/// "p<index>-<k>" with the smallest k that lands there, so it depends on the index and the
/// count only.
///
/// Why not "{0}", "{1}", "{2}": their slots are 13907, 9842 and 5649, so on the three masters
/// of a default cluster (slots 0-5460, 5461-10922, 10923-16383) the first master would get no
/// partition. Slices follow how `redis-cli --cluster create` splits the slots, so P partitions
/// over M masters give each master P / M of them when M divides P.
/// @pre index < count, 0 < count <= 16384.
[[nodiscard]] std::string partition_tag(std::size_t index, std::size_t count);

/// The stream key of partition `index`: "<stream>:{<tag>}". Keys derived from it for the same
/// partition (its dead-letter stream, idempotency markers) put the same "{<tag>}" in theirs,
/// so they share its slot and one script can touch them together. Throws
/// std::invalid_argument if `stream` holds '{' or '}' (its text would be the hash tag).
[[nodiscard]] std::string partition_key(std::string_view stream, std::size_t index, std::size_t count);

/// Every partition key of `stream`, in partition order. Throws std::invalid_argument for a
/// count of 0 or above 16384, an empty name, or one partition_key() refuses.
[[nodiscard]] std::vector<std::string> partition_keys(std::string_view stream, std::size_t count);

/// The partition of a message whose routing key is `key`: FNV-1a (64-bit) of the key's bytes,
/// modulo `count`. Stable across processes, platforms and releases (it is part of the data
/// layout): the same key always goes to the same partition, so its messages keep their order.
[[nodiscard]] std::size_t partition_of(std::string_view key, std::size_t count) noexcept;

} // namespace redstream::cluster
