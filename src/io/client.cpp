#include <redstream/io/client.hpp>

#include "io/client_internals.hpp"
#include "io/report_exception.hpp"
#include "io/use_tuple.hpp"
#include "io/xadd_request.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/core.h>

#include <map>

namespace redstream {

namespace asio = boost::asio;

namespace detail {

// The one keyspace event listeners are called for: the stream grew. The others (xtrim,
// xgroup-create, xgroup-createconsumer, xgroup-delconsumer, xsetid, del...) are mostly caused
// by the worker itself; waking consumers for them would only cost empty reads.
constexpr std::string_view listened_event = "xadd";

using listener_map = std::map<std::uint64_t, std::function<void()>>;

// A keyspace channel and who listens to it. Listeners are registered only once a SUBSCRIBE
// has succeeded, so a registered listener always means a subscription.
struct keyspace_channel {
    listener_map listeners;
    std::size_t subscribing = 0; // SUBSCRIBEs in flight: the channel must not be dropped meanwhile
    bool subscribed = false;     // a SUBSCRIBE succeeded; cleared only with the channel
};

class client_impl : public std::enable_shared_from_this<client_impl> {
public:
    client_impl(asio::any_io_executor ex, config cfg, logger log)
        : conn_(ex, std::move(cfg), log), log_(std::move(log)), block_turn_(ex, std::chrono::steady_clock::time_point::max()) {}

    void start() {
        // The connection and the push router live until close(); their completions only log.
        conn_.async_run([self = shared_from_this()](error_code ec) {
            if (ec)
                self->log_.log(log_level::error, fmt::format("redis {}: connection stopped: {}",
                                                             self->conn_.get_config().redacted_address(), ec.message()));
        });
        conn_.on_connected([w = weak_from_this()](std::uint64_t n) {
            if (auto s = w.lock(); s && n > 1)
                for (auto const& [id, fn] : listener_map(s->reconnect_listeners_)) // a listener may remove itself
                    s->call_listener(fn, "reconnect");
        });
        asio::co_spawn(conn_.get_executor(), route_pushes(), [self = shared_from_this()](std::exception_ptr ep) {
            if (ep)
                report_exception(self->log_, log_level::error, ep, "redis {}: keyspace notifications stopped",
                                 self->conn_.get_config().redacted_address());
        });
    }

    asio::awaitable<void> route_pushes() {
        auto self = shared_from_this();
        for (;;) {
            auto [ec, push] = co_await conn_.async_receive_push(use_tuple);
            if (ec)
                co_return; // closed
            if (auto const* found = listeners_for(push))
                for (auto const& [id, fn] : listener_map(*found)) // a listener may remove itself
                    call_listener(fn, "keyspace");
        }
    }

    // Who a push is for. A keyspace notification is kind "message", args {channel, event}.
    listener_map const* listeners_for(push_message const& push) const {
        if (push.kind != "message" || push.args.size() < 2 || push.args[1] != listened_event)
            return nullptr;
        auto it = channels_.find(push.args[0]);
        return it == channels_.end() ? nullptr : &it->second.listeners;
    }

    // Listeners are user code: one that throws is logged, and the router (or the reconnect
    // hook) goes on with the next.
    void call_listener(std::function<void()> const& fn, char const* kind) const {
        try {
            fn();
        } catch (...) {
            report_exception(log_, log_level::error, std::current_exception(), "redis {}: a {} listener threw",
                             conn_.get_config().redacted_address(), kind);
        }
    }

    // Subscribes unless a SUBSCRIBE for the channel succeeded already. Throws system_error
    // with the server's text when it fails, e.g. NOPERM: Redis 7 gives new ACL users no
    // channel rights (resetchannels).
    asio::awaitable<void> ensure_subscribed(std::string const& channel) {
        if (channels_[channel].subscribed)
            co_return;
        request sub{request::options{std::chrono::milliseconds{5000}}};
        sub.push("SUBSCRIBE", channel);
        result<ignore_t> refusal; // receives the server's error reply, if any
        ++channels_[channel].subscribing;
        auto [ec, n] = co_await conn_.async_exec(sub, adapt(refusal), use_tuple);
        auto& ch = channels_[channel];
        --ch.subscribing;
        if (!ec) {
            ch.subscribed = true;
            co_return;
        }
        release_if_unused(channel);
        throw boost::system::system_error(
            ec, fmt::format("SUBSCRIBE {}{}", channel, refusal.has_value() ? "" : ": " + refusal.error().message));
    }

    // Drops a channel nobody listens to and no SUBSCRIBE is pending for; unsubscribes if it
    // was subscribed.
    void release_if_unused(std::string const& channel) {
        auto it = channels_.find(channel);
        if (it == channels_.end() || !it->second.listeners.empty() || it->second.subscribing > 0)
            return;
        bool const subscribed = it->second.subscribed;
        channels_.erase(it);
        if (!subscribed)
            return;
        auto req = std::make_shared<request>();
        req->push("UNSUBSCRIBE", channel);
        conn_.async_exec(*req, adapt_ignore(), [req](error_code, std::size_t) {});
    }

    std::string channel_of(std::string const& key) const {
        return fmt::format("__keyspace@{}__:{}", conn_.get_config().database, key);
    }

    redstream::connection conn_;
    logger log_;
    std::map<std::string, keyspace_channel> channels_;
    std::map<std::uint64_t, std::string> listener_channel_;
    listener_map reconnect_listeners_;
    std::uint64_t next_id_ = 1;
    asio::steady_timer block_turn_;
    bool block_taken_ = false;
};

} // namespace detail

client::client(asio::any_io_executor ex, config cfg, logger log)
    : impl_(std::make_shared<detail::client_impl>(std::move(ex), std::move(cfg), std::move(log))) {
    impl_->start();
}

client::~client() { impl_->conn_.close(); }

asio::any_io_executor client::get_executor() const { return impl_->conn_.get_executor(); }
redstream::connection& client::connection() noexcept { return impl_->conn_; }
logger const& client::get_logger() const noexcept { return impl_->log_; }
void client::close() { impl_->conn_.close(); }

asio::awaitable<stream_id> client::publish(std::string_view stream, field_list const& fields, publish_options opts) {
    request r;
    detail::push_xadd(r, stream, fields, opts);
    stream_id id;
    co_await impl_->conn_.async_exec(r, adapt(id), asio::use_awaitable);
    co_return id;
}

asio::awaitable<std::vector<stream_id>> client::publish_batch(std::string_view stream,
                                                              std::vector<field_list> const& messages,
                                                              publish_options opts) {
    request r;
    for (auto const& m : messages)
        detail::push_xadd(r, stream, m, opts);
    std::vector<stream_id> ids;
    co_await impl_->conn_.async_exec(r, adapt_each(ids), asio::use_awaitable);
    co_return ids;
}

namespace detail {

asio::awaitable<std::uint64_t> client_internals::add_keyspace_listener(client& c, std::string key,
                                                                      std::function<void()> fn) {
    auto const impl = c.impl_; // the state outlives the client while SUBSCRIBE is in flight
    auto const channel = impl->channel_of(key);
    co_await impl->ensure_subscribed(channel);
    auto const id = impl->next_id_++;
    impl->channels_[channel].listeners.emplace(id, std::move(fn));
    impl->listener_channel_.emplace(id, channel);
    co_return id;
}

void client_internals::remove_keyspace_listener(client& c, std::uint64_t id) {
    auto it = c.impl_->listener_channel_.find(id);
    if (it == c.impl_->listener_channel_.end())
        return;
    auto const channel = std::move(it->second);
    c.impl_->listener_channel_.erase(it);
    c.impl_->channels_[channel].listeners.erase(id);
    c.impl_->release_if_unused(channel);
}

std::uint64_t client_internals::add_reconnect_listener(client& c, std::function<void()> fn) {
    auto const id = c.impl_->next_id_++;
    c.impl_->reconnect_listeners_.emplace(id, std::move(fn));
    return id;
}

void client_internals::remove_reconnect_listener(client& c, std::uint64_t id) {
    c.impl_->reconnect_listeners_.erase(id);
}

asio::awaitable<bool> client_internals::keyspace_events_enabled(client& c, bool configure) {
    if (c.impl_->conn_.protocol() == 2)
        co_return false; // pushes need RESP3 on the shared connection
    request get;
    get.push("CONFIG", "GET", "notify-keyspace-events");
    result<std::vector<std::string>> flags;
    co_await c.impl_->conn_.async_exec(get, adapt(flags), asio::use_awaitable);
    if (!flags.has_value() || flags->size() < 2)
        co_return false; // e.g. NOPERM on CONFIG
    std::string value = (*flags)[1];
    auto has = [&](char flag) { return value.find(flag) != std::string::npos; };
    bool const keyspace = has('K');
    bool const stream_events = has('t') || has('A');
    if (keyspace && stream_events)
        co_return true;
    if (!configure)
        co_return false;
    if (!keyspace)
        value += 'K';
    if (!stream_events)
        value += 't';
    request set;
    set.push("CONFIG", "SET", "notify-keyspace-events", value);
    result<std::string> ok;
    co_await c.impl_->conn_.async_exec(set, adapt(ok), asio::use_awaitable);
    co_return ok.has_value();
}

asio::awaitable<void> client_internals::acquire_block_turn(client& c) {
    // The timer never expires; release cancels it to wake the waiters. (Setting its expiry
    // here would cancel the other waiters' waits: with several workers waiting that turns
    // into a busy loop of waiters waking each other.)
    while (c.impl_->block_taken_) {
        co_await c.impl_->block_turn_.async_wait(use_tuple);
        auto cs = co_await asio::this_coro::cancellation_state;
        if (cs.cancelled() != asio::cancellation_type::none)
            throw boost::system::system_error(asio::error::operation_aborted);
    }
    c.impl_->block_taken_ = true;
}

void client_internals::release_block_turn(client& c) {
    c.impl_->block_taken_ = false;
    c.impl_->block_turn_.cancel();
}

} // namespace detail

} // namespace redstream
