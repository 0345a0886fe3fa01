#include <redstream/io/connection.hpp>
#include <redstream/protocol/stream_readers.hpp>
#include <redstream/resp/error.hpp>

#include "io/connection_impl.hpp"
#include "io/connection_internals.hpp"
#include "io/report_exception.hpp"
#include "io/use_tuple.hpp"

#include <boost/asio/append.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <utility>

namespace redstream {

namespace detail {

using namespace asio::experimental::awaitable_operators;

namespace {

template <class... Fs>
struct overloaded : Fs... {
    using Fs::operator()...;
};
template <class... Fs>
overloaded(Fs...) -> overloaded<Fs...>;

bool is_auth_error(error_code const& ec) noexcept {
    return ec == server_errc::wrongpass || ec == server_errc::noauth || ec == server_errc::noperm;
}

// The fields of HELLO's reply we keep.
struct hello_reply {
    std::string version;
    std::int64_t proto = 0;
};

} // namespace

} // namespace detail

template <>
struct reader<detail::hello_reply> final : detail::object_reader {
    void start(detail::hello_reply& out) noexcept {
        out_ = &out;
        start_object();
    }
    using detail::object_reader::feed;

private:
    void on_scalar(std::string_view key, resp::node const& n, error_code& ec) override {
        if (key == "version") {
            reader<std::string> r;
            r.start(out_->version);
            r.feed(n, ec);
        } else if (key == "proto") {
            reader<std::int64_t> r;
            r.start(out_->proto);
            r.feed(n, ec);
        }
    }
    detail::hello_reply* out_ = nullptr;
};

namespace detail {

connection_impl::connection_impl(asio::any_io_executor ex, config cfg, logger log)
    : ex_(ex), cfg_(std::move(cfg)), log_(std::move(log)), mpx_(cfg_.limits, cfg_.max_write_batch),
      pushes_(ex, cfg_.push_queue_capacity), writer_wakeup_(ex), backoff_timer_(ex), expiry_timer_(ex),
      rng_(std::random_device{}()) {
    backoff_ = cfg_.reconnect.initial_delay;
}

// From inside the reader's inline delivery the write is left to the reader, right after it:
// waking the writer coroutine would cost a scheduler pass and a reactor poll before the bytes
// leave, on the path from a reply to the next request (a consumer's [XACK, XREADGROUP BLOCK]).
void connection_impl::wake_writer() {
    if (delivering_inline_) {
        write_wanted_ = true;
        return;
    }
    writer_wakeup_.cancel();
}

// What the requests queued during an inline delivery need: written by the reader itself with
// one non-blocking write when the writer is idle; whatever the socket does not take (or all of
// it, for TLS or while the writer is busy) is the writer's.
void connection_impl::write_after_delivery() {
    if (!std::exchange(write_wanted_, false))
        return;
    if (!writing_ && transport_) {
        (void)mpx_.prepare_write(handshaking_);
        auto const pending = mpx_.write_buffer();
        if (pending.empty())
            return;
        mpx_.commit_written(transport_->try_write_some(asio::buffer(pending)));
        if (mpx_.write_buffer().empty())
            return;
    }
    writer_wakeup_.cancel();
}

void connection_impl::exec(request const& req, any_adapter adapter, exec_handler h, bool priority,
                           bool complete_inline) {
    error_code ec;
    bool const subscribing = !req.subscriptions().empty();
    if (closed_)
        ec = errc::closed;
    else if (subscribing && req.expected_replies() > 0)
        ec = errc::mixed_subscription;
    else if (subscribing && protocol_ == 2)
        ec = errc::resp2_no_pushes;
    else if (!priority && ever_connected_ && state_ != connection_state::connected &&
             req.get_options().wait_for_connection.count() <= 0)
        ec = errc::not_connected;
    if (ec || req.commands() == 0) {
        asio::post(ex_, asio::append(std::move(h), ec, std::size_t{0}));
        return;
    }

    bool const must_wait = ever_connected_ && state_ != connection_state::connected && !priority;
    auto slot = asio::get_associated_cancellation_slot(h);
    entry_id const id = mpx_.add(req, std::move(adapter), priority);
    execs_.emplace(id, waiting_exec{std::move(h), complete_inline});
    if (slot.is_connected()) {
        slot.assign([self = weak_from_this(), id](asio::cancellation_type type) {
            using ct = asio::cancellation_type;
            // `total` promises no side effect: impossible once the command is on the wire.
            auto const mode = (type & (ct::terminal | ct::partial)) != ct::none ? cancel_mode::abandon_written
                                                                                 : cancel_mode::waiting_only;
            // Completing the request clears this slot, which destroys this lambda: nothing of it
            // may be touched once cancel() has started.
            if (auto s = self.lock())
                s->cancel(id, mode);
        });
    }
    if (must_wait)
        arm_wait_expiry(std::chrono::steady_clock::now() + req.get_options().wait_for_connection);
    wake_writer();
}

void connection_impl::cancel(entry_id id, cancel_mode mode) {
    mpx_.cancel(id, mode, actions_);
    perform_actions();
}

// Does what the multiplexer asked for, in its order. Only the reader's delivery resumes callers
// inline, and only those that asked for it (connection_internals). A log sink or such a caller
// is user code and may exec, cancel or close, which adds actions while we run: they are
// appended to actions_ and this loop reaches them in turn (the flag keeps a nested call from
// running them out of order).
void connection_impl::perform_actions(delivery how) {
    if (performing_)
        return;
    performing_ = true;
    auto const perform = overloaded{
        [this, how](completed& a) { resume(a.id, a.ec, a.replies, how); },
        // The multiplexer names no Asio error; callers have always seen this one for a cancel.
        [this](cancelled& a) { resume(a.id, asio::error::operation_aborted, a.replies, delivery::posted); },
        [this](pushed& a) {
            if (!pushes_.try_send(error_code{}, std::move(a.message)))
                ++pushes_dropped_;
        },
        [this](adapter_failed& a) {
            report_exception(log_, log_level::error, a.error,
                             "redis {}: a reply adapter threw; its request fails with adapter_failed, "
                             "the connection goes on",
                             cfg_.redacted_address());
        },
    };
    std::size_t done = 0;
    try {
        for (; done < actions_.size(); ++done) {
            auto a = std::move(actions_[done]); // performing it may grow (and move) actions_
            std::visit(perform, a);
        }
    } catch (...) { // bad_alloc from post(): keep what is left for the next call
        actions_.erase(actions_.begin(), actions_.begin() + static_cast<std::ptrdiff_t>(done + 1));
        performing_ = false;
        throw;
    }
    actions_.clear();
    performing_ = false;
}

void connection_impl::resume(entry_id id, error_code ec, std::size_t replies, delivery how) {
    auto node = execs_.extract(id);
    if (node.empty())
        return;
    exec_handler h{std::move(node.mapped().handler)};
    // Only a reply the reader has just parsed: an error (an adapter's, or the closed that a
    // close() from an inline handler queues behind it) is posted like any other.
    bool const now = how == delivery::inline_allowed && !ec && node.mapped().complete_inline;
    auto slot = asio::get_associated_cancellation_slot(h);
    if (slot.is_connected())
        slot.clear();
    if (!now) {
        // The caller may be inside its own initiation or cancellation: complete later.
        // post() runs the handler through its associated executor and keeps work counted.
        asio::post(ex_, asio::append(std::move(h), ec, replies));
        return;
    }
    // Straight from the reader: the reply reaches its consumer before the reader's next
    // (usually empty) read and before the scheduler polls the reactor again. What the handler
    // throws is not the reader's failure: it leaves io_context::run(), as a posted one would.
    try {
        std::move(h)(ec, replies);
    } catch (...) {
        asio::post(ex_, [ep = std::current_exception()] { std::rethrow_exception(ep); });
    }
}

// One timer serves every request waiting for the connection to come back.
void connection_impl::arm_wait_expiry(steady_time deadline) {
    if (deadline >= expiry_at_)
        return;
    expiry_at_ = deadline;
    expiry_timer_.expires_at(deadline);
    expiry_timer_.async_wait([self = weak_from_this()](error_code ec) {
        auto s = self.lock();
        if (!s || ec == asio::error::operation_aborted)
            return;
        s->expiry_at_ = steady_time::max();
        auto const now = std::chrono::steady_clock::now();
        auto const next = s->mpx_.expire_waiting(now, errc::not_connected, s->actions_);
        s->perform_actions();
        if (next != steady_time::max())
            s->arm_wait_expiry(next);
    });
}

void connection_impl::close() { finish(make_error_code(errc::closed)); }

// run() ended by an exception (a throwing log sink, bad_alloc): nothing drives the connection
// any more, so end it for good. Otherwise requests and push readers would wait forever.
error_code connection_impl::stop_on_exception(std::exception_ptr ep) {
    report_exception(log_, log_level::error, ep, "redis {}: the connection stopped", cfg_.redacted_address());
    auto const ec = make_error_code(errc::internal_error);
    finish(ec);
    return ec;
}

void connection_impl::finish(error_code ec) {
    if (finished_)
        return;
    finished_ = true;
    closed_ = true;
    state_ = connection_state::closed;
    if (transport_)
        transport_->close();
    wake_writer();
    backoff_timer_.cancel();
    expiry_timer_.cancel();
    mpx_.fail_all(ec, actions_);
    perform_actions();
    pushes_.close(); // push readers (a client's router) end too, or they would wait forever
}

milliseconds connection_impl::next_backoff() {
    auto const& r = cfg_.reconnect;
    std::uniform_real_distribution<double> jitter(1.0 - r.jitter, 1.0 + r.jitter);
    auto const d = milliseconds{static_cast<milliseconds::rep>(static_cast<double>(backoff_.count()) * jitter(rng_))};
    backoff_ = std::min(r.max_delay, milliseconds{static_cast<milliseconds::rep>(
                                         static_cast<double>(backoff_.count()) * r.multiplier) + 1});
    return std::max(d, milliseconds{1});
}

asio::awaitable<error_code> connection_impl::with_deadline(asio::awaitable<error_code> op, steady_time deadline,
                                                           errc on_timeout) {
    asio::steady_timer t{ex_};
    t.expires_at(deadline);
    auto r = co_await (std::move(op) || t.async_wait(use_tuple));
    if (r.index() == 1)
        co_return make_error_code(on_timeout);
    co_return std::get<0>(r);
}

asio::awaitable<error_code> connection_impl::with_timeout(asio::awaitable<error_code> op, milliseconds limit,
                                                          errc on_timeout) {
    return with_deadline(std::move(op), std::chrono::steady_clock::now() + limit, on_timeout);
}

asio::awaitable<error_code> connection_impl::internal_exec(request const& req, any_adapter adapter) {
    auto [ec, n] = co_await asio::async_initiate<decltype(use_tuple), void(error_code, std::size_t)>(
        [this, &req, &adapter](auto h) { exec(req, std::move(adapter), std::move(h), true); }, use_tuple);
    (void)n;
    co_return ec;
}

asio::awaitable<error_code> connection_impl::run() {
    auto self = shared_from_this();
    for (;;) {
        if (closed_)
            co_return error_code{};
        state_ = connection_state::connecting;
        handshaking_ = true;
        mpx_.set_pushes_allowed(true); // until HELLO has told us the protocol
        rbegin_ = rend_ = 0;
        transport_.emplace(ex_);
        // One budget for the name lookup, connect, TLS and the handshake (handshake_then_health).
        connect_deadline_ = std::chrono::steady_clock::now() + cfg_.connect_timeout;
        error_code ec = co_await with_deadline(transport_->connect(cfg_), connect_deadline_, errc::connect_timeout);
        if (!ec && !closed_)
            ec = co_await session();
        transport_->close();
        bool const was_connected = state_ == connection_state::connected;
        std::size_t const replies_owed = mpx_.get_stats().in_flight;
        if (closed_)
            co_return error_code{};
        state_ = connection_state::disconnected;
        last_error_ = ec;
        // Requests in flight fail with the protocol error itself when the server sent something
        // we refuse (callers see why); with connection_lost when the transport went away.
        bool const protocol_fault = ec.category() == resp::parser_category() || ec == errc::unexpected_reply ||
                                    ec == errc::unexpected_push || ec == errc::read_buffer_full;
        mpx_.on_disconnect(was_connected && !protocol_fault ? make_error_code(errc::connection_lost) : ec,
                           std::chrono::steady_clock::now(), actions_);
        auto const next = mpx_.expire_waiting(std::chrono::steady_clock::now(), errc::not_connected, actions_);
        perform_actions();
        if (next != steady_time::max())
            arm_wait_expiry(next);
        if (!ever_connected_ && is_auth_error(ec)) {
            log_.log(log_level::error, fmt::format("redis {}: handshake refused: {}", cfg_.redacted_address(), ec.message()));
            finish(ec);
            co_return ec;
        }
        if (!cfg_.reconnect.enabled) {
            finish(ec);
            co_return ec;
        }
        auto const delay = next_backoff();
        // The server closing on us while it owes replies is usually its own limit at work;
        // say which ones, since the client cannot see the server's log.
        std::string const hint = was_connected && replies_owed > 0 && ec == asio::error::eof
            ? fmt::format("; the server closed it owing {} replies (client-output-buffer-limit, CLIENT KILL, "
                          "timeout or a restart?)", replies_owed)
            : std::string{};
        log_.log(was_connected ? log_level::warn : log_level::info,
                 fmt::format("redis {}: {} ({}){}; reconnecting in {} ms", cfg_.redacted_address(),
                             was_connected ? "connection lost" : "connect failed", ec.message(), hint, delay.count()));
        backoff_timer_.expires_after(delay);
        co_await backoff_timer_.async_wait(use_tuple);
    }
}

asio::awaitable<error_code> connection_impl::session() {
    auto r = co_await (contained(reader(), "reader") || contained(writer(), "writer") ||
                       contained(handshake_then_health(), "handshake or health check"));
    co_return std::visit([](error_code e) { return e; }, r);
}

// operator|| waits for a branch to *succeed*: a branch that throws is set aside while the
// others go on (a dead reader behind a live writer, until the health check gives up). So each
// branch turns what it throws into an error that ends the session, and run() reconnects.
asio::awaitable<error_code> connection_impl::contained(asio::awaitable<error_code> branch, char const* name) {
    try {
        co_return co_await std::move(branch);
    } catch (boost::system::system_error const& e) {
        co_return e.code();
    } catch (...) {
        report_exception(log_, log_level::error, std::current_exception(), "redis {}: the connection's {} threw",
                         cfg_.redacted_address(), name);
        co_return make_error_code(errc::internal_error);
    }
}

asio::awaitable<error_code> connection_impl::reader() {
    if (rbuf_.size() < 16384)
        rbuf_.resize(16384);
    for (;;) {
        // Make room: at least what the parser says the pending element needs.
        std::size_t const pending = rend_ - rbegin_;
        std::size_t const need = std::max(mpx_.bytes_hint(), pending + 1);
        if (rbegin_ > 0 && (rend_ == rbuf_.size() || rbegin_ + need > rbuf_.size())) {
            std::memmove(rbuf_.data(), rbuf_.data() + rbegin_, pending);
            rbegin_ = 0;
            rend_ = pending;
        }
        if (need > rbuf_.size() || rend_ == rbuf_.size()) {
            std::size_t const target = std::max(need, rbuf_.size() * 2);
            if (target > cfg_.max_read_buffer)
                co_return make_error_code(errc::read_buffer_full);
            rbuf_.resize(target);
        }
        auto [ec, n] = co_await transport_->read_some(asio::buffer(rbuf_.data() + rend_, rbuf_.size() - rend_));
        if (ec)
            co_return ec;
        rend_ += n;
        error_code pec;
        rbegin_ += mpx_.consume(std::string_view{rbuf_.data() + rbegin_, rend_ - rbegin_}, pec, actions_);
        // Before a protocol error ends the session: those replies were good.
        delivering_inline_ = true;
        try {
            perform_actions(delivery::inline_allowed);
        } catch (...) {
            delivering_inline_ = false;
            throw;
        }
        delivering_inline_ = false;
        if (closed_) // by a handler run inline: nothing more to read (TLS may still hold a record)
            co_return make_error_code(errc::closed);
        if (rbegin_ == rend_)
            rbegin_ = rend_ = 0;
        if (pec) {
            log_.log(log_level::error, fmt::format("redis {}: {} {}; dropping the connection",
                                                   cfg_.redacted_address(), pec.message(), mpx_.error_detail()));
            co_return pec;
        }
        write_after_delivery();
    }
}

asio::awaitable<error_code> connection_impl::writer() {
    writing_ = false;
    write_wanted_ = false; // a new session's writer looks at everything queued
    for (;;) {
        (void)mpx_.prepare_write(handshaking_);
        // Not empty with nothing new moved in: the rest of a write the reader began.
        if (mpx_.write_buffer().empty()) {
            writer_wakeup_.expires_at(steady_time::max());
            co_await writer_wakeup_.async_wait(use_tuple);
            auto cs = co_await asio::this_coro::cancellation_state;
            if (cs.cancelled() != asio::cancellation_type::none)
                co_return make_error_code(asio::error::operation_aborted);
            continue;
        }
        writing_ = true;
        auto [ec, n] = co_await transport_->write_all(asio::buffer(mpx_.write_buffer()));
        writing_ = false;
        mpx_.commit_write();
        if (ec)
            co_return ec;
    }
}

asio::awaitable<error_code> connection_impl::handshake() {
    request hello;
    hello_reply info;
    result<hello_reply> hello_result;
    if (cfg_.try_resp3) {
        std::string const& user = cfg_.username.empty() ? std::string{"default"} : cfg_.username;
        if (!cfg_.password.empty())
            hello.push("HELLO", "3", "AUTH", user, cfg_.password, "SETNAME", cfg_.client_name);
        else
            hello.push("HELLO", "3", "SETNAME", cfg_.client_name);
        if (auto ec = co_await internal_exec(hello, adapt(hello_result)))
            co_return ec;
    }
    if (cfg_.try_resp3 && hello_result.has_value()) {
        protocol_ = 3;
        server_version_ = hello_result->version;
    } else {
        if (cfg_.try_resp3) {
            auto const& err = hello_result.error();
            // Only an unknown (or renamed-away) HELLO, or a server without RESP3, falls back.
            if (err.code != server_errc::unknown_command && !err.message.starts_with("NOPROTO"))
                co_return err.code == server_errc::other ? make_error_code(errc::hello_refused) : err.code;
            log_.log(log_level::info, fmt::format("redis {}: HELLO refused ({}); using RESP2",
                                                  cfg_.redacted_address(), err.message));
        }
        protocol_ = 2;
        mpx_.set_pushes_allowed(false);
        request legacy;
        std::vector<result<std::string>> replies;
        if (!cfg_.password.empty()) {
            if (cfg_.username.empty())
                legacy.push("AUTH", cfg_.password);
            else
                legacy.push("AUTH", cfg_.username, cfg_.password);
        }
        legacy.push("CLIENT", "SETNAME", cfg_.client_name);
        legacy.push("INFO", "server");
        if (auto ec = co_await internal_exec(legacy, adapt_each(replies)))
            co_return ec;
        for (auto const& r : replies)
            if (!r.has_value())
                co_return r.error().code;
        auto const& info_text = *replies.back();
        if (auto pos = info_text.find("redis_version:"); pos != std::string::npos) {
            auto end = info_text.find_first_of("\r\n", pos);
            server_version_ = info_text.substr(pos + 14, end - pos - 14);
        }
    }
    if (cfg_.database != 0) {
        request select;
        select.push("SELECT", cfg_.database);
        if (auto ec = co_await internal_exec(select, adapt_ignore()))
            co_return ec;
    }
    co_return error_code{};
}

void connection_impl::restore_subscriptions() {
    request restore; // exec() copies it: it may die with this scope
    auto const& ch = mpx_.channels();
    auto const& pat = mpx_.patterns();
    if (!ch.empty())
        restore.push("SUBSCRIBE", ch);
    if (!pat.empty())
        restore.push("PSUBSCRIBE", pat);
    if (restore.commands() == 0)
        return;
    exec(restore, adapt_ignore(),
         [self = shared_from_this()](error_code ec, std::size_t) {
             if (ec && ec != errc::closed)
                 self->log_.log(log_level::warn, fmt::format("redis {}: restoring subscriptions failed: {}",
                                                             self->cfg_.redacted_address(), ec.message()));
         },
         true);
}

asio::awaitable<error_code> connection_impl::wait_while_loading() {
    request ping;
    ping.push("PING");
    asio::steady_timer pause{ex_};
    bool told = false;
    for (;;) {
        result<std::string> pong;
        if (auto ec = co_await with_timeout(internal_exec(ping, adapt(pong)), cfg_.connect_timeout, errc::connect_timeout))
            co_return ec;
        // Anything but LOADING (PONG, or NOPERM for a user without PING) means it is ready.
        if (pong.has_value() || pong.error_code() != server_errc::loading)
            co_return error_code{};
        if (!told) {
            log_.log(log_level::warn, fmt::format("redis {}: the server is loading its dataset (LOADING); waiting for it "
                                                  "before sending commands", cfg_.redacted_address()));
            told = true;
        }
        last_error_ = make_error_code(server_errc::loading);
        pause.expires_after(std::chrono::milliseconds{100});
        co_await pause.async_wait(use_tuple);
        auto cs = co_await asio::this_coro::cancellation_state;
        if (cs.cancelled() != asio::cancellation_type::none)
            co_return make_error_code(asio::error::operation_aborted);
    }
}

asio::awaitable<error_code> connection_impl::handshake_then_health() {
    if (auto ec = co_await with_deadline(handshake(), connect_deadline_, errc::connect_timeout))
        co_return ec;
    // A restarted server answers HELLO while it loads its dataset, then refuses every data
    // command with LOADING for as long as loading takes (minutes for a large one). Until it
    // is done the connection stays "connecting": requests wait (or fail with not_connected)
    // rather than each failing with LOADING.
    if (auto ec = co_await wait_while_loading())
        co_return ec;
    state_ = connection_state::connected;
    ever_connected_ = true;
    ++connects_;
    backoff_ = cfg_.reconnect.initial_delay;
    restore_subscriptions();
    handshaking_ = false;
    wake_writer();
    log_.log(log_level::info, fmt::format("redis {}: connected (RESP{}, server {})", cfg_.redacted_address(),
                                          protocol_, server_version_));
    for (auto const& hook : connected_hooks_)
        asio::post(ex_, [self = shared_from_this(), hook, n = connects_] {
            try {
                hook(n);
            } catch (...) { // user code: it must not escape io_context::run()
                report_exception(self->log_, log_level::error, std::current_exception(),
                                 "redis {}: an on_connected hook threw", self->cfg_.redacted_address());
            }
        });
    co_return co_await health_loop();
}

asio::awaitable<error_code> connection_impl::health_loop() {
    asio::steady_timer t{ex_};
    request ping;
    ping.push("PING");
    for (;;) {
        t.expires_after(cfg_.health_check_interval.count() > 0 ? cfg_.health_check_interval
                                                                : std::chrono::hours{24 * 365});
        co_await t.async_wait(use_tuple);
        auto cs = co_await asio::this_coro::cancellation_state;
        if (cs.cancelled() != asio::cancellation_type::none)
            co_return make_error_code(asio::error::operation_aborted);
        if (cfg_.health_check_interval.count() <= 0)
            continue;
        std::string pong;
        auto ec = co_await with_timeout(internal_exec(ping, adapt(pong)), cfg_.health_check_timeout, errc::pong_timeout);
        // An error reply (LOADING after a restart, NOPERM, BUSY) still proves the server reads
        // and answers us: dropping the connection for it would only add reconnect churn.
        if (ec && ec.category() == server_category())
            continue;
        if (ec) {
            log_.log(log_level::warn, fmt::format("redis {}: health check failed: {}", cfg_.redacted_address(), ec.message()));
            co_return ec;
        }
    }
}

} // namespace detail

connection::connection(executor_type ex, config cfg, logger log)
    : impl_(std::make_shared<detail::connection_impl>(std::move(ex), std::move(cfg), std::move(log))) {}

connection::~connection() { impl_->close(); }

connection::executor_type connection::get_executor() const noexcept { return impl_->ex_; }

void connection::run_impl(boost::asio::any_completion_handler<void(error_code)> h) {
    namespace asio = boost::asio;
    if (impl_->running_ || impl_->closed_) {
        asio::post(impl_->ex_, asio::append(std::move(h), make_error_code(impl_->closed_ ? errc::closed : errc::not_connected)));
        return;
    }
    impl_->running_ = true;
    auto slot = asio::get_associated_cancellation_slot(h);
    if (slot.is_connected())
        slot.assign([w = std::weak_ptr(impl_)](asio::cancellation_type) {
            if (auto s = w.lock())
                s->close();
        });
    asio::co_spawn(impl_->ex_, impl_->run(),
                   [h = std::move(h), impl = impl_](std::exception_ptr ep, error_code ec) mutable {
                       impl->running_ = false;
                       auto s = asio::get_associated_cancellation_slot(h);
                       if (s.is_connected())
                           s.clear();
                       if (ep)
                           ec = impl->stop_on_exception(ep);
                       std::move(h)(ec);
                   });
}

void connection::exec_impl(request const& req, any_adapter adapter,
                           boost::asio::any_completion_handler<void(error_code, std::size_t)> h) {
    impl_->exec(req, std::move(adapter), std::move(h), false);
}

void detail::connection_internals::exec_completing_inline(
    connection& c, request const& req, any_adapter adapter,
    boost::asio::any_completion_handler<void(error_code, std::size_t)> h) {
    c.impl_->exec(req, std::move(adapter), std::move(h), false, true);
}

void connection::receive_push_impl(boost::asio::any_completion_handler<void(error_code, push_message)> h) {
    namespace asio = boost::asio;
    // The channel cannot take an any_completion_handler directly in Asio 1.26; forward the
    // cancellation slot and complete through post(), which honours the handler's executor.
    auto slot = asio::get_associated_cancellation_slot(h);
    impl_->pushes_.async_receive(asio::bind_cancellation_slot(
        slot, [h = std::move(h), ex = impl_->ex_](error_code ec, push_message m) mutable {
            asio::post(ex, asio::append(std::move(h), ec, std::move(m)));
        }));
}

void connection::close() { impl_->close(); }

void connection::on_connected(std::function<void(std::uint64_t)> hook) {
    impl_->connected_hooks_.push_back(std::move(hook));
}

connection_state connection::state() const noexcept { return impl_->state_; }
int connection::protocol() const noexcept { return impl_->protocol_; }
std::string const& connection::server_version() const noexcept { return impl_->server_version_; }
config const& connection::get_config() const noexcept { return impl_->cfg_; }
logger const& connection::get_logger() const noexcept { return impl_->log_; }

connection_stats connection::stats() const noexcept {
    auto s = impl_->mpx_.get_stats();
    return {impl_->connects_, impl_->pushes_dropped_, s.waiting, s.in_flight, impl_->last_error_};
}

} // namespace redstream
