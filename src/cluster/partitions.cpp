#include <redstream/cluster/key_slot.hpp>
#include <redstream/cluster/partitions.hpp>

#include <stdexcept>

namespace redstream::cluster {

std::string partition_tag(std::size_t index, std::size_t count) {
    if (count == 0 || count > slot_count || index >= count)
        throw std::invalid_argument("partition " + std::to_string(index) + " of " + std::to_string(count) +
                                    ": needs index < count <= 16384");
    std::size_t first = index * slot_count / count;
    std::size_t end = (index + 1) * slot_count / count;
    // One slot away from the slice's edges where there is room: tools round the edges of an
    // even split differently (redis-cli gives slot 10922 to the second of three masters).
    if (end - first >= 3) {
        ++first;
        --end;
    }
    // Each try lands in the slice with probability 1/count: about `count` tries.
    for (std::size_t k = 0;; ++k) {
        std::string tag{"p"};
        tag.append(std::to_string(index)).append("-").append(std::to_string(k));
        std::size_t const slot = crc16(tag) % slot_count;
        if (slot >= first && slot < end)
            return tag;
    }
}

std::string partition_key(std::string_view stream, std::size_t index, std::size_t count) {
    // A brace in the name would make the name's text the hash tag (only the first counts).
    if (stream.find_first_of("{}") != std::string_view::npos)
        throw std::invalid_argument("partitioned stream name '" + std::string{stream} +
                                    "': no '{' or '}' (the partition's hash tag must be the key's first)");
    std::string key{stream};
    key.append(":{").append(partition_tag(index, count)).append("}");
    return key;
}

std::vector<std::string> partition_keys(std::string_view stream, std::size_t count) {
    if (count == 0 || count > slot_count)
        throw std::invalid_argument("partitioned stream '" + std::string{stream} + "': needs 1 to 16384 partitions");
    if (stream.empty())
        throw std::invalid_argument("partitioned stream: the name is empty");
    std::vector<std::string> keys;
    keys.reserve(count);
    for (std::size_t i = 0; i < count; ++i)
        keys.push_back(partition_key(stream, i, count));
    return keys;
}

std::size_t partition_of(std::string_view key, std::size_t count) noexcept {
    std::uint64_t h = 14695981039346656037ull;
    for (unsigned char c : key) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return count == 0 ? 0 : static_cast<std::size_t>(h % count);
}

} // namespace redstream::cluster
