#include <redstream/cluster/partitions.hpp>
#include <redstream/consume/partitioned_worker.hpp>

#include "consume/identity.hpp"
#include "consume/partitioned_state.hpp"

#include "io/report_exception.hpp"
#include "io/use_tuple.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <utility>

namespace redstream {

namespace asio = boost::asio;

namespace {

// Counters add up; gauges too (consumers, in flight...) as the partitions run side by side.
void add_into(worker_stats& into, worker_stats const& s) {
    into.messages_read += s.messages_read;
    into.handled += s.handled;
    into.acked += s.acked;
    into.failed += s.failed;
    into.retried += s.retried;
    into.claimed += s.claimed;
    into.dead_lettered += s.dead_lettered;
    into.skipped_duplicates += s.skipped_duplicates;
    into.ack_batches += s.ack_batches;
    into.read_errors += s.read_errors;
    into.read_replies += s.read_replies;
    into.empty_reads += s.empty_reads;
    into.consumers += s.consumers;
    into.parked += s.parked;
    into.in_flight += s.in_flight;
    into.pending_acks += s.pending_acks;
    into.reads_in_flight += s.reads_in_flight;
    into.read_size = std::max(into.read_size, s.read_size);
    into.read_depth = std::max(into.read_depth, s.read_depth);
    into.wakeup = s.wakeup;
}

// Only the counters of a worker that has ended: its gauges are over.
worker_stats counters_of(worker_stats s) {
    s.consumers = s.parked = s.in_flight = s.pending_acks = s.reads_in_flight = 0;
    return s;
}

constexpr auto supervisor_tick = std::chrono::milliseconds{250};

} // namespace

worker_options partitioned_worker::state::options_for(std::size_t partition) const {
    worker_options o = opts;
    o.stream = keys[partition];
    o.streams.clear();
    if (cluster) {
        auto const tag = cluster::partition_tag(partition, keys.size());
        if (!opts.dead_letter_stream.empty())
            o.dead_letter_stream = cluster::partition_key(opts.dead_letter_stream, partition, keys.size());
        o.idempotency.key_prefix = fmt::format("{}{{{}}}:", opts.idempotency.key_prefix, tag);
    }
    return o;
}

void partitioned_worker::state::start(partition_run& r, client& on, worker_options o, std::string node) {
    retire(r);
    r.node = std::move(node);
    r.w = std::make_shared<worker>(on, std::move(o));
    r.w->on_message(on_message);
    r.done = std::make_shared<bool>(false);
    r.read_errors_seen = 0;
    r.moving = false;
    r.handing_over = false;
    r.failure = nullptr;
    auto* const run = &r; // runs never resize once made
    asio::co_spawn(on.get_executor(), r.w->run(),
                   [self = shared_from_this(), done = r.done, run](std::exception_ptr ep) {
                       *done = true;
                       if (ep) {
                           run->failure = ep;
                           detail::report_exception(self->log(), log_level::error, ep,
                                                    "partitioned worker {}: partition {} stopped", self->opts.group,
                                                    run->key);
                       }
                       if (self->wake)
                           self->wake->cancel();
                   });
}

// A finished worker's counters stay in its partition's figures.
void partitioned_worker::state::retire(partition_run& r) {
    if (!r.w)
        return;
    add_into(r.retired, counters_of(r.w->stats()));
    r.w.reset();
}

void partitioned_worker::state::stop_all() {
    stopping = true;
    for (auto& r : runs)
        if (r.w)
            r.w->stop();
    if (wake)
        wake->cancel();
}

bool partitioned_worker::state::all_done() const {
    for (auto const& r : runs)
        if (r.done && !*r.done)
            return false;
    return true;
}

asio::awaitable<void> partitioned_worker::state::sleep(std::chrono::milliseconds d) {
    wake->expires_after(d);
    co_await wake->async_wait(detail::use_tuple);
}

// Each round: a partition whose worker ended (moved) or never started gets one on its owner;
// one whose reads fail, or every refresh interval, makes the map be read again first.
asio::awaitable<void> partitioned_worker::state::supervise_cluster() {
    auto last_refresh = std::chrono::steady_clock::now();
    bool first = true;
    while (!stopping) {
        co_await refresh_map_if_needed(last_refresh, std::exchange(first, false));
        for (std::size_t p = 0; p < runs.size() && !stopping; ++p)
            co_await place(p);
        if (!stopping)
            co_await sleep(supervisor_tick);
    }
}

asio::awaitable<void> partitioned_worker::state::refresh_map_if_needed(std::chrono::steady_clock::time_point& last_refresh,
                                                                       bool first) {
    if (!cluster)
        co_return;
    bool suspicious = first;
    for (auto& r : runs)
        if (r.w) {
            auto const errors = r.w->stats().read_errors;
            suspicious = suspicious || errors > r.read_errors_seen;
            r.read_errors_seen = errors;
        } else if (!owned() || (r.wanted && r.held)) {
            suspicious = true; // a partition this member should read has no master yet
        }
    auto const interval = cluster->get_config().cluster_refresh_interval;
    auto const now = std::chrono::steady_clock::now();
    if (suspicious || (interval.count() > 0 && now - last_refresh >= interval)) {
        auto [ec] = co_await cluster->routed().async_refresh(detail::use_tuple);
        if (!ec) {
            ++refreshes;
            last_refresh = now;
        }
    }
}

// The partition's worker runs where its key lives (on a cluster: where the slot map says), or
// is stopped to go there.
asio::awaitable<void> partitioned_worker::state::place(std::size_t p) {
    auto& r = runs[p];
    client* on = single;
    std::string address;
    if (cluster) {
        auto const& map = cluster->routed().slots();
        auto const owner = map.master_of_key(r.key);
        if (!owner) {
            ++unassigned;
            co_return;
        }
        auto const& node = map.masters()[*owner];
        address = cluster::to_string(node);
        on = &cluster->node(node);
    }
    if (r.running() && r.node == address)
        co_return;
    if (r.w) {
        if (r.running()) { // here only when it must move
            if (!std::exchange(r.moving, true)) {
                log().log(log_level::info, fmt::format("partitioned worker {}: partition {} moved from {} to {}; "
                                                       "draining it there",
                                                       opts.group, r.key, r.node, address));
                r.w->stop(); // the next rounds find it done, then start it on the new owner
            }
            co_return;
        }
        // A run() that threw (NOPERM, WRONGTYPE...) is tried again with backoff, not every tick.
        auto const now = std::chrono::steady_clock::now();
        if (r.failure && !r.moving && !r.handing_over) {
            if (r.restart_at == std::chrono::steady_clock::time_point{}) {
                r.restart_delay = std::min(std::max(r.restart_delay * 2, std::chrono::milliseconds{500}),
                                           std::chrono::milliseconds{30000});
                r.restart_at = now + r.restart_delay;
            }
            if (now < r.restart_at)
                co_return;
        } else {
            r.restart_delay = std::chrono::milliseconds{0};
        }
        r.restart_at = {};
        if (r.node != address)
            ++moves;
        retire(r);
    }
    auto o = options_for(p);
    if (owned()) {
        o.identity = identity;
        if (r.take_pending) {
            // A partition just taken over: what its previous owner left pending is claimed for
            // this member's consumer, which reads it first. A page per round; the partition
            // starts only once all of it is claimed, so order holds (a failure is tried again).
            auto const consumer = fmt::format("{}.{}.0", opts.consumer_prefix, identity);
            auto err = co_await leases->take_pending(r.key, opts.group, consumer, r.pending_cursor);
            if (err) {
                if (!std::exchange(r.take_failing, true))
                    log().log(log_level::warn, fmt::format("partitioned worker {}: taking over the pending entries of "
                                                           "{} failed ({}); trying again before reading it",
                                                           opts.group, r.key, *err));
                co_return;
            }
            r.take_failing = false;
            if (r.pending_cursor != "0-0")
                co_return; // more pages next round
            r.take_pending = false;
            if (stopping || !r.held || !r.wanted)
                co_return;
        }
    }
    start(r, *on, std::move(o), std::move(address));
}

// The keys, and the runs: one reading every key (one server), or one per key (cluster).
std::shared_ptr<partitioned_worker::state> partitioned_worker::make_state(worker_options opts, std::size_t partitions,
                                                                         assignment_options a, bool per_partition) {
    if (!opts.streams.empty())
        throw std::invalid_argument("redstream::partitioned_worker: name the logical stream in `stream`, not `streams`");
    auto s = std::make_shared<state>();
    s->keys = cluster::partition_keys(opts.stream, partitions);
    if (a.mode == partition_assignment::owned) {
        if (opts.consumers != 1)
            throw std::invalid_argument("redstream::partitioned_worker: owned assignment reads each partition with one "
                                        "consumer (order); set consumers = 1, and use more partitions for more");
        if (a.lease_ttl < std::chrono::milliseconds{100})
            throw std::invalid_argument("redstream::partitioned_worker: lease_ttl must be at least 100 ms");
        s->identity = opts.identity.empty() ? detail::default_identity() : opts.identity;
        if (a.member.empty())
            a.member = fmt::format("{}.{}", opts.consumer_prefix, s->identity);
        per_partition = true; // a member reads some partitions: each has its own worker
    }
    s->opts = std::move(opts);
    s->assign = std::move(a);
    s->runs.resize(per_partition ? s->keys.size() : 1);
    for (std::size_t p = 0; p < s->runs.size(); ++p) {
        auto& r = s->runs[p];
        r.key = per_partition ? s->keys[p] : s->opts.stream;
        if (s->owned())
            r.lease_key = fmt::format("{}:lease:{}", r.key, s->opts.group);
    }
    return s;
}

partitioned_worker::partitioned_worker(client& c, worker_options opts, std::size_t partitions, assignment_options a)
    : state_(make_state(std::move(opts), partitions, std::move(a), false)) {
    state_->single = &c;
    if (state_->owned())
        state_->leases = std::make_unique<detail::partition_leases>(
            &c.connection(), nullptr, fmt::format("{}:members:{}", state_->opts.stream, state_->opts.group),
            state_->assign.member, state_->assign.lease_ttl);
}

partitioned_worker::partitioned_worker(cluster_client& c, worker_options opts, std::size_t partitions,
                                       assignment_options a)
    : state_(make_state(std::move(opts), partitions, std::move(a), true)) {
    // The marker keys get the partition's tag after the prefix: a tag of the prefix's own would win.
    if (state_->opts.idempotency.key_prefix.find_first_of("{}") != std::string::npos)
        throw std::invalid_argument("redstream::partitioned_worker: idempotency.key_prefix may not hold '{' or '}' on a "
                                    "cluster (the partition's hash tag follows it)");
    state_->cluster = &c;
    if (state_->owned())
        state_->leases = std::make_unique<detail::partition_leases>(
            nullptr, &c.routed(), fmt::format("{}:members:{}", state_->opts.stream, state_->opts.group),
            state_->assign.member, state_->assign.lease_ttl);
}

partitioned_worker::~partitioned_worker() { stop(); }

void partitioned_worker::on_message(handler h) { state_->on_message = std::move(h); }

std::vector<std::string> const& partitioned_worker::keys() const noexcept { return state_->keys; }

worker_options const& partitioned_worker::options() const noexcept { return state_->opts; }

assignment_options const& partitioned_worker::assignment() const noexcept { return state_->assign; }

std::vector<std::shared_ptr<worker>> partitioned_worker::worker_handles() const {
    std::vector<std::shared_ptr<worker>> out;
    for (auto const& r : state_->runs)
        if (r.running())
            out.push_back(r.w);
    return out;
}

std::vector<worker*> partitioned_worker::workers() const {
    std::vector<worker*> out;
    for (auto const& r : state_->runs)
        if (r.w)
            out.push_back(r.w.get());
    return out;
}

asio::awaitable<void> partitioned_worker::run() {
    auto s = state_;
    if (s->running)
        throw std::logic_error("redstream::partitioned_worker: run() is already running");
    s->running = true;
    s->wake = std::make_unique<asio::steady_timer>(co_await asio::this_coro::executor);
    std::exception_ptr failure;
    try {
        if (!s->on_message)
            throw std::logic_error("redstream::partitioned_worker: on_message() before run()");
        if (s->owned()) {
            co_await s->supervise_owned();
        } else if (s->single) {
            worker_options o = s->opts;
            o.stream.clear();
            o.streams = s->keys;
            s->start(s->runs[0], *s->single, std::move(o), {});
            while (!s->stopping && !*s->runs[0].done)
                co_await s->sleep(std::chrono::hours{24});
            failure = s->runs[0].failure; // one server: its worker's failure is ours
        } else {
            co_await s->supervise_cluster();
        }
    } catch (...) { // cancelled (a stop, as for worker::run()), or the cluster client closed
        failure = std::current_exception();
    }
    // Whatever ended it, the workers it started drain before run() completes.
    co_await asio::this_coro::reset_cancellation_state();
    s->stop_all();
    if (s->owned()) {
        co_await s->drain_owned(); // leases renewed while draining, then given back
    } else {
        while (!s->all_done())
            co_await s->sleep(std::chrono::hours{24});
    }
    s->running = false;
    s->stopping = false; // a later run() starts afresh, as worker::run() does
    if (failure)
        std::rethrow_exception(failure);
}

void partitioned_worker::stop() { state_->stop_all(); }

partitioned_worker_stats partitioned_worker::stats() const {
    partitioned_worker_stats out;
    out.moves = state_->moves;
    out.refreshes = state_->refreshes;
    out.unassigned = state_->unassigned;
    out.members = state_->members;
    out.leases_acquired = state_->leases_acquired;
    out.leases_released = state_->leases_released;
    out.leases_lost = state_->leases_lost;
    out.heartbeat_errors = state_->heartbeat_errors;
    for (auto const& r : state_->runs) {
        partition_stats p{r.key, r.node, r.retired, r.held};
        out.owned += r.held ? 1 : 0;
        if (r.w)
            add_into(p.stats, r.w->stats());
        add_into(out.total, p.stats);
        out.partitions.push_back(std::move(p));
    }
    return out;
}

} // namespace redstream
