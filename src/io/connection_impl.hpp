#pragma once

#include <redstream/io/connection.hpp>

#include "mux/multiplexer.hpp"
#include "io/transport.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/asio/steady_timer.hpp>

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <unordered_map>
#include <vector>

namespace redstream::detail {

namespace asio = boost::asio;

/// The state behind a connection. Coroutines hold a shared_ptr to it, so it outlives the
/// public object until they have finished.
class connection_impl : public std::enable_shared_from_this<connection_impl> {
public:
    using exec_handler = asio::any_completion_handler<void(error_code, std::size_t)>;

    connection_impl(asio::any_io_executor ex, config cfg, logger log);

    asio::awaitable<error_code> run();
    /// `req` is copied before exec() returns: it need not outlive the call. With
    /// `complete_inline`, a reply's completion runs straight from the reader that parsed it
    /// (see connection_internals); otherwise, and for failures and cancels, through post().
    void exec(request const& req, any_adapter adapter, exec_handler h, bool priority, bool complete_inline = false);
    void close();
    /// Ends the connection for good: fails every request with `ec`, ends push readers.
    void finish(error_code ec);
    /// Reports an exception that ended run(), finishes with errc::internal_error, returns it.
    error_code stop_on_exception(std::exception_ptr ep);

    asio::any_io_executor ex_;
    config cfg_;
    logger log_;
    multiplexer mpx_;
    asio::experimental::channel<void(error_code, push_message)> pushes_;
    std::vector<std::function<void(std::uint64_t)>> connected_hooks_;
    connection_state state_ = connection_state::idle;
    int protocol_ = 0;
    std::string server_version_;
    std::uint64_t connects_ = 0;
    std::uint64_t pushes_dropped_ = 0;
    error_code last_error_{}; // why the last attempt or connection ended (stats())
    bool running_ = false;
    bool closed_ = false;
    bool finished_ = false; // finish() ran: requests failed, pushes closed

private:
    asio::awaitable<error_code> session();
    asio::awaitable<error_code> contained(asio::awaitable<error_code> branch, char const* name);
    asio::awaitable<error_code> reader();
    asio::awaitable<error_code> writer();
    asio::awaitable<error_code> handshake_then_health();
    asio::awaitable<error_code> wait_while_loading();
    asio::awaitable<error_code> handshake();
    asio::awaitable<error_code> health_loop();
    asio::awaitable<error_code> internal_exec(request const& req, any_adapter adapter);
    asio::awaitable<error_code> with_deadline(asio::awaitable<error_code> op, steady_time deadline, errc on_timeout);
    asio::awaitable<error_code> with_timeout(asio::awaitable<error_code> op, milliseconds limit, errc on_timeout);
    milliseconds next_backoff();
    void wake_writer();
    void write_after_delivery();
    void arm_wait_expiry(steady_time deadline);
    void restore_subscriptions();
    void cancel(entry_id id, cancel_mode mode);
    // Whether a completed request that asked for it may run its handler inline: only the
    // reader's delivery after a parse (nobody is inside one of our calls then).
    enum class delivery { posted, inline_allowed };
    void perform_actions(delivery how = delivery::posted);
    void resume(entry_id id, error_code ec, std::size_t replies, delivery how);

    std::optional<transport> transport_;
    asio::steady_timer writer_wakeup_;
    asio::steady_timer backoff_timer_;
    asio::steady_timer expiry_timer_;
    steady_time expiry_at_ = steady_time::max();
    steady_time connect_deadline_{}; // of the current attempt: config::connect_timeout from its start
    std::vector<char> rbuf_;
    std::size_t rbegin_ = 0;
    std::size_t rend_ = 0;
    milliseconds backoff_{0};
    std::minstd_rand rng_;
    bool handshaking_ = true;
    bool writing_ = false;            // the writer is inside write_all(): it owns the write buffer
    bool delivering_inline_ = false;  // the reader is completing requests inline
    bool write_wanted_ = false;       // a request queued meanwhile: write it after the delivery
    bool ever_connected_ = false;
    // The callers of the requests in mpx_, by the id it gave them. Handlers are only ever
    // move-constructed in and out (Asio 1.26's any_completion_handler cannot be assigned).
    struct waiting_exec {
        exec_handler handler;
        bool complete_inline = false;
    };
    std::unordered_map<entry_id, waiting_exec> execs_;
    action_list actions_; // what mpx_ asked for and perform_actions() has not done yet
    bool performing_ = false;
};

} // namespace redstream::detail
