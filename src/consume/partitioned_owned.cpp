// Owned assignment: a member reads the partitions whose lease it holds, and the members agree
// on who should hold which by rendezvous hashing over the live members.

#include <redstream/cluster/rendezvous.hpp>

#include "consume/partitioned_state.hpp"
#include "io/use_tuple.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <utility>

namespace redstream {

namespace asio = boost::asio;

namespace {

using clock = std::chrono::steady_clock;

} // namespace

// Often enough that a lease is renewed many times per TTL, rarely enough to cost nothing.
std::chrono::milliseconds partitioned_worker::state::owned_tick() const {
    return std::clamp(assign.lease_ttl / 10, std::chrono::milliseconds{20}, std::chrono::milliseconds{1000});
}

// Each round: renew the membership, compute the assignment, take or renew the leases of the
// partitions this member owns (or still drains), give back those handed over, and start or
// stop the workers to match. The lease watchdog runs beside it.
asio::awaitable<void> partitioned_worker::state::supervise_owned() {
    auto const tick = owned_tick();
    if (!watchdog)
        watchdog = std::make_unique<asio::steady_timer>(co_await asio::this_coro::executor);
    watching = true;
    asio::co_spawn(watchdog->get_executor(), watch_leases(shared_from_this(), ++watch_generation), asio::detached);
    auto last_refresh = clock::now();
    bool first = true;
    bool heartbeat_failing = false;
    std::vector<std::string> live{assign.member};
    while (!stopping) {
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
        co_await renew_leases(live);
        if (stopping)
            break;
        co_await give_back_leases(give_back::handed_over);
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

// The members learn at once that this one is going (they reassign its partitions), but they
// wait on its leases, renewed here until each partition has drained: a slow handler never
// overlaps the next owner's.
asio::awaitable<void> partitioned_worker::state::drain_owned() {
    co_await leases->leave();
    while (!all_done()) {
        std::vector<std::size_t> draining;
        for (std::size_t p = 0; p < runs.size(); ++p)
            if (runs[p].running())
                draining.push_back(p);
        co_await hold_leases(draining);
        co_await give_back_leases(give_back::finished);
        if (!all_done())
            co_await sleep(owned_tick()); // a worker that completes cuts it short
    }
    co_await give_back_leases(give_back::all);
    watching = false;
    if (watchdog)
        watchdog->cancel();
}

asio::awaitable<void> partitioned_worker::state::watch_leases(std::shared_ptr<state> self, std::uint64_t generation) {
    auto const tick = self->owned_tick();
    auto const mine = [&] { return self->watching && self->watch_generation == generation; };
    while (mine()) {
        self->watchdog->expires_after(tick);
        co_await self->watchdog->async_wait(detail::use_tuple);
        if (mine())
            self->stop_unrenewed();
    }
}

// Leases are asked for the partitions this member owns and those it still drains.
asio::awaitable<void> partitioned_worker::state::renew_leases(std::vector<std::string> const& live) {
    auto const owners = cluster::assign_partitions(keys, live);
    std::vector<std::size_t> asked;
    for (std::size_t p = 0; p < runs.size(); ++p) {
        auto& r = runs[p];
        r.wanted = owners[p] < live.size() && live[owners[p]] == assign.member;
        if (r.wanted || r.running())
            asked.push_back(p);
    }
    co_await hold_leases(asked);
}

// A lease another member holds stops that partition here at once; one not renewed for half its
// TTL stops it too (the member may be cut off, and the lease about to go elsewhere).
asio::awaitable<void> partitioned_worker::state::hold_leases(std::vector<std::size_t> const& asked) {
    std::vector<std::string> lease_keys;
    for (auto p : asked)
        lease_keys.push_back(runs[p].lease_key);
    auto const sent = clock::now(); // the server's TTL starts after this
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
                r.pending_cursor.clear();
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
    stop_unrenewed();
}

void partitioned_worker::state::stop_unrenewed() {
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
// while this member still handles. At the end (`all`) every lease key is asked: the script
// deletes only those still this process's, including any it stopped counting as held.
asio::awaitable<void> partitioned_worker::state::give_back_leases(give_back which) {
    std::vector<std::string> lease_keys;
    for (auto& r : runs) {
        bool const finished = !r.running();
        bool const due = which == give_back::all || (finished && (which == give_back::finished || !r.wanted));
        if (!due || (!r.held && which != give_back::all))
            continue;
        lease_keys.push_back(r.lease_key);
        if (std::exchange(r.held, false))
            ++leases_released;
    }
    co_await leases->release(lease_keys);
}

} // namespace redstream
