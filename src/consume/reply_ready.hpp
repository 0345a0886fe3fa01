#pragma once

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <optional>
#include <utility>

namespace redstream::detail {

namespace asio = boost::asio;

/// "The reply of this read is in": one flag and at most one waiting coroutine.
///
/// A timer used as a condition variable (wake_signal) resumes its waiter through the scheduler
/// queue: its cancel posts the wait's completion, and the scheduler polls the reactor before it
/// runs it. On the path from a reply to the handler that is one more hop and one more syscall
/// per message. set() resumes the waiter directly instead, so it must be called from a handler
/// running on the waiter's executor, with nothing left to do afterwards that the waiter may
/// undo: the reply's completion handler, last thing.
class reply_ready {
public:
    reply_ready() = default;
    reply_ready(reply_ready const&) = delete;
    reply_ready& operator=(reply_ready const&) = delete;
    ~reply_ready() = default;

    [[nodiscard]] bool is_set() const noexcept { return set_; }
    void reset() noexcept { set_ = false; }

    /// Marks the reply in and resumes the waiter, inline.
    void set() {
        set_ = true;
        if (auto h = take_waiter())
            std::move (*h)();
    }

    /// Completes when set() is called (at once if it was), or early when the awaiting coroutine
    /// is cancelled (is_set() tells which).
    asio::awaitable<void> wait() {
        return asio::async_initiate<asio::use_awaitable_t<> const, void()>(
            [this](waiter_type handler) {
                if (set_ || waiter_) { // a second waiter is a bug: do not lose either
                    auto ex = handler.get_executor();
                    asio::post(ex, std::move(handler));
                    return;
                }
                auto slot = asio::get_associated_cancellation_slot(handler);
                waiter_.emplace(std::move(handler));
                if (slot.is_connected())
                    slot.assign([this](asio::cancellation_type) {
                        if (auto h = take_waiter()) {
                            auto ex = h->get_executor();
                            asio::post(ex, std::move(*h));
                        }
                    });
            },
            asio::use_awaitable);
    }

private:
    // The coroutine's own completion handler: invoking it resumes the coroutine.
    using waiter_type = asio::async_result<asio::use_awaitable_t<>, void()>::handler_type;

    std::optional<waiter_type> take_waiter() {
        std::optional<waiter_type> h;
        if (!waiter_)
            return h;
        h.emplace(std::move(*waiter_));
        waiter_.reset();
        auto slot = asio::get_associated_cancellation_slot(*h);
        if (slot.is_connected())
            slot.clear();
        return h;
    }

    bool set_ = false;
    std::optional<waiter_type> waiter_;
};

} // namespace redstream::detail
