#pragma once

#include <redstream/protocol/adapter.hpp>
#include <redstream/protocol/push.hpp>
#include <redstream/protocol/request.hpp>
#include <redstream/resp/parser.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace redstream::detail {

using steady_time = std::chrono::steady_clock::time_point;

/// Names a request to the driver that added it. One multiplexer never reuses an id, so a stale
/// id (a cancellation racing the completion) finds nothing and does nothing.
enum class entry_id : std::uint64_t {};

/// The request ended: resume its caller with `ec` and the number of replies it received.
struct completed {
    entry_id id;
    error_code ec;
    std::size_t replies = 0;
};

/// The request was cancelled through cancel(). Kept apart from `completed` so that this layer
/// names no Asio error: the driver resumes the caller with its own "operation aborted" code.
struct cancelled {
    entry_id id;
    std::size_t replies = 0;
};

/// A RESP3 push for the connection's push receivers (subscription confirmations are not pushed:
/// the multiplexer consumes them).
struct pushed {
    push_message message;
};

/// An adapter threw. Its request fails with errc::adapter_failed (a `completed` action for it
/// follows) and the connection goes on; this action exists so the driver can log the exception.
struct adapter_failed {
    entry_id id;
    std::exception_ptr error;
};

/// What the driver must do after an event, in the order it happened: completions and pushes
/// interleave exactly as their replies arrived on the wire.
using action = std::variant<completed, cancelled, pushed, adapter_failed>;
using action_list = std::vector<action>;

/// What cancel() may do to a request whose bytes are already in a write buffer.
enum class cancel_mode {
    waiting_only,    // leave it alone (cancellation_type::total promises no side effect)
    abandon_written, // complete it now and discard its reply when it arrives
};

/// The socket-free core of a connection: queues requests, coalesces them into one write buffer,
/// matches replies to requests in FIFO order and routes RESP3 pushes elsewhere.
///
/// It never calls out. Every event method appends to an action_list what the driver must then
/// do (resume a caller, deliver a push, log an adapter failure); each entry yields exactly one
/// `completed` or `cancelled` action.
///
/// Ownership: add() copies what it needs from the request (payload, reply and subscription
/// counts, wait option), so the caller's request may be destroyed or reused as soon as add()
/// returns. The adapter's targets must live until the entry's completion action, or until it
/// was cancelled (a cancelled entry's reply is parsed into nothing).
///
/// Invariant: an entry whose bytes went into a write buffer is never removed before its replies
/// arrive (cancel only abandons it), so the reply FIFO never slips.
class multiplexer {
public:
    struct stats {
        std::size_t waiting = 0;
        std::size_t in_flight = 0;
    };

    multiplexer(resp::parser_limits limits, std::size_t max_write_batch);
    ~multiplexer();

    /// Queues a request; priority entries (the handshake) go before every ordinary one.
    [[nodiscard]] entry_id add(request const& req, any_adapter adapter, bool priority = false);

    /// Moves waiting entries (only priority ones when `priority_only`) into the write buffer, up
    /// to max_write_batch bytes, and into the reply FIFO. Returns how many were moved.
    [[nodiscard]] std::size_t prepare_write(bool priority_only);
    [[nodiscard]] std::string_view write_buffer() const noexcept { return write_buffer_; }
    /// The write buffer has been handed to the socket.
    void commit_write() noexcept { write_buffer_.clear(); }
    /// The first `n` bytes of the write buffer have been handed to the socket; the rest is
    /// still to write, ahead of anything prepare_write() adds.
    void commit_written(std::size_t n) noexcept { write_buffer_.erase(0, std::min(n, write_buffer_.size())); }

    /// Parses replies from `in` and dispatches them. Returns bytes consumed; sets `ec` on a
    /// protocol error or a reply nobody asked for (the connection must then be dropped).
    /// The actions for what was parsed before an error are appended all the same.
    [[nodiscard]] std::size_t consume(std::string_view in, error_code& ec, action_list& out);
    /// Bytes that must be buffered before parsing can progress (0: unknown).
    [[nodiscard]] std::size_t bytes_hint() const noexcept { return parser_.bytes_hint(); }

    /// Per-operation cancellation: a waiting entry is removed; a written one (with
    /// cancel_mode::abandon_written) is abandoned and its reply discarded when it comes. Either
    /// yields a `cancelled` action. Unknown, finished or already abandoned ids are ignored.
    void cancel(entry_id id, cancel_mode mode, action_list& out);

    /// The connection dropped: fails in-flight entries and waiting entries that may not wait;
    /// starts the wait deadline of the others. Resets the parser.
    void on_disconnect(error_code ec, steady_time now, action_list& out);
    /// Fails waiting entries whose deadline has passed; returns the next deadline.
    [[nodiscard]] steady_time expire_waiting(steady_time now, error_code ec, action_list& out);
    /// Fails every entry (closing).
    void fail_all(error_code ec, action_list& out);

    /// RESP2 has no pushes: on such a connection a '>' frame is a protocol error.
    void set_pushes_allowed(bool allowed) noexcept { pushes_allowed_ = allowed; }

    [[nodiscard]] std::set<std::string> const& channels() const noexcept { return channels_; }
    [[nodiscard]] std::set<std::string> const& patterns() const noexcept { return patterns_; }
    [[nodiscard]] stats get_stats() const noexcept { return {waiting_.size(), written_.size()}; }
    [[nodiscard]] bool has_waiting() const noexcept { return !waiting_.empty(); }
    /// What the last protocol error was about (for logs).
    [[nodiscard]] std::string const& error_detail() const noexcept { return error_detail_; }

private:
    enum class route { none, reply, push, subscription_error };

    /// One request travelling through the multiplexer, owning everything it still needs.
    struct entry {
        entry(entry_id key, request const& req, any_adapter a, bool goes_first);

        [[nodiscard]] bool is_subscription() const noexcept { return !confirmations.empty(); }

        entry_id id;
        std::string payload; // emptied once copied into a write buffer
        any_adapter adapter;
        std::size_t replies_expected;
        std::size_t replies_done = 0;
        std::vector<std::size_t> confirmations; // pushes still expected per subscription command
        std::size_t confirm_index = 0;
        std::chrono::milliseconds wait; // how long it may wait for a connection
        steady_time deadline = steady_time::max();
        error_code ec;
        bool priority;
        bool abandoned = false;
    };

    void start_reply(resp::node const& n, error_code& ec);
    // Called once per RESP element: kept inline in consume()'s loop.
    [[gnu::always_inline]] inline void on_element(resp::node const& n, action_list& out);
    [[nodiscard]] error_code feed_adapter(entry& e, std::size_t index, resp::node const& n, action_list& out);
    void finish_reply(action_list& out);
    void collect_push(push_message& p, resp::node const& n);
    void finish_push(push_message& p, action_list& out);
    void confirm_subscription(action_list& out);
    void pop_front_and_complete(action_list& out);
    static void finish(entry const& e, error_code ec, action_list& out);

    resp::parser parser_;
    std::size_t max_write_batch_;
    std::string write_buffer_;
    std::deque<entry> waiting_;
    std::deque<entry> written_;
    std::uint64_t next_id_ = 0;
    route route_ = route::none;
    bool skip_reply_ = false;
    push_message push_;
    push_message oob_push_; // a push that arrived inside another reply
    std::set<std::string> channels_;
    std::set<std::string> patterns_;
    std::string error_detail_;
    bool pushes_allowed_ = true;
};

} // namespace redstream::detail
