#include "consume/core/hand_registry.hpp"

#include <algorithm>
#include <map>
#include <tuple>

namespace redstream::detail {

void hand_registry::take_read(holder_id h, std::size_t stream, entry_batch const& batch, clock::time_point now) {
    for (std::size_t i = 0; i < batch.size(); ++i)
        map_.insert_or_assign({stream, batch[i].id()}, hand_info{h, now});
}

std::size_t hand_registry::take_fresh(holder_id h, std::size_t stream, entry_batch const& batch,
                                      delivery_plan& plan, clock::time_point now) {
    std::size_t fresh = 0;
    for (std::size_t i = 0; i < batch.size(); ++i) {
        if (plan[i] == 0)
            continue;
        if (!map_.try_emplace({stream, batch[i].id()}, hand_info{h, now}).second) {
            plan[i] = 0;
            continue;
        }
        ++fresh;
    }
    return fresh;
}

void hand_registry::touch(std::size_t stream, entry_batch const& batch, clock::time_point now) {
    for (std::size_t i = 0; i < batch.size(); ++i)
        if (auto* info = find(stream, batch[i].id()))
            info->since = now;
}

hand_info* hand_registry::find(std::size_t stream, stream_id id) {
    auto it = map_.find({stream, id});
    return it == map_.end() ? nullptr : &it->second;
}

bool hand_registry::taken_over(std::size_t stream, stream_id id) {
    auto const* info = find(stream, id);
    return info && info->lost;
}

bool hand_registry::needs_check(std::size_t stream, stream_id id, clock::time_point now) {
    auto const* info = find(stream, id);
    return info && !info->lost && now - info->since > min_idle_ * 3 / 4;
}

std::size_t hand_registry::release_held_by(holder_id h) {
    return std::erase_if(map_, [h](auto const& kv) { return kv.second.holder == h && !kv.second.acking; });
}

milliseconds hand_registry::refresh_period() const { return std::max(min_idle_ / 8, milliseconds{10}); }

std::vector<refresh_group> hand_registry::waiting_to_refresh(clock::time_point now) const {
    using group_key = std::tuple<holder_id, std::size_t, clock::time_point>;
    std::map<group_key, std::vector<stream_id>> groups;
    for (auto const& [k, info] : map_)
        if (!info.handling && !info.lost && now - info.since > min_idle_ / 4)
            groups[{info.holder, k.stream, info.since}].push_back(k.id);
    std::vector<refresh_group> out;
    out.reserve(groups.size());
    for (auto& [key, ids] : groups) {
        auto const& [holder, stream, since] = key;
        out.push_back({holder, stream, std::chrono::duration_cast<milliseconds>(now - since), std::move(ids)});
    }
    return out;
}

// The server's idle time counts from the delivery (or the last reset), which came before our
// `since`: a message still ours has been idle at least sent_at - since and is in the reply; one
// another process claimed meanwhile has been idle for less, and comes back missing.
void hand_registry::refreshed(refresh_group const& group, std::vector<stream_id> const& kept,
                              clock::time_point sent_at, clock::time_point reset_at) {
    for (auto id : group.ids) {
        auto* info = find(group.stream, id);
        if (!info || info->handling || info->since > sent_at)
            continue;
        if (std::binary_search(kept.begin(), kept.end(), id))
            info->since = reset_at;
        else
            info->lost = true;
    }
}

} // namespace redstream::detail
