#include <redstream/cluster/rendezvous.hpp>

#include <algorithm>
#include <cstdint>
#include <numeric>

namespace redstream::cluster {

namespace {

constexpr std::uint64_t fnv_offset = 14695981039346656037ull;
constexpr std::uint64_t fnv_prime = 1099511628211ull;

std::uint64_t fnv1a(std::uint64_t h, std::string_view bytes) noexcept {
    for (unsigned char c : bytes) {
        h ^= c;
        h *= fnv_prime;
    }
    return h;
}

// The murmur3 finaliser: every input bit reaches every output bit.
std::uint64_t finalise(std::uint64_t h) noexcept {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

} // namespace

std::uint64_t rendezvous_weight(std::string_view member, std::string_view partition) noexcept {
    // The zero byte between them: "ab" + "c" and "a" + "bc" weigh differently.
    std::uint64_t const h = fnv1a(fnv1a(fnv_offset, member), std::string_view{"\0", 1});
    return finalise(fnv1a(h, partition));
}

std::vector<std::size_t> assign_partitions(std::span<std::string const> partitions,
                                           std::span<std::string const> members) {
    std::vector<std::size_t> owner(partitions.size(), SIZE_MAX);
    if (members.empty())
        return owner;
    std::size_t const floor = partitions.size() / members.size();
    std::size_t one_more = partitions.size() % members.size(); // members that may own floor + 1
    std::vector<std::size_t> owned(members.size(), 0);
    std::vector<std::size_t> rank(members.size());
    std::vector<std::uint64_t> weight(members.size());
    for (std::size_t p = 0; p < partitions.size(); ++p) {
        for (std::size_t m = 0; m < members.size(); ++m)
            weight[m] = rendezvous_weight(members[m], partitions[p]);
        std::iota(rank.begin(), rank.end(), std::size_t{0});
        std::sort(rank.begin(), rank.end(), [&](std::size_t a, std::size_t b) {
            return weight[a] != weight[b] ? weight[a] > weight[b] : members[a] < members[b];
        });
        for (auto m : rank) {
            if (owned[m] < floor || (owned[m] == floor && one_more > 0)) {
                if (owned[m] == floor)
                    --one_more;
                ++owned[m];
                owner[p] = m;
                break;
            }
        }
    }
    return owner;
}

} // namespace redstream::cluster
