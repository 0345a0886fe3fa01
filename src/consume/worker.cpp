#include "consume/worker_impl.hpp"
#include "consume/identity.hpp"

#include "io/client_internals.hpp"
#include "io/report_exception.hpp"
#include "io/use_tuple.hpp"
#include "protocol/stream_list.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/core.h>

#include <unistd.h>

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace redstream {

namespace detail {

std::string default_identity() {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0)
        std::snprintf(host, sizeof host, "host");
    return fmt::format("{}.{}", host, ::getpid());
}

using namespace asio::experimental::awaitable_operators;

asio::awaitable<bool> wake_signal::wait(milliseconds limit) {
    if (limit == milliseconds::max()) {
        co_await timer_.async_wait(use_tuple);
    } else {
        asio::steady_timer bound{timer_.get_executor()};
        bound.expires_after(limit);
        co_await (timer_.async_wait(use_tuple) || bound.async_wait(use_tuple));
    }
    auto cs = co_await asio::this_coro::cancellation_state;
    co_return cs.cancelled() == asio::cancellation_type::none;
}

asio::awaitable<bool> parking_signal::wait(milliseconds limit) {
    if (limit == milliseconds::max())
        timer_.expires_at(clock::time_point::max());
    else
        timer_.expires_after(limit);
    co_await timer_.async_wait(use_tuple);
    auto cs = co_await asio::this_coro::cancellation_state;
    co_return cs.cancelled() == asio::cancellation_type::none;
}

namespace {

// The default per-consumer bound leaves one consumer room for 8 reads of a batch (the whole
// pipeline one connection of the hiredis peer keeps) plus the batch in hand and the acks still
// travelling: 16 batches. The worker-wide depth (read_depth::deepest) may go beyond that with
// several consumers. A fixed number capped the
// depth at large batches (1,024 held one read of COUNT 1000); 8 batches held one consumer at 5
// or 6 reads in flight, the acks not yet confirmed taking the rest; at 12 the server still
// idled 4-5% of the time behind one consumer (99% busy at 16).
std::size_t per_consumer_bound(worker_options const& o) {
    if (o.max_in_flight_per_consumer > 0)
        return o.max_in_flight_per_consumer;
    constexpr std::size_t batches = 16; // 8 reads, the batch in hand, acks travelling
    return o.batch > std::numeric_limits<std::size_t>::max() / batches ? o.batch : batches * o.batch;
}

} // namespace

worker_impl::worker_impl(client& c, worker_options opts)
    : client_(c), conn_(c.connection()), opts_(std::move(opts)),
      flow_({opts_.batch, opts_.max_in_flight, per_consumer_bound(opts_)}), hand_(opts_.min_idle),
      acks_({opts_.ack_batch, opts_.ack_flush_interval}), ack_timer_(c.get_executor()) {
    streams_ = stream_list(opts_.stream, opts_.streams);
    if (streams_.empty())
        throw std::invalid_argument("redstream::worker: worker_options needs a stream (or streams)");
    if (opts_.group.empty())
        throw std::invalid_argument("redstream::worker: worker_options needs a group");
    if (opts_.batch == 0 || opts_.max_in_flight == 0)
        throw std::invalid_argument("redstream::worker: batch and max_in_flight must be positive");
    for (auto const& s : streams_) {
        dlq_streams_.push_back(opts_.dead_letter_stream.empty() ? s + ":dlq" : opts_.dead_letter_stream);
        new_ids_.emplace_back(">");
    }
    identity_ = opts_.identity.empty() ? default_identity() : opts_.identity;
    auto ex = c.get_executor();
    stop_signal_ = std::make_unique<wake_signal>(ex);
    tasks_signal_ = std::make_unique<wake_signal>(ex);
    acks_signal_ = std::make_unique<wake_signal>(ex);
    if (opts_.claim_interval.count() <= 0)
        opts_.claim_interval = std::clamp(opts_.min_idle / 2, milliseconds{50}, milliseconds{30000});
}

std::string worker_impl::consumer_name(std::size_t index) const {
    return fmt::format("{}.{}.{}", opts_.consumer_prefix, identity_, index);
}

asio::awaitable<void> worker_impl::ensure_groups() {
    request r{request::options{opts_.drain_timeout}}; // wait for the first connect
    for (auto const& s : streams_)
        r.push("XGROUP", "CREATE", s, opts_.group, opts_.start_id, "MKSTREAM");
    std::vector<result<std::string>> replies;
    co_await conn_.async_exec(r, adapt_each(replies), asio::use_awaitable);
    for (std::size_t i = 0; i < replies.size(); ++i) {
        if (replies[i].has_value() || replies[i].error_code() == server_errc::busygroup)
            continue;
        // XGROUP CREATE is refused under maxmemory (OOM) even when the group exists, and an
        // ACL user may lack XGROUP: a group that is there already is all a consumer needs.
        if (co_await group_exists(streams_[i])) {
            client_.get_logger().log(log_level::warn,
                                     fmt::format("worker {}: XGROUP CREATE on '{}' failed ({}); the group exists, going on",
                                                 opts_.group, streams_[i], replies[i].error().message));
            continue;
        }
        throw boost::system::system_error(
            replies[i].error_code(),
            fmt::format("cannot create group '{}' on stream '{}': {}", opts_.group, streams_[i], replies[i].error().message));
    }
}

asio::awaitable<bool> worker_impl::prepare() {
    exponential_backoff backoff{milliseconds{100}, milliseconds{2000}};
    while (!life_.stop_requested()) {
        std::string failure;
        try {
            if (opts_.create_group)
                co_await ensure_groups();
            co_await choose_wakeup();
            co_return true;
        } catch (boost::system::system_error const& e) {
            // Wrong type, missing rights, a refused password: no point waiting for those.
            if (!is_transient_error(e.code()))
                throw;
            failure = e.what();
        }
        client_.get_logger().log(log_level::warn, fmt::format("worker {}: cannot start yet ({}); retrying in {} ms",
                                                              opts_.group, failure, backoff.next().count()));
        co_await stop_signal_->wait(backoff.last());
    }
    co_return false;
}

asio::awaitable<bool> worker_impl::group_exists(std::string const& stream) {
    request r;
    r.push("XINFO", "GROUPS", stream);
    result<std::vector<group_info>> groups;
    auto [ec, n] = co_await conn_.async_exec(r, adapt(groups), use_tuple);
    if (ec || !groups.has_value())
        co_return false;
    co_return std::any_of(groups->begin(), groups->end(), [&](group_info const& g) { return g.name == opts_.group; });
}

void worker_impl::open_wake_connection() {
    // Same server and credentials as the client; its own name so CLIENT LIST tells them apart.
    auto cfg = conn_.get_config();
    cfg.client_name = cfg.client_name.empty() ? std::string{"redstream-wake"} : cfg.client_name + "-wake";
    wake_conn_ = std::make_unique<connection>(client_.get_executor(), std::move(cfg), client_.get_logger());
    wake_conn_->async_run([&log = client_.get_logger(), group = opts_.group](error_code ec) {
        if (ec && ec != errc::closed)
            log.log(log_level::error, fmt::format("worker {}: wake-up connection stopped: {}", group, ec.message()));
    });
    // A read lost with this connection may have delivered entries: re-read own pending lists.
    wake_conn_->on_connected([w = weak_from_this()](std::uint64_t n) {
        if (auto self = w.lock(); self && n > 1) {
            ++self->reconnect_generation_;
            self->wake_all();
        }
    });
}

// Subscribes to every stream's `xadd` events. On a failure the listeners already added are
// removed again, so the worker never reports keyspace wake-ups it does not get. Transient
// failures propagate (prepare() retries); a refusal (NOPERM on the channel) returns false.
asio::awaitable<bool> worker_impl::subscribe_keyspace() {
    // A named std::function, not a lambda temporary inside the co_await expression:
    // GCC 12 may destroy such temporaries twice.
    std::function<void()> on_xadd = [w = weak_from_this()] {
        if (auto self = w.lock())
            self->wake_one();
    };
    error_code failed;
    std::string why;
    for (auto const& s : streams_) {
        try {
            keyspace_listeners_.push_back(co_await client_internals::add_keyspace_listener(client_, s, on_xadd));
        } catch (boost::system::system_error const& e) {
            failed = e.code();
            why = e.what();
            break;
        }
    }
    if (!failed)
        co_return true;
    for (auto id : keyspace_listeners_)
        client_internals::remove_keyspace_listener(client_, id);
    keyspace_listeners_.clear();
    if (is_transient_error(failed))
        throw boost::system::system_error(failed, why);
    client_.get_logger().log(log_level::warn,
                             fmt::format("worker {}: cannot subscribe to keyspace events ({}); not using them",
                                         opts_.group, why));
    co_return false;
}

asio::awaitable<void> worker_impl::choose_wakeup() {
    bool keyspace = false;
    if (opts_.wakeup == wakeup_mode::automatic || opts_.wakeup == wakeup_mode::keyspace)
        keyspace = co_await client_internals::keyspace_events_enabled(client_, opts_.configure_keyspace_events) &&
                   co_await subscribe_keyspace();
    if (opts_.wakeup == wakeup_mode::keyspace && !keyspace)
        throw std::runtime_error("redstream::worker: wakeup_mode::keyspace needs RESP3, notify-keyspace-events "
                                 "with K and t (or set configure_keyspace_events) and the right to subscribe");
    block_mode_ = !keyspace;
    stats_.wakeup = keyspace ? wakeup_mode::keyspace : wakeup_mode::block_slice;
    // Without keyspace events the default is the wake-up connection, not block_slice: a BLOCK
    // on the shared connection delays every command behind it (an application's publish by up
    // to block_slice). block_slice costs no connection, so it stays for those who ask for it.
    if (opts_.wakeup == wakeup_mode::dedicated || (opts_.wakeup == wakeup_mode::automatic && !keyspace)) {
        open_wake_connection();
        stats_.wakeup = wakeup_mode::dedicated;
    }
    // Notifications are fire-and-forget: after a reconnect everyone re-reads (own pending
    // list first, since reads lost with the connection may have delivered entries).
    reconnect_listener_ = client_internals::add_reconnect_listener(client_, [w = weak_from_this()] {
        if (auto self = w.lock()) {
            ++self->reconnect_generation_;
            self->wake_all();
        }
    });
}

namespace {

// Cancellation at the drain deadline is how tasks are meant to end: not worth a line.
bool is_cancellation(std::exception_ptr e) {
    try {
        std::rethrow_exception(e);
    } catch (boost::system::system_error const& x) {
        return x.code() == asio::error::operation_aborted;
    } catch (...) {
        return false;
    }
}

} // namespace

// Every coroutine the worker starts goes through here: its failure is logged, never thrown
// into io_context::run(), and its consumer state lives until it has finished.
void worker_impl::spawn_task(asio::awaitable<void> task, std::shared_ptr<consumer_state> c) {
    ++tasks_;
    auto slot = c->cancel.slot();
    auto done = [self = shared_from_this(), c = std::move(c)](std::exception_ptr e) {
        if (e && !is_cancellation(e))
            report_exception(self->client_.get_logger(), log_level::error, e, "worker {}: task failed", self->opts_.group);
        bool const died = e && c->role == consumer_role::reader && !c->stopping();
        if (c->role == consumer_role::reader && !c->life.retiring())
            --self->running_consumers_;
        c->life.finish();
        self->give_back_block(*c); // when it ended by an exception, holding the hand-over
        // What it still holds stays pending on the server: its own re-read, a claim or the
        // next start hands it out again.
        self->release_held_by(c->index);
        self->flow_.forget(c->index);
        --self->tasks_;
        self->tasks_signal_->notify_all();
        self->stop_signal_->notify_all(); // run() reaps retired consumers
        if (died && self->life_.takes_consumers())
            self->respawn_later(c->index);
    };
    asio::co_spawn(client_.get_executor(), std::move(task), asio::bind_cancellation_slot(slot, std::move(done)));
}

std::shared_ptr<consumer_state> worker_impl::make_state(consumer_role role, std::size_t index, std::string name) {
    auto c = std::make_shared<consumer_state>();
    c->role = role;
    c->index = index;
    c->name = std::move(name);
    c->wake = std::make_unique<parking_signal>(client_.get_executor());
    return c;
}

// The claim, retry and keeper loops, each under its own name and holder id.
void worker_impl::start_roles() {
    claimer_ = std::make_unique<claimer>(
        *this, make_state(consumer_role::claimer, claimer_id, fmt::format("{}.{}.claim", opts_.consumer_prefix, identity_)));
    spawn_task(claimer_->run(), claimer_->state_ptr());
    retrier_ = std::make_unique<retrier>(
        *this, make_state(consumer_role::retrier, retrier_id, fmt::format("{}.{}.retry", opts_.consumer_prefix, identity_)));
    spawn_task(retrier_->run(), retrier_->state_ptr());
    keeper_ = std::make_unique<keeper>(*this, make_state(consumer_role::keeper, keeper_id, {}));
    spawn_task(keeper_->run(), keeper_->state_ptr());
}

void worker_impl::spawn_consumer(std::size_t index) {
    auto c = make_state(consumer_role::reader, index, consumer_name(index));
    consumers_.emplace(index, c);
    ++running_consumers_;
    spawn_task(consumer_main(c), c);
}

// A consumer ended by something it could not contain (a throwing logger, say) is started again
// after a pause, so a fault that repeats at once cannot turn into a busy loop.
void worker_impl::respawn_later(std::size_t index) {
    consumers_.erase(index);
    auto timer = std::make_shared<asio::steady_timer>(client_.get_executor(), milliseconds{1000});
    timer->async_wait([timer, index, w = weak_from_this()](error_code) {
        if (auto self = w.lock(); self && self->life_.takes_consumers() && !self->consumers_.count(index))
            self->spawn_consumer(index);
    });
}

consumer_state* worker_impl::state_of(holder_id index) {
    if (index == claimer_id)
        return claimer_ ? &claimer_->state() : nullptr;
    if (index == retrier_id)
        return retrier_ ? &retrier_->state() : nullptr;
    auto it = consumers_.find(index);
    return it == consumers_.end() ? nullptr : it->second.get();
}

void worker_impl::add_consumer() {
    if (!life_.takes_consumers())
        return;
    if (life_.current() == worker_lifecycle::phase::starting) {
        ++consumers_added_while_starting_;
        return;
    }
    std::size_t index = 0;
    while (consumers_.count(index))
        ++index;
    spawn_consumer(index);
}

void worker_impl::remove_consumer() {
    if (life_.current() == worker_lifecycle::phase::starting) {
        --consumers_added_while_starting_;
        return;
    }
    for (auto it = consumers_.rbegin(); it != consumers_.rend(); ++it) {
        if (!it->second->stopping()) {
            it->second->life.retire();
            --running_consumers_;
            it->second->wake->notify_all();
            return;
        }
    }
}

void worker_impl::set_handler(worker::handler h) {
    // The consumers call the handler by reference while they run: replacing it would destroy
    // a function (and its captures) that a handler call may still be executing.
    if (life_.running())
        throw std::logic_error("redstream::worker: on_message() while the worker runs; set the handler before run()");
    handler_ = std::move(h);
}

asio::awaitable<void> worker_impl::run() {
    if (!handler_ && !life_.running())
        throw std::logic_error("redstream::worker: set a handler with on_message() before run()");
    life_.begin_run();
    auto self = shared_from_this();
    bool started = false;
    try {
        started = co_await prepare(); // false when stop() came first (even before run())
    } catch (...) {
        life_.finished();
        throw;
    }
    if (started) {
        life_.started();
        auto const initial = std::max<std::ptrdiff_t>(
            0, static_cast<std::ptrdiff_t>(opts_.consumers) + consumers_added_while_starting_);
        consumers_added_while_starting_ = 0;
        for (std::size_t i = 0; i < static_cast<std::size_t>(initial); ++i)
            spawn_consumer(i);
        start_roles();
        // Cancelling run() (a `run() || timeout` race, a cancellation slot) means stop: the
        // consumers must still drain, flush their acks and end, or they would go on reading
        // with nobody to stop them. The drain runs with a fresh cancellation state, then run()
        // reports the cancellation as Asio operations do.
        bool cancelled = false;
        try {
            co_await supervise();
        } catch (boost::system::system_error const& e) {
            if (e.code() != asio::error::operation_aborted)
                throw;
            cancelled = true;
        }
        if (cancelled) {
            co_await asio::this_coro::reset_cancellation_state();
            stop();
        }
        co_await shutdown();
        if (cancelled) {
            finish_run();
            throw boost::system::system_error{asio::error::operation_aborted, "redstream::worker::run cancelled"};
        }
    }
    finish_run();
}

// Whatever is left (acks that could not be sent) stays pending on the server; a next run()
// starts with empty hands.
void worker_impl::finish_run() {
    hand_.clear();
    flow_.reset();
    block_handed_over_ = false;
    consumers_added_while_starting_ = 0;
    life_.finished();
}

// Until stop(): reaps consumers retired by remove_consumer() and deletes them from the group
// once their pending lists are empty (a failed message may keep one there until it is claimed).
asio::awaitable<void> worker_impl::supervise() {
    while (!life_.stop_requested()) {
        co_await stop_signal_->wait(retired_names_.empty() ? milliseconds::max() : opts_.claim_interval);
        for (auto it = consumers_.begin(); it != consumers_.end();) {
            if (it->second->life.done()) {
                retired_names_.push_back(it->second->name);
                it = consumers_.erase(it);
            } else {
                ++it;
            }
        }
        if (!retired_names_.empty() && !life_.stop_requested()) {
            co_await wait_acks_drained(opts_.drain_timeout);
            co_await delete_retired_consumers();
        }
    }
}

asio::awaitable<void> worker_impl::delete_retired_consumers() {
    if (!opts_.delete_consumers_on_stop) {
        retired_names_.clear();
        co_return;
    }
    std::vector<std::string> still_there;
    for (auto const& n : std::vector(retired_names_)) {
        bool const reused = std::any_of(consumers_.begin(), consumers_.end(),
                                        [&](auto const& kv) { return !kv.second->life.done() && kv.second->name == n; });
        if (!reused && !co_await delete_idle_consumer(n)) // a new consumer took the name: keep it
            still_there.push_back(n);
    }
    retired_names_ = std::move(still_there);
}

void worker_impl::stop() {
    life_.request_stop();
    stop_signal_->notify_all();
}

std::size_t worker_impl::busy_tasks() const {
    return tasks_ - (keeper_ && !keeper_->state().stopping() ? 1 : 0);
}

asio::awaitable<void> worker_impl::wait_tasks(milliseconds limit) {
    auto const end = clock::now() + limit;
    while (busy_tasks() > 0 && clock::now() < end)
        co_await tasks_signal_->wait(std::chrono::duration_cast<milliseconds>(end - clock::now()) + milliseconds{1});
}

// After the drain deadline's cancellation: a handler inside an operation that ignores
// cancellation still runs, and its consumer state, batch and client with it. run() returns
// only once every coroutine it started has finished.
asio::awaitable<void> worker_impl::wait_all_tasks() {
    while (busy_tasks() > 0) {
        co_await wait_tasks(opts_.drain_timeout);
        if (busy_tasks() > 0)
            client_.get_logger().log(log_level::warn,
                                     fmt::format("worker {}: still waiting for {} task(s) that ignore cancellation",
                                                 opts_.group, tasks_));
    }
}

asio::awaitable<void> worker_impl::shutdown() {
    auto& log = client_.get_logger();
    life_.begin_drain();
    for (auto& [i, c] : consumers_)
        c->life.stop();
    for (auto* c : {&claimer_->state(), &retrier_->state()}) {
        c->life.stop();
        c->wake->notify_all();
    }
    wake_all();
    // A BLOCK on the wake-up connection would hold the drain for up to dedicated_block;
    // closing fails it at once (entries it may already have delivered stay pending: the next
    // start of this consumer name, or the claim loop elsewhere, handles them).
    if (wake_conn_)
        wake_conn_->close();

    co_await wait_tasks(opts_.drain_timeout);
    if (busy_tasks() > 0) {
        log.log(log_level::warn, fmt::format("worker {}: {} handler(s) still running after the {} ms drain timeout; "
                                             "cancelling them, their messages stay pending",
                                             opts_.group, busy_tasks(), opts_.drain_timeout.count()));
        for (auto& [i, c] : consumers_)
            if (!c->life.done())
                c->cancel.emit(asio::cancellation_type::terminal);
        for (auto* c : {&claimer_->state(), &retrier_->state()})
            if (!c->life.done())
                c->cancel.emit(asio::cancellation_type::terminal);
        co_await wait_all_tasks();
    }
    // Every ack of a handled message reaches the server before we say we stopped.
    co_await wait_acks_drained(opts_.drain_timeout);
    if (acks_outstanding() > 0)
        log.log(log_level::warn, fmt::format("worker {}: {} ack(s) could not be sent; those messages will be redelivered",
                                             opts_.group, acks_outstanding()));
    // The keeper kept waiting messages from looking idle through the drain; now nothing waits.
    keeper_->state().life.stop();
    keeper_->state().wake->notify_all();
    co_await wait_all_tasks();
    for (auto const& [i, c] : consumers_)
        retired_names_.push_back(c->name);
    retired_names_.push_back(claimer_->state().name);
    retired_names_.push_back(retrier_->state().name);
    co_await delete_retired_consumers();
    consumers_.clear();
    retired_names_.clear();
    if (wake_conn_)
        wake_conn_->close();
    for (auto id : keyspace_listeners_)
        client_internals::remove_keyspace_listener(client_, id);
    keyspace_listeners_.clear();
    if (reconnect_listener_)
        client_internals::remove_reconnect_listener(client_, *reconnect_listener_);
    reconnect_listener_.reset();
}

// Deletes a consumer only if its pending list is empty, atomically (a script), so no pending
// message ever loses its owner.
asio::awaitable<bool> worker_impl::delete_idle_consumer(std::string const& name) {
    static constexpr std::string_view script = R"lua(
local deleted = 0
for i, key in ipairs(KEYS) do
  local p = redis.call('XPENDING', key, ARGV[1], '-', '+', 1, ARGV[2])
  if #p > 0 then return 0 end
end
for i, key in ipairs(KEYS) do
  deleted = deleted + redis.call('XGROUP', 'DELCONSUMER', key, ARGV[1], ARGV[2])
end
return 1
)lua";
    request r;
    r.push("EVAL", script, streams_.size(), streams_, opts_.group, name);
    result<std::int64_t> out;
    auto [ec, n] = co_await conn_.async_exec(r, adapt(out), use_tuple);
    if (ec || !out.has_value()) {
        client_.get_logger().log(log_level::debug, fmt::format("worker {}: could not delete consumer {}: {}", opts_.group,
                                                               name, ec ? ec.message() : out.error().message));
        co_return false;
    }
    co_return *out == 1;
}

} // namespace detail

worker::worker(client& c, worker_options opts) : impl_(std::make_shared<detail::worker_impl>(c, std::move(opts))) {}
worker::~worker() { impl_->stop(); }
void worker::on_message(handler h) { impl_->set_handler(std::move(h)); }
namespace {

// Owns the state from the call on: a coroutine body only starts when first resumed, and the
// worker may be gone by then.
boost::asio::awaitable<void> run_owned(std::shared_ptr<detail::worker_impl> impl) { co_await impl->run(); }

} // namespace

boost::asio::awaitable<void> worker::run() { return run_owned(impl_); }
void worker::stop() { impl_->stop(); }
void worker::add_consumer() { impl_->add_consumer(); }
void worker::remove_consumer() { impl_->remove_consumer(); }
worker_options const& worker::options() const noexcept { return impl_->opts_; }
client& worker::get_client() const noexcept { return impl_->client_; }
bool worker::running() const noexcept { return impl_->life_.running(); }
bool worker::consumers_started() const noexcept {
    return impl_->life_.current() == detail::worker_lifecycle::phase::running;
}

std::vector<std::string> worker::consumer_names() const {
    std::vector<std::string> names;
    for (auto const& [i, c] : impl_->consumers_)
        if (!c->life.done())
            names.push_back(c->name);
    return names;
}

} // namespace redstream
