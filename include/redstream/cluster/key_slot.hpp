#pragma once
/// @file
/// The hash slot of a key, as Redis Cluster computes it.

#include <cstdint>
#include <string_view>

namespace redstream::cluster {

/// Redis Cluster splits its key space into this many hash slots.
inline constexpr std::uint16_t slot_count = 16384;

/// The part of `key` that is hashed: the text between the first `{` and the first `}` after
/// it, when that text is not empty; otherwise the whole key. So `{user1}:a` and `{user1}:b`
/// share a slot, while `{}x` and `a{}{b}` hash whole (an empty first tag is no tag) and
/// `{{a}}` hashes `{a`.
[[nodiscard]] std::string_view hash_tag(std::string_view key) noexcept;

/// CRC16 (XMODEM: polynomial 0x1021, initial value 0) of `data`, the checksum the cluster
/// specification names. crc16("123456789") is 0x31C3.
[[nodiscard]] std::uint16_t crc16(std::string_view data) noexcept;

/// The slot of `key`: crc16(hash_tag(key)) modulo 16384, the value of `CLUSTER KEYSLOT key`.
[[nodiscard]] std::uint16_t key_slot(std::string_view key) noexcept;

} // namespace redstream::cluster
