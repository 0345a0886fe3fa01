#pragma once

#include <redstream/protocol/adapter.hpp>
#include <redstream/protocol/push.hpp>
#include <redstream/protocol/request.hpp>
#include <redstream/resp/parser.hpp>

#include <chrono>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>

namespace redstream::detail {

using steady_time = std::chrono::steady_clock::time_point;

/// One request travelling through the multiplexer. The Asio glue derives from it to hold the
/// caller's completion handler.
class exec_entry {
public:
    exec_entry(request const& req, any_adapter adapter) noexcept
        : req_(&req), adapter_(std::move(adapter)), replies_expected_(req.expected_replies()),
          confirmations_(req.subscriptions()), wait_(req.get_options().wait_for_connection) {}
    exec_entry(exec_entry const&) = delete;
    exec_entry& operator=(exec_entry const&) = delete;
    virtual ~exec_entry() = default;

    /// Called exactly once, unless the entry was abandoned (its caller was completed already).
    virtual void complete(error_code ec, std::size_t replies) = 0;

    [[nodiscard]] bool written() const noexcept { return written_; }
    [[nodiscard]] bool abandoned() const noexcept { return abandoned_; }
    [[nodiscard]] bool priority() const noexcept { return priority_; }
    void set_priority() noexcept { priority_ = true; }
    [[nodiscard]] std::string const& first_error() const noexcept { return adapter_.first_error(); }

private:
    friend class multiplexer;

    [[nodiscard]] bool is_subscription() const noexcept { return !confirmations_.empty(); }

    request const* req_;               // read only until the payload is copied into a write
    any_adapter adapter_;
    std::size_t replies_expected_;
    std::size_t replies_done_ = 0;
    std::vector<std::size_t> confirmations_; // pushes still expected per subscription command
    std::size_t confirm_index_ = 0;
    std::chrono::milliseconds wait_;         // how long it may wait for a connection
    steady_time deadline_ = steady_time::max();
    error_code ec_;
    bool written_ = false;
    bool abandoned_ = false;
    bool priority_ = false;
};

/// The socket-free core of a connection: queues requests, coalesces them into one write buffer,
/// matches replies to requests in FIFO order and routes RESP3 pushes elsewhere.
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

    /// Queues an entry; priority entries (the handshake) go before every ordinary one.
    void add(std::unique_ptr<exec_entry> e);

    /// Moves waiting entries (only priority ones when `priority_only`) into the write buffer, up
    /// to max_write_batch bytes, and into the reply FIFO. Returns how many were moved.
    [[nodiscard]] std::size_t prepare_write(bool priority_only);
    [[nodiscard]] std::string_view write_buffer() const noexcept { return write_buffer_; }
    /// The write buffer has been handed to the socket.
    void commit_write() noexcept { write_buffer_.clear(); }

    /// Parses replies from `in` and dispatches them. Returns bytes consumed; sets `ec` on a
    /// protocol error or a reply nobody asked for (the connection must then be dropped).
    [[nodiscard]] std::size_t consume(std::string_view in, error_code& ec);
    /// Bytes that must be buffered before parsing can progress (0: unknown).
    [[nodiscard]] std::size_t bytes_hint() const noexcept { return parser_.bytes_hint(); }

    /// Per-operation cancellation: a waiting entry is removed and completed with
    /// operation_aborted; a written one is completed now and its reply discarded when it comes.
    void cancel(exec_entry* e);

    /// The connection dropped: fails in-flight entries and waiting entries that may not wait;
    /// starts the wait deadline of the others. Resets the parser.
    void on_disconnect(error_code ec, steady_time now);
    /// Fails waiting entries whose deadline has passed; returns the next deadline.
    steady_time expire_waiting(steady_time now, error_code ec);
    /// Fails every entry (closing).
    void fail_all(error_code ec);

    void set_push_sink(std::function<void(push_message&&)> sink) { push_sink_ = std::move(sink); }
    /// Told about every exception an adapter threw (the request fails with errc::adapter_failed
    /// and the connection goes on); the sink must not throw.
    void set_adapter_failure_sink(std::function<void(std::exception_ptr)> sink) {
        adapter_failure_sink_ = std::move(sink);
    }
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

    void start_reply(resp::node const& n, error_code& ec);
    void on_element(resp::node const& n);
    [[nodiscard]] error_code feed_adapter(exec_entry& e, std::size_t index, resp::node const& n);
    void finish_reply();
    void collect_push(push_message& p, resp::node const& n);
    void finish_push(push_message& p);
    void confirm_subscription();
    void pop_front_and_complete();
    static void finish(exec_entry& e, error_code ec);

    resp::parser parser_;
    std::size_t max_write_batch_;
    std::string write_buffer_;
    std::deque<std::unique_ptr<exec_entry>> waiting_;
    std::deque<std::unique_ptr<exec_entry>> written_;
    route route_ = route::none;
    bool skip_reply_ = false;
    push_message push_;
    push_message oob_push_; // a push that arrived inside another reply
    std::function<void(push_message&&)> push_sink_;
    std::function<void(std::exception_ptr)> adapter_failure_sink_;
    std::set<std::string> channels_;
    std::set<std::string> patterns_;
    std::string error_detail_;
    bool pushes_allowed_ = true;
};

} // namespace redstream::detail
