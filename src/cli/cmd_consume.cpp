// `redstream consume`: a worker from the shell. Prints each message as a JSON line and acks it,
// or runs a command per message (the JSON on its stdin): exit 0 acks, anything else fails the
// attempt (redelivered after --min-idle, dead-lettered after --max-deliveries).

#include "cli_common.hpp"
#include "commands.hpp"

#include <redstream/http_endpoint.hpp>
#include <redstream/metrics.hpp>
#include <redstream/worker.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace redstream::cli {

namespace {

// Starts `/bin/sh -c cmd` with `input` on its stdin; returns its pid.
pid_t spawn_with_input(std::string const& cmd, std::string const& input) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
        throw std::runtime_error(fmt::format("pipe: {}", std::strerror(errno)));
    pid_t const pid = ::fork();
    if (pid < 0)
        throw std::runtime_error(fmt::format("fork: {}", std::strerror(errno)));
    if (pid == 0) {
        ::dup2(fds[0], 0);
        ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    ::close(fds[0]);
    // Small payloads: written at once; a child that does not read its stdin gets EPIPE ignored.
    std::size_t off = 0;
    while (off < input.size()) {
        auto n = ::write(fds[1], input.data() + off, input.size() - off);
        if (n <= 0)
            break;
        off += static_cast<std::size_t>(n);
    }
    ::close(fds[1]);
    return pid;
}

std::string message_json(message const& m) {
    auto const fields = fields_json(m.field_count(), [&](std::size_t i) { return m.field_at(i); });
    return fmt::format("{{\"stream\":{},\"id\":\"{}\",\"group\":{},\"consumer\":{},\"deliveries\":{},\"fields\":{{{}}}}}",
                       json_string(m.stream()), m.id().to_string(), json_string(m.group()), json_string(m.consumer()),
                       m.deliveries(), fields);
}

} // namespace

int cmd_consume(args& a) {
    if (a.help()) {
        fmt::print(
            "usage: redstream consume STREAM GROUP [--url URL] [--consumer PREFIX] [--exec CMD] [--start-id ID]\n"
            "                         [--min-idle MS] [--max-deliveries N] [--count N] [--consumers N]\n"
            "                         [--metrics-port PORT]\n"
            "Consumes STREAM with GROUP (created at --start-id, default $, if missing). Each message is printed as\n"
            "one JSON line and acknowledged; with --exec, CMD runs per message with the JSON on stdin: exit 0\n"
            "acks, anything else leaves it pending (redelivered after --min-idle ms, default 60000; moved to\n"
            "STREAM:dlq after --max-deliveries, default 5). --count stops after N handled messages.\n"
            "--metrics-port serves /metrics and /healthz. SIGINT/SIGTERM drain and exit.\n");
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
    auto const stop_after = a.number_or("--count", 0);
    auto const metrics_port = a.option("--metrics-port");
    auto pos = a.positionals();
    if (pos.size() != 2)
        throw cli_error(exit_usage, "usage: redstream consume STREAM GROUP (see --help)");
    o.stream = pos[0];
    o.group = pos[1];
    o.wakeup = wakeup_mode::dedicated;
    o.batch = exec ? 1 : 128;
    ::signal(SIGPIPE, SIG_IGN);

    session s{url, false};
    std::uint64_t handled = 0;
    s.run([&]() -> asio::awaitable<void> {
        co_await require_stream(s.client(), o.stream, true); // the worker creates a missing one

        worker w{s.client(), o};
        asio::signal_set children{s.io(), SIGCHLD};
        w.on_message([&](message const& m) -> asio::awaitable<outcome> {
            auto const json = message_json(m);
            outcome result = ack;
            if (!exec) {
                fmt::print("{}\n", json);
                std::fflush(stdout);
            } else {
                pid_t const pid = spawn_with_input(*exec, json + "\n");
                int status = 0;
                while (::waitpid(pid, &status, WNOHANG) == 0)
                    co_await children.async_wait(asio::use_awaitable);
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                    result = retry(fmt::format("'{}' exited with {}", *exec,
                                               WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)));
            }
            if (++handled == stop_after)
                w.stop();
            co_return result;
        });

        metrics_registry registry;
        registry.add(s.client());
        registry.add(w);
        std::unique_ptr<http_endpoint> http;
        if (metrics_port) {
            http = std::make_unique<http_endpoint>(
                s.io().get_executor(), registry,
                asio::ip::tcp::endpoint{asio::ip::make_address("0.0.0.0"),
                                        static_cast<unsigned short>(std::stoul(*metrics_port))});
            asio::co_spawn(s.io(), http->run(), asio::detached);
            fmt::print(stderr, "serving /metrics and /healthz on port {}\n", http->port());
        }
        asio::signal_set stop_signals{s.io(), SIGINT, SIGTERM};
        stop_signals.async_wait([&](boost::system::error_code ec, int) {
            if (!ec)
                w.stop();
        });
        co_await w.run();
        stop_signals.cancel();
        children.cancel();
        if (http)
            http->stop();
        auto const st = w.stats();
        fmt::print(stderr, "consumed {}: {} handled, {} acked, {} failed, {} dead-lettered\n", o.stream, st.handled,
                   st.acked, st.failed, st.dead_lettered);
    });
    return exit_ok;
}

} // namespace redstream::cli
