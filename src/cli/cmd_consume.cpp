// `redstream consume`: a worker from the shell. Prints each message as a JSON line and acks it,
// or runs a command per message (the JSON on its stdin): exit 0 acks, anything else fails the
// attempt (redelivered after --min-idle, dead-lettered after --max-deliveries).

#include "cli_common.hpp"
#include "commands.hpp"
#include "io/use_tuple.hpp"

#include <redstream/ops/http_endpoint.hpp>
#include <redstream/ops/metrics.hpp>
#include <redstream/consume/partitioned_worker.hpp>
#include <redstream/consume/worker.hpp>
#include <redstream/io/cluster_client.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/writable_pipe.hpp>
#include <boost/asio/write.hpp>

#include <fmt/format.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>

namespace redstream::cli {

namespace {

using namespace asio::experimental::awaitable_operators;
using detail::use_tuple;

// Every child started for --exec, from its start until waitpid() collected it. A handler that
// gives up on its child (cancelled at the drain deadline, or its frame destroyed) kills it and
// leaves it here; reap() collects it once it exited, and the destructor kills and collects what
// is left, so the command leaves neither a zombie nor a running child behind (issue 11).
class child_registry {
public:
    child_registry() = default;
    child_registry(child_registry const&) = delete;
    child_registry& operator=(child_registry const&) = delete;
    ~child_registry() { kill_and_reap_all(); }

    /// Starts `/bin/sh -c cmd` reading `stdin_fd`, in its own process group: a Ctrl-C at the
    /// terminal reaches only us (we drain), and kill() ends the whole pipeline, not just the shell.
    pid_t spawn(std::string const& cmd, int stdin_fd);
    /// Collects every child that exited, without blocking.
    void reap();
    /// The wait status of `pid` once reap() collected it (and forgets it).
    std::optional<int> take(pid_t pid);
    /// SIGKILLs `pid`'s process group unless it was collected (its pid may be reused by then).
    void kill(pid_t pid);
    /// kill(); reap() forgets it once it exited: nobody waits for it any more.
    void abandon(pid_t pid);
    /// Kills every child left and waits for each (quick: SIGKILL cannot be caught).
    void kill_and_reap_all();

private:
    struct child {
        std::optional<int> status; // set once collected
        bool abandoned = false;
    };
    std::map<pid_t, child> children_;
};

pid_t child_registry::spawn(std::string const& cmd, int stdin_fd) {
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0);
    posix_spawnattr_t attr;
    ::posix_spawnattr_init(&attr);
    ::posix_spawnattr_setpgroup(&attr, 0);
    sigset_t defaults; // we ignore SIGPIPE; the command should not inherit that
    ::sigemptyset(&defaults);
    ::sigaddset(&defaults, SIGPIPE);
    ::posix_spawnattr_setsigdefault(&attr, &defaults);
    ::posix_spawnattr_setflags(&attr, static_cast<short>(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF));
    char const* argv[] = {"sh", "-c", cmd.c_str(), nullptr};
    pid_t pid = -1;
    int const rc = ::posix_spawn(&pid, "/bin/sh", &actions, &attr, const_cast<char* const*>(argv), environ);
    ::posix_spawnattr_destroy(&attr);
    ::posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        throw std::runtime_error(fmt::format("cannot start /bin/sh: {}", std::strerror(rc)));
    children_.emplace(pid, child{});
    return pid;
}

void child_registry::reap() {
    for (auto it = children_.begin(); it != children_.end();) {
        auto& [pid, c] = *it;
        int status = 0;
        bool const exited = !c.status && ::waitpid(pid, &status, WNOHANG) == pid;
        if (exited && c.abandoned) {
            it = children_.erase(it);
            continue;
        }
        if (exited)
            c.status = status;
        ++it;
    }
}

std::optional<int> child_registry::take(pid_t pid) {
    auto it = children_.find(pid);
    if (it == children_.end() || !it->second.status)
        return std::nullopt;
    auto const status = it->second.status;
    children_.erase(it);
    return status;
}

void child_registry::kill(pid_t pid) {
    auto it = children_.find(pid);
    if (it == children_.end() || it->second.status)
        return;
    if (::kill(-pid, SIGKILL) != 0)
        ::kill(pid, SIGKILL);
}

void child_registry::abandon(pid_t pid) {
    auto it = children_.find(pid);
    if (it == children_.end())
        return;
    if (it->second.status) { // collected by another waiter's reap(), never taken
        children_.erase(it);
        return;
    }
    kill(pid);
    it->second.abandoned = true;
}

void child_registry::kill_and_reap_all() {
    for (auto const& [pid, c] : children_) {
        if (c.status)
            continue;
        kill(pid);
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
    children_.clear();
}

// One run of the --exec command: the child and the pipe to its stdin. Destroyed before the child
// was collected (the handler was cancelled, or its frame destroyed), it abandons the child to the
// registry, which kills and reaps it.
class exec_child {
public:
    exec_child(child_registry& children, asio::any_io_executor const& ex, std::string const& cmd);
    ~exec_child();
    exec_child(exec_child const&) = delete;
    exec_child& operator=(exec_child const&) = delete;

    asio::writable_pipe& input() { return input_; }
    /// EOF on the child's stdin.
    void close_input();
    void kill() { children_.kill(pid_); }
    /// Its wait status once it exited. Throws operation_aborted if the handler is cancelled.
    asio::awaitable<int> wait(asio::signal_set& sigchld);

private:
    child_registry& children_;
    asio::writable_pipe input_;
    pid_t pid_ = -1;
    bool collected_ = false;
};

exec_child::exec_child(child_registry& children, asio::any_io_executor const& ex, std::string const& cmd)
    : children_(children), input_(ex) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) // close-on-exec: no other child holds this stdin open
        throw std::runtime_error(fmt::format("pipe: {}", std::strerror(errno)));
    input_.assign(fds[1]);
    struct fd_closer {
        int fd;
        ~fd_closer() { ::close(fd); }
    } const read_end{fds[0]}; // the child has its own copy once spawned
    pid_ = children_.spawn(cmd, read_end.fd);
}

exec_child::~exec_child() {
    if (!collected_)
        children_.abandon(pid_);
}

void exec_child::close_input() {
    boost::system::error_code ignored;
    input_.close(ignored);
}

asio::awaitable<int> exec_child::wait(asio::signal_set& sigchld) {
    // reap() and the wait run without the reactor in between, so no SIGCHLD is missed.
    for (;;) {
        children_.reap();
        if (auto const status = children_.take(pid_)) {
            collected_ = true;
            co_return *status;
        }
        co_await sigchld.async_wait(asio::use_awaitable);
    }
}

// What the --exec handler needs. The signal set is shared: every SIGCHLD wakes every waiter.
struct exec_context {
    std::string command;
    milliseconds stdin_timeout;
    child_registry& children;
    asio::signal_set& sigchld;
};

// Writes `input` to the child's stdin without blocking the I/O thread (a child that does not read
// must not stall the other consumers or the health checks). False if the child did not take it
// within `limit`. A child that closes its stdin early (EPIPE) took what it wanted: its exit
// status decides.
asio::awaitable<bool> feed(asio::writable_pipe& pipe, std::string const& input, milliseconds limit) {
    asio::steady_timer timer{pipe.get_executor(), limit};
    auto const r =
        co_await (asio::async_write(pipe, asio::buffer(input), use_tuple) || timer.async_wait(use_tuple));
    // Cancelled at the drain deadline: both operations ended with operation_aborted.
    if (auto cs = co_await asio::this_coro::cancellation_state; cs.cancelled() != asio::cancellation_type::none)
        throw boost::system::system_error(asio::error::operation_aborted);
    co_return r.index() == 0;
}

outcome exit_outcome(std::string const& cmd, int status) {
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return ack;
    return retry(
        fmt::format("'{}' exited with {}", cmd, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)));
}

// Runs the command with `input` on its stdin. A command that does not take its stdin in time is
// killed and the attempt fails (the message stays pending).
asio::awaitable<outcome> run_exec(exec_context& x, std::string input) {
    auto const ex = co_await asio::this_coro::executor;
    exec_child child{x.children, ex, x.command};
    bool const taken = co_await feed(child.input(), input, x.stdin_timeout);
    child.close_input();
    if (!taken)
        child.kill();
    int const status = co_await child.wait(x.sigchld);
    if (!taken)
        co_return retry(fmt::format("'{}' did not read its stdin within {} ms: killed", x.command,
                                    x.stdin_timeout.count()));
    co_return exit_outcome(x.command, status);
}

std::string message_json(message const& m) {
    auto const fields = fields_json(m.field_count(), [&](std::size_t i) { return m.field_at(i); });
    return fmt::format("{{\"stream\":{},\"id\":\"{}\",\"group\":{},\"consumer\":{},\"deliveries\":{},\"fields\":{{{}}}}}",
                       json_string(m.stream()), m.id().to_string(), json_string(m.group()), json_string(m.consumer()),
                       m.deliveries(), fields);
}

// Collects the children nobody waits for any more (their handler was cancelled) as they exit.
// Runs until cancelled.
asio::awaitable<void> reap_abandoned(asio::signal_set& sigchld, child_registry& children) {
    for (;;) {
        children.reap();
        co_await sigchld.async_wait(asio::use_awaitable);
    }
}

// The second SIGINT/SIGTERM: stop now. The children are killed; their messages, and acks not yet
// sent, stay pending and are redelivered (at-least-once). _Exit rather than returning: unwinding
// would destroy the worker while its coroutines are suspended mid-drain.
[[noreturn]] void exit_at_once(child_registry& children, int signo) {
    children.kill_and_reap_all();
    fmt::print(stderr, "redstream consume: stopped at once; messages in hand stay pending\n");
    std::fflush(stdout);
    std::_Exit(exit_code_after(signo));
}

// The first SIGINT/SIGTERM drains (worker::stop) and is recorded in `first`; the second exits at
// once. Runs until cancelled.
template <class Worker>
asio::awaitable<void> handle_stop_signals(asio::signal_set& signals, Worker& w, milliseconds drain,
                                          child_registry& children, int& first) {
    for (;;) {
        int const signo = co_await signals.async_wait(asio::use_awaitable);
        if (first != 0)
            exit_at_once(children, signo);
        first = signo;
        fmt::print(stderr, "redstream consume: draining for up to {} ms; signal again to stop at once\n",
                   drain.count());
        w.stop();
    }
}

// /metrics and /healthz on `port` (all interfaces) when one is given; stop() it before the
// registry goes.
std::unique_ptr<http_endpoint> serve_metrics(session& s, metrics_registry& registry,
                                             std::optional<std::string> const& port) {
    if (!port)
        return nullptr;
    auto http = std::make_unique<http_endpoint>(
        s.io().get_executor(), registry,
        asio::ip::tcp::endpoint{asio::ip::make_address("0.0.0.0"), static_cast<unsigned short>(std::stoul(*port))});
    asio::co_spawn(s.io(), http->run(), asio::detached);
    fmt::print(stderr, "serving /metrics and /healthz on port {}\n", http->port());
    return http;
}

} // namespace

int cmd_consume(args& a) {
    if (a.help()) {
        fmt::print(
            "usage: redstream consume STREAM GROUP [--url URL] [--consumer PREFIX] [--exec CMD] [--stdin-timeout MS]\n"
            "                         [--start-id ID] [--min-idle MS] [--max-deliveries N] [--count N]\n"
            "                         [--consumers N] [--drain-timeout MS] [--metrics-port PORT]\n"
            "                         [--partitions N [--assignment shared|owned] [--lease-ttl MS] [--member NAME]]\n"
            "Consumes STREAM with GROUP (created at --start-id, default $, if missing). Each message is printed as\n"
            "one JSON line and acknowledged; with --exec, CMD runs per message with the JSON on stdin: exit 0\n"
            "acks, anything else leaves it pending (redelivered after --min-idle ms, default 60000; moved to\n"
            "STREAM:dlq after --max-deliveries, default 5). CMD runs in its own process group; one that does not\n"
            "take its stdin within --stdin-timeout ms (default 10000) is killed and the attempt fails.\n"
            "--count stops after N handled messages. --metrics-port serves /metrics and /healthz.\n"
            "SIGINT/SIGTERM drain: handlers get --drain-timeout ms (default 10000), then are cancelled (their\n"
            "commands killed, their messages left pending). Exit code 130 after SIGINT, 0 after SIGTERM.\n"
            "A second signal stops at once; the messages in hand stay pending.\n"
            "--partitions N consumes the N partition keys of STREAM (see produce --partitions): one worker\n"
            "reading them all on one server; on a Redis Cluster one per partition on its master, following\n"
            "slot moves (--consumers per partition there); --metrics-port covers every partition.\n"
            "--assignment owned (with --partitions): each partition is read by one process at a time, in order\n"
            "(a lease in Redis per partition; --lease-ttl MS, default 10000; --member NAME, default\n"
            "PREFIX.<host>.<pid>); the processes split the partitions between them. Default: shared.\n");
        return exit_ok;
    }
    auto url = a.option_or("--url", "");
    auto exec = a.option("--exec");
    worker_options o;
    o.consumer_prefix = a.option_or("--consumer", "redstream-cli");
    o.start_id = a.option_or("--start-id", "$");
    o.min_idle = milliseconds(a.number_or("--min-idle", 60000));
    o.max_deliveries = a.number_or("--max-deliveries", 5);
    o.consumers = a.number_or("--consumers", 1);
    o.drain_timeout = milliseconds(a.number_or("--drain-timeout", 10000));
    auto const stdin_timeout = milliseconds(a.number_or("--stdin-timeout", 10000));
    auto const stop_after = a.number_or("--count", 0);
    auto const metrics_port = a.option("--metrics-port");
    auto const partitions = a.number_or("--partitions", 0);
    assignment_options assignment;
    auto const mode = a.option_or("--assignment", "shared");
    if (mode == "owned")
        assignment.mode = partition_assignment::owned;
    else if (mode != "shared")
        throw cli_error(exit_usage, fmt::format("--assignment {}: expected shared or owned", mode));
    assignment.lease_ttl = milliseconds(a.number_or("--lease-ttl", 10000));
    assignment.member = a.option_or("--member", "");
    if (assignment.mode == partition_assignment::owned && partitions == 0)
        throw cli_error(exit_usage, "--assignment owned needs --partitions");
    auto pos = a.positionals();
    if (pos.size() != 2)
        throw cli_error(exit_usage, "usage: redstream consume STREAM GROUP (see --help)");
    o.stream = pos[0];
    o.group = pos[1];
    o.wakeup = wakeup_mode::dedicated;
    o.batch = exec ? 1 : 128;
    ::signal(SIGPIPE, SIG_IGN);

    child_registry children; // outlives the io_context: handler frames destroyed with it abandon theirs here
    session s{url, false};
    std::uint64_t handled = 0;
    int stop_signal = 0;
    // Prints or runs the command for each message; `stop` ends the run after --count.
    auto handler_for = [&](exec_context& x, std::function<void()> stop) {
        return [&, &x = x, stop = std::move(stop)](message const& m) -> asio::awaitable<outcome> {
            auto json = message_json(m);
            outcome result = ack;
            if (!exec) {
                fmt::print("{}\n", json);
                std::fflush(stdout);
            } else {
                json += '\n';
                result = co_await run_exec(x, std::move(json));
            }
            if (++handled == stop_after)
                stop();
            co_return result;
        };
    };
    if (partitions > 0) {
        s.run([&]() -> asio::awaitable<void> {
            auto const& cfg = s.client().connection().get_config();
            std::unique_ptr<cluster_client> cluster;
            std::unique_ptr<partitioned_worker> w;
            if (co_await cluster_client::is_cluster(cfg)) {
                cluster = std::make_unique<cluster_client>(s.io().get_executor(), cfg, s.client().get_logger());
                w = std::make_unique<partitioned_worker>(*cluster, o, partitions, assignment);
            } else {
                w = std::make_unique<partitioned_worker>(s.client(), o, partitions, assignment);
            }
            asio::signal_set sigchld{s.io(), SIGCHLD};
            exec_context x{exec.value_or(""), stdin_timeout, children, sigchld};
            w->on_message(handler_for(x, [&w] { w->stop(); }));
            metrics_registry registry; // every partition's worker and group, on its master
            if (cluster)
                registry.add(*cluster);
            else
                registry.add(s.client());
            registry.add(*w);
            auto http = serve_metrics(s, registry, metrics_port);
            asio::signal_set stop_signals{s.io(), SIGINT, SIGTERM};
            co_await (w->run() || handle_stop_signals(stop_signals, *w, o.drain_timeout, children, stop_signal) ||
                      reap_abandoned(sigchld, children));
            children.kill_and_reap_all();
            if (http)
                http->stop();
            auto const st = w->stats();
            fmt::print(stderr,
                       "consumed {} ({} partitions, {} moved, {} leases taken): {} handled, {} acked, {} failed, {} "
                       "dead-lettered\n",
                       o.stream, partitions, st.moves, st.leases_acquired, st.total.handled, st.total.acked,
                       st.total.failed, st.total.dead_lettered);
            if (cluster)
                cluster->close();
        });
        return stop_signal != 0 ? exit_code_after(stop_signal) : exit_ok;
    }
    s.run([&]() -> asio::awaitable<void> {
        co_await require_stream(s.client(), o.stream, true); // the worker creates a missing one

        worker w{s.client(), o};
        asio::signal_set sigchld{s.io(), SIGCHLD};
        exec_context x{exec.value_or(""), stdin_timeout, children, sigchld};
        w.on_message(handler_for(x, [&w] { w.stop(); }));

        metrics_registry registry;
        registry.add(s.client());
        registry.add(w);
        auto http = serve_metrics(s, registry, metrics_port);
        asio::signal_set stop_signals{s.io(), SIGINT, SIGTERM};
        // The signal handling and the reaping end with run(), and before the objects they use.
        co_await (w.run() || handle_stop_signals(stop_signals, w, o.drain_timeout, children, stop_signal) ||
                  reap_abandoned(sigchld, children));
        children.kill_and_reap_all(); // abandoned ones that had not exited yet
        if (http)
            http->stop();
        auto const st = w.stats();
        fmt::print(stderr, "consumed {}: {} handled, {} acked, {} failed, {} dead-lettered\n", o.stream, st.handled,
                   st.acked, st.failed, st.dead_lettered);
    });
    return stop_signal != 0 ? exit_code_after(stop_signal) : exit_ok;
}

} // namespace redstream::cli
