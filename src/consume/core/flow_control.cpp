#include "consume/core/flow_control.hpp"

#include <algorithm>

namespace redstream::detail {

flow_control::flow_control(flow_limits limits)
    : limits_(limits),
      threshold_(std::max<std::size_t>(
          1, std::min({limits.batch, limits.max_in_flight_per_consumer, limits.max_in_flight}) / 2)),
      read_size_(limits.batch) {}

std::size_t flow_control::in_flight_of(holder_id h) const {
    auto it = per_holder_.find(h);
    return it == per_holder_.end() ? 0 : it->second;
}

std::size_t flow_control::room(holder_id h) const {
    std::size_t const own = in_flight_of(h);
    std::size_t const own_room =
        limits_.max_in_flight_per_consumer > own ? limits_.max_in_flight_per_consumer - own : 0;
    return std::min(worker_room(), own_room);
}

std::size_t flow_control::worker_room() const noexcept {
    return limits_.max_in_flight > in_flight_ ? limits_.max_in_flight - in_flight_ : 0;
}

std::size_t flow_control::grant(holder_id h, std::size_t want) {
    drop_promise(h);
    std::size_t const r = room(h);
    if (r < threshold_)
        return 0;
    std::size_t const n = std::min(want, r);
    add(h, n);
    return n;
}

std::size_t flow_control::grant_read_ahead(holder_id h) {
    std::size_t const n = std::min(room(h), read_size_);
    if (n < threshold_)
        return 0;
    add(h, n);
    return n;
}

void flow_control::take(holder_id h, std::size_t n) { add(h, n); }

void flow_control::add(holder_id h, std::size_t n) {
    in_flight_ += n;
    per_holder_[h] += n;
}

void flow_control::release(holder_id h, std::size_t n) {
    if (n == 0)
        return;
    in_flight_ -= std::min(n, in_flight_);
    if (auto it = orphaned_.find(h); it != orphaned_.end()) {
        std::size_t const old = std::min(n, it->second);
        it->second -= old;
        n -= old;
        if (it->second == 0)
            orphaned_.erase(it);
    }
    if (auto it = per_holder_.find(h); it != per_holder_.end())
        it->second -= std::min(n, it->second);
}

bool flow_control::read_returned(holder_id h, std::size_t granted, std::size_t got) {
    release(h, granted - std::min(got, granted));
    bool const full = got >= granted && granted > 0;
    if (full && read_size_ < limits_.batch)
        read_size_ = std::min(limits_.batch, read_size_ + std::max<std::size_t>(1, read_size_ / 8));
    return full;
}

void flow_control::connection_lost(std::uint64_t generation) {
    if (shrunk_generation_ == generation)
        return;
    shrunk_generation_ = generation;
    read_size_ = std::max<std::size_t>(1, read_size_ / 2);
}

void flow_control::wait_for_room(holder_id h) { waiters_.push_back(h); }

void flow_control::stop_waiting(holder_id h) {
    std::erase(waiters_, h);
    drop_promise(h);
}

void flow_control::drop_promise(holder_id h) {
    if (auto it = promised_.find(h); it != promised_.end()) {
        promised_total_ -= std::min(it->second, promised_total_);
        promised_.erase(it);
    }
}

void flow_control::waiters_to_wake(std::vector<holder_id>& out) {
    out.clear();
    std::size_t budget = worker_room() > promised_total_ ? worker_room() - promised_total_ : 0;
    for (auto it = waiters_.begin(); it != waiters_.end() && budget >= threshold_;) {
        std::size_t const r = std::min(room(*it), budget);
        if (r < threshold_) {
            ++it;
            continue;
        }
        // It will ask for a full read: that much is spoken for until it runs.
        std::size_t const own = in_flight_of(*it);
        std::size_t const own_room =
            limits_.max_in_flight_per_consumer > own ? limits_.max_in_flight_per_consumer - own : 0;
        std::size_t const promise = std::min(own_room, read_size_);
        budget -= std::min(budget, promise);
        promised_[*it] += promise;
        promised_total_ += promise;
        out.push_back(*it);
        it = waiters_.erase(it);
    }
}

void flow_control::forget(holder_id h) {
    // Its acks still under way release the worker's count as they complete (it is what bounds
    // the worker); a holder started later under the same id begins at zero.
    if (auto it = per_holder_.find(h); it != per_holder_.end()) {
        if (it->second > 0)
            orphaned_[h] += it->second;
        per_holder_.erase(it);
    }
    stop_waiting(h);
}

void flow_control::reset() {
    in_flight_ = 0;
    per_holder_.clear();
    orphaned_.clear();
    waiters_.clear();
    promised_.clear();
    promised_total_ = 0;
}

} // namespace redstream::detail
