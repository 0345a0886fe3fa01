#pragma once
/// @file
/// Which member owns each partition: rendezvous (highest-random-weight) hashing with bounded
/// loads. Every process that knows the same members computes the same assignment without
/// talking to the others, and a member that joins or leaves moves few partitions.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace redstream::cluster {

/// The weight of `member` for `partition`: FNV-1a 64 of the member, a zero byte and the
/// partition, then a 64-bit finaliser (FNV-1a's low bits mix poorly). Stable across processes,
/// platforms and releases.
[[nodiscard]] std::uint64_t rendezvous_weight(std::string_view member, std::string_view partition) noexcept;

/// The owner of each partition, as an index into `members` (SIZE_MAX for all when `members`
/// is empty). Partitions are taken in order; each goes to the member of highest weight for it
/// (ties: the smaller name) among those with room, where each member has room for
/// ⌊P/M⌋ partitions and the first P mod M members to get there for one more. So every member
/// owns ⌊P/M⌋ or ⌈P/M⌉, and the order of `members` does not matter (duplicates are a caller's
/// error).
[[nodiscard]] std::vector<std::size_t> assign_partitions(std::span<std::string const> partitions,
                                                         std::span<std::string const> members);

} // namespace redstream::cluster
