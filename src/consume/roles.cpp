#include "consume/roles.hpp"

#include "consume/worker_impl.hpp"

#include "io/use_tuple.hpp"

#include <fmt/format.h>

namespace redstream::detail {

asio::awaitable<void> redrain_guard::operator()(worker_impl& w, consumer_state& c) {
    if (drained_at_ == w.reconnect_generation_)
        co_return;
    auto const generation = w.reconnect_generation_;
    if (!co_await w.drain_own_pending(c))
        drained_at_ = generation;
}

asio::awaitable<void> claimer::run() {
    auto self = w_.shared_from_this();
    consumer_state& c = *state_;
    redrain_guard redrain;
    while (!c.stopping()) {
        co_await redrain(w_, c);
        for (std::size_t si = 0; si < w_.streams_.size() && !c.stopping(); ++si)
            co_await scan(si);
        // stop() may have come while a scan travelled: its notify is spent, and a wait now
        // would hold the drain for claim_interval (up to 30 s).
        if (!c.stopping())
            co_await c.wake->wait(w_.opts_.claim_interval);
    }
}

// Candidates come from XPENDING's IDLE filter, and XCLAIM with the same min_idle takes them, so
// of two claimers racing for an id only the first gets it. Not XAUTOCLAIM: Redis 7.0 looks each
// scanned PEL entry up in the stream before it tests the idle time, about 5 us per pending entry
// and call (1,000 entries per call at COUNT 100), which made the claim scans of a worker with a
// deep read pipeline cost the server more than its reads; XPENDING's filter costs about 0.1 us
// per entry. XCLAIM drops ids deleted from the stream (7.0 also removes them from the PEL).
// Delivery counts come from XPENDING for exactly the claimed ids (XCLAIM has counted this
// delivery already); an id that is no longer ours, or that this process holds, is not handled.
asio::awaitable<void> claimer::scan(std::size_t si) {
    consumer_state& c = *state_;
    auto const& opts = w_.opts_;
    std::string start = "-";
    for (;;) {
        request find;
        find.push("XPENDING", w_.streams_[si], opts.group, "IDLE", opts.min_idle, start, "+", opts.claim_batch);
        std::vector<pending_entry> idle;
        auto [find_ec, found] = co_await w_.conn_.async_exec(find, adapt(idle), use_tuple);
        if (find_ec) {
            report_failure("XPENDING", find_ec);
            co_return;
        }
        if (idle.empty() || c.stopping())
            break;
        start = fmt::format("({}", idle.back().id.to_string()); // fmt: GCC 12 -O3 warns on "(" + s
        // What this process holds is left to its handler: claiming it here would hand nothing
        // over, yet count a delivery and reset the idle time other processes' claims rely on.
        std::vector<stream_id> ids;
        ids.reserve(idle.size());
        for (auto const& p : idle)
            if (w_.hand_.find(si, p.id) == nullptr)
                ids.push_back(p.id);
        if (ids.empty()) {
            if (idle.size() < opts.claim_batch)
                break;
            continue;
        }
        request take;
        take.push("XCLAIM", w_.streams_[si], opts.group, c.name, opts.min_idle, ids);
        entry_batch batch;
        auto [take_ec, taken] = co_await w_.conn_.async_exec(take, adapt(batch), use_tuple);
        if (take_ec) {
            report_failure("XCLAIM", take_ec);
            co_return;
        }
        // Redis 6.2 answers a deleted entry with nil and moves it to our pending list; re-reading
        // that list (as at start) acks it there. 7.0 drops such ids from the PEL itself.
        bool const deleted_on_62 = batch.nil_entries() > 0;
        batch.set_stream(w_.streams_[si]);
        w_.touch_held(si, batch);
        if (!batch.empty()) {
            auto plan = co_await w_.exact_deliveries(si, c.name, batch);
            if (std::size_t const fresh = w_.take_fresh(c, si, batch, plan); fresh > 0) {
                w_.stats_.claimed += fresh;
                w_.client_.get_logger().log(log_level::info,
                                            fmt::format("worker {}: claimed {} idle message(s) on {}", opts.group,
                                                        fresh, w_.streams_[si]));
                co_await w_.handle_entries(c, batch, plan);
            }
        }
        if (deleted_on_62 && !c.stopping())
            co_await w_.drain_own_pending(c);
        if (idle.size() < opts.claim_batch || c.stopping())
            break;
    }
    failure_reported_ = false;
}

// Once per run of failures: a claim loop that never claims (NOPERM, a server before 6.2 that
// refuses IDLE) must not be silent, nor flood the log every claim_interval.
void claimer::report_failure(std::string_view command, error_code ec) {
    if (failure_reported_ || ec == errc::closed)
        return;
    failure_reported_ = true;
    w_.client_.get_logger().log(log_level::warn, fmt::format("worker {}: claim scan failed ({}): {}; retrying every "
                                                             "claim_interval",
                                                             w_.opts_.group, command, ec.message()));
}

retrier::retrier(worker_impl& w, std::shared_ptr<consumer_state> state) : w_(w), state_(std::move(state)) {}

bool retrier::schedule(std::size_t stream, stream_id id, milliseconds delay) {
    if (due_.size() >= w_.opts_.max_in_flight) {
        // Once per overflow, not once per message: an overload must not flood the log too.
        if (!overflow_reported_)
            w_.client_.get_logger().log(
                log_level::warn, fmt::format("worker {}: {} retries already wait; more retry_after() messages are "
                                             "redelivered by the claim loop after min_idle",
                                             w_.opts_.group, w_.opts_.max_in_flight));
        overflow_reported_ = true;
        return false;
    }
    overflow_reported_ = false;
    due_.push({clock::now() + delay, stream, id, delay / 2});
    wake();
    return true;
}

void retrier::wake() { state_->wake->notify_all(); }

asio::awaitable<void> retrier::run() {
    auto self = w_.shared_from_this();
    consumer_state& c = *state_;
    redrain_guard redrain;
    while (!c.stopping()) {
        co_await redrain(w_, c);
        if (c.stopping())
            break;
        if (due_.empty()) {
            co_await c.wake->wait(milliseconds{1000});
            continue;
        }
        auto const due = due_.top().due;
        if (auto const now = clock::now(); due > now) {
            co_await c.wake->wait(std::chrono::duration_cast<milliseconds>(due - now) + milliseconds{1});
            continue;
        }
        auto item = due_.top();
        due_.pop();
        co_await redeliver(item);
    }
}

// XCLAIM moves the message to the retry consumer only if idle at least half its delay, so a
// message another process took meanwhile is left alone.
asio::awaitable<void> retrier::redeliver(retry_item item) {
    consumer_state& c = *state_;
    request r;
    r.push("XCLAIM", w_.streams_[item.stream], w_.opts_.group, c.name, item.min_idle, item.id);
    entry_batch claimed;
    auto [ec, n] = co_await w_.conn_.async_exec(r, adapt(claimed), use_tuple);
    if (ec || claimed.empty())
        co_return; // gone, acked or taken by someone else: nothing to redeliver
    claimed.set_stream(w_.streams_[item.stream]);
    w_.touch_held(item.stream, claimed);
    auto plan = co_await w_.exact_deliveries(item.stream, c.name, claimed);
    if (w_.take_fresh(c, item.stream, claimed, plan) > 0)
        co_await w_.handle_entries(c, claimed, plan);
}

asio::awaitable<void> keeper::run() {
    auto self = w_.shared_from_this();
    consumer_state& c = *state_;
    while (!c.stopping()) {
        co_await c.wake->wait(w_.hand_.refresh_period());
        if (!c.stopping())
            co_await w_.refresh_waiting_entries();
    }
}

} // namespace redstream::detail
