#include <redstream/cluster/slot_map.hpp>

#include <algorithm>

namespace redstream::cluster {

std::string to_string(node_address const& n) {
    std::string out = n.host;
    out.append(":").append(std::to_string(n.port));
    return out;
}

slot_map::slot_map() : owner_(slot_count, no_owner) {}

slot_map slot_map::from_reply(cluster_slots const& reply, std::string_view asked_host) {
    slot_map m;
    for (auto const& r : reply.ranges) {
        node_address node = r.master;
        if (node.host.empty())
            node.host.assign(asked_host);
        auto const index = static_cast<std::uint16_t>(m.index_of(node));
        for (std::size_t s = r.first; s <= r.last && s < slot_count; ++s)
            m.owner_[s] = index;
    }
    return m;
}

std::optional<std::size_t> slot_map::master_of(std::uint16_t slot) const noexcept {
    if (slot >= slot_count || owner_[slot] == no_owner)
        return std::nullopt;
    return owner_[slot];
}

std::size_t slot_map::uncovered_slots() const noexcept {
    return static_cast<std::size_t>(std::count(owner_.begin(), owner_.end(), no_owner));
}

std::size_t slot_map::slots_of(std::size_t index) const noexcept {
    return static_cast<std::size_t>(std::count(owner_.begin(), owner_.end(), static_cast<std::uint16_t>(index)));
}

std::size_t slot_map::assign(std::uint16_t slot, node_address const& node) {
    auto const index = index_of(node);
    if (slot < slot_count)
        owner_[slot] = static_cast<std::uint16_t>(index);
    return index;
}

std::size_t slot_map::index_of(node_address const& node) {
    auto const it = std::find(masters_.begin(), masters_.end(), node);
    if (it != masters_.end())
        return static_cast<std::size_t>(it - masters_.begin());
    masters_.push_back(node);
    return masters_.size() - 1;
}

} // namespace redstream::cluster

namespace redstream {

void reader<cluster::cluster_slots>::start(cluster::cluster_slots& out) noexcept {
    out_ = &out;
    out.ranges.clear();
    remaining_ = 1;
    range_field_ = 0;
    node_field_ = 0;
    node_ = nullptr;
}

// The reply is walked by depth: 0 the list of ranges, 1 a range, 2 a range's bounds and
// nodes, 3 a node's fields, 4 and deeper the metadata map of a node (skipped).
bool reader<cluster::cluster_slots>::feed(resp::node const& n, error_code& ec) {
    remaining_ += n.children;
    --remaining_;
    switch (n.depth) {
    case 0:
        if (n.data_type != resp::type::array)
            ec = errc::wrong_reply_type;
        break;
    case 1:
        if (n.data_type != resp::type::array || n.children < 3) {
            ec = errc::wrong_reply_type;
            break;
        }
        out_->ranges.emplace_back();
        range_field_ = 0;
        break;
    case 2:
        on_range_element(n, ec);
        ++range_field_;
        break;
    case 3:
        on_node_field(n, ec);
        ++node_field_;
        break;
    default:
        break;
    }
    return ec.failed() || remaining_ == 0;
}

void reader<cluster::cluster_slots>::on_range_element(resp::node const& n, error_code& ec) {
    auto& range = out_->ranges.back();
    if (range_field_ < 2) {
        std::uint16_t bound = 0;
        reader<std::uint16_t> r;
        r.start(bound);
        r.feed(n, ec);
        if (!ec && bound >= cluster::slot_count)
            ec = errc::wrong_reply_type;
        (range_field_ == 0 ? range.first : range.last) = bound;
        return;
    }
    if (n.data_type != resp::type::array || n.children < 2) {
        ec = errc::wrong_reply_type;
        return;
    }
    node_ = range_field_ == 2 ? &range.master : &range.replicas.emplace_back();
    node_field_ = 0;
}

void reader<cluster::cluster_slots>::on_node_field(resp::node const& n, error_code& ec) {
    if (node_ == nullptr) {
        ec = errc::wrong_reply_type;
        return;
    }
    switch (node_field_) {
    case 0: // null when the node does not know its endpoint
        if (n.data_type == resp::type::null)
            node_->host.clear();
        else if (n.data_type != resp::type::bulk_string && n.data_type != resp::type::simple_string)
            ec = errc::wrong_reply_type;
        else
            node_->host.assign(n.value == "?" ? std::string_view{} : n.value);
        break;
    case 1: {
        reader<std::uint16_t> r;
        r.start(node_->port);
        r.feed(n, ec);
        break;
    }
    case 2:
        if (n.data_type == resp::type::bulk_string || n.data_type == resp::type::simple_string)
            node_->id.assign(n.value);
        break;
    default: // the metadata map (hostname, ...), Redis 7
        break;
    }
}

} // namespace redstream
