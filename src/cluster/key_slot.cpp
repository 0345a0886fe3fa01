#include <redstream/cluster/key_slot.hpp>

#include <array>

namespace redstream::cluster {

namespace {

// One table lookup per byte instead of eight shifts: the slot is computed for every command a
// cluster client routes.
constexpr std::array<std::uint16_t, 256> make_crc16_table() {
    std::array<std::uint16_t, 256> table{};
    for (unsigned byte = 0; byte < 256; ++byte) {
        auto crc = static_cast<std::uint16_t>(byte << 8);
        for (int bit = 0; bit < 8; ++bit)
            crc = static_cast<std::uint16_t>((crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1);
        table[byte] = crc;
    }
    return table;
}

constexpr auto crc16_table = make_crc16_table();

} // namespace

std::string_view hash_tag(std::string_view key) noexcept {
    auto const open = key.find('{');
    if (open == std::string_view::npos)
        return key;
    auto const close = key.find('}', open + 1);
    if (close == std::string_view::npos || close == open + 1)
        return key;
    return key.substr(open + 1, close - open - 1);
}

std::uint16_t crc16(std::string_view data) noexcept {
    std::uint16_t crc = 0;
    for (unsigned char c : data)
        crc = static_cast<std::uint16_t>((crc << 8) ^ crc16_table[((crc >> 8) ^ c) & 0xff]);
    return crc;
}

std::uint16_t key_slot(std::string_view key) noexcept {
    return static_cast<std::uint16_t>(crc16(hash_tag(key)) % slot_count);
}

} // namespace redstream::cluster
