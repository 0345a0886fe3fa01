// Owned assignment: a member reads the partitions whose lease it holds, and the members agree
// on who should hold which by rendezvous hashing over the live members.

#include <redstream/cluster/rendezvous.hpp>

#include "consume/partitioned_state.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

namespace redstream {

namespace asio = boost::asio;

namespace {

using clock = std::chrono::steady_clock;

// Often enough that a lease is renewed many times per TTL, rarely enough to cost nothing.
std::chrono::milliseconds tick_of(std::chrono::milliseconds ttl) {
    return std::clamp(ttl / 10, std::chrono::milliseconds{20}, std::chrono::milliseconds{1000});
}

} // namespace

// Each round: renew the membership, compute the assignment, take or renew the leases of the
// partitions this member owns (or still drains), give back those handed over, and start or
// stop the workers to match.
asio::awaitable<void> partitioned_worker::state::supervise_owned() {
    auto const tick = tick_of(assign.lease_ttl);
    auto last_refresh = clock::now();
    bool first = true;
    bool heartbeat_failing = false;
    std::vector<std::string> live{assign.member};
    while (!stopping) {
        auto const sent = clock::now();
        std::string error;
        if (auto m = co_await leases->heartbeat(error)) {
            live = std::move(*m);
            if (std::exchange(heartbeat_failing, false))
                log().log(log_level::info, fmt::format("partitioned worker {}: member {} renewed its membership again",
                                                       opts.group, assign.member));
        } else {
            ++heartbeat_errors;
            if (!std::exchange(heartbeat_failing, true))
                log().log(log_level::warn, fmt::format("partitioned worker {}: member {} cannot renew its membership "
                                                       "({}); keeping the last assignment",
                                                       opts.group, assign.member, error));
        }
        if (stopping)
            break;
        members = live.size();
        co_await renew_leases(live, sent);
        if (stopping)
            break;
        co_await give_back_leases(false);
        co_await refresh_map_if_needed(last_refresh, std::exchange(first, false));
        for (std::size_t p = 0; p < runs.size() && !stopping; ++p) {
            auto& r = runs[p];
            if (r.held && r.wanted) {
                co_await place(p);
            } else if (r.running() && !std::exchange(r.handing_over, true)) {
                log().log(log_level::info, fmt::format("partitioned worker {}: member {} hands partition {} over; "
                                                       "draining it",
                                                       opts.group, assign.member, r.key));
                r.w->stop(); // its lease is renewed until it has drained, then given back
            }
        }
        if (!stopping)
            co_await sleep(tick);
    }
}

// Leases are asked for the partitions this member owns and those it still drains; a lease
// another member holds stops that partition here at once, and one not renewed for half its
// TTL stops it too (the member may be cut off, and the lease about to go elsewhere).
asio::awaitable<void> partitioned_worker::state::renew_leases(std::vector<std::string> const& live, clock::time_point sent) {
    auto const owners = cluster::assign_partitions(keys, live);
    std::vector<std::size_t> asked;
    std::vector<std::string> lease_keys;
    for (std::size_t p = 0; p < runs.size(); ++p) {
        auto& r = runs[p];
        r.wanted = owners[p] < live.size() && live[owners[p]] == assign.member;
        if (r.wanted || r.running()) {
            asked.push_back(p);
            lease_keys.push_back(r.lease_key);
        }
    }
    std::string error;
    auto const held = co_await leases->hold(lease_keys, error);
    bool failed = false;
    for (std::size_t i = 0; i < asked.size(); ++i) {
        auto& r = runs[asked[i]];
        if (!held[i]) {
            failed = true;
            continue;
        }
        if (*held[i]) {
            if (!std::exchange(r.held, true)) {
                ++leases_acquired;
                r.take_pending = true;
                log().log(log_level::debug, fmt::format("partitioned worker {}: member {} took partition {}",
                                                        opts.group, assign.member, r.key));
            }
            r.renewed = sent;
            continue;
        }
        if (std::exchange(r.held, false)) {
            ++leases_lost;
            log().log(log_level::warn, fmt::format("partitioned worker {}: the lease of partition {} is held by another "
                                                   "member; member {} stops reading it",
                                                   opts.group, r.key, assign.member));
        }
        if (r.running()) {
            r.handing_over = true;
            r.w->stop();
        }
    }
    if (failed) {
        ++heartbeat_errors;
        log().log(log_level::warn, fmt::format("partitioned worker {}: renewing leases failed ({})", opts.group, error));
    }
    auto const now = clock::now();
    for (auto& r : runs) {
        if (!r.held || now - r.renewed <= assign.lease_ttl / 2)
            continue;
        r.held = false;
        ++leases_lost;
        log().log(log_level::warn, fmt::format("partitioned worker {}: the lease of partition {} was not renewed for "
                                               "{} ms; member {} stops reading it",
                                               opts.group, r.key, (assign.lease_ttl / 2).count(), assign.member));
        if (r.running()) {
            r.handing_over = true;
            r.w->stop();
        }
    }
}

// A lease goes back once its partition's worker has drained, so the next owner never reads
// while this member still handles; at stop (`all`) every lease goes, and the membership too.
asio::awaitable<void> partitioned_worker::state::give_back_leases(bool all) {
    std::vector<std::string> lease_keys;
    for (auto& r : runs) {
        if (!r.held || r.running() || (!all && r.wanted))
            continue;
        lease_keys.push_back(r.lease_key);
        r.held = false;
        ++leases_released;
    }
    co_await leases->release(lease_keys);
    if (all)
        co_await leases->leave();
}

} // namespace redstream
