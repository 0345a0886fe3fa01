#pragma once

// Runs the hiredis reference consumer (peer/hiredis_peer.c) as a child process and reads its
// one-line result. Built only when CMake finds hiredis; otherwise available() is false and the
// benchmarks print no peer columns.

#include <redstream/io/config.hpp>

#include <fmt/core.h>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace redstream::bench {

struct peer_result {
    double msgs_per_s = 0;
    double client_us = 0;
    double latency_p50_us = 0;
    double latency_p99_us = 0;
    double latency_p999_us = 0;
    std::size_t messages = 0;
};

struct peer_options {
    std::string mode = "pipeline"; // pipeline, sync or blocking
    std::size_t depth = 8;
    std::size_t count = 100;
    std::size_t consumers = 1;
    std::size_t messages = 0;
    double seconds = 0;
    std::string ready_file{};
};

class hiredis_peer {
public:
#ifdef REDSTREAM_HIREDIS_PEER
    [[nodiscard]] static bool available() { return std::filesystem::exists(REDSTREAM_HIREDIS_PEER); }
    [[nodiscard]] static std::string path() { return REDSTREAM_HIREDIS_PEER; }
#else
    [[nodiscard]] static bool available() { return false; }
    [[nodiscard]] static std::string path() { return {}; }
#endif

    /// Starts the peer against `server` on stream/group; its stdout goes to a pipe.
    hiredis_peer(config const& server, std::string const& stream, std::string const& group, peer_options const& o) {
        if (!available())
            throw std::runtime_error("hiredis_peer: not built (libhiredis-dev missing at configure time)");
        std::vector<std::string> args{path(), "--host", server.host, "--port", std::to_string(server.port),
                                      "--stream", stream, "--group", group, "--mode", o.mode,
                                      "--depth", std::to_string(o.depth), "--count", std::to_string(o.count),
                                      "--consumers", std::to_string(o.consumers)};
        if (o.messages > 0)
            args.insert(args.end(), {"--messages", std::to_string(o.messages)});
        if (o.seconds > 0)
            args.insert(args.end(), {"--seconds", fmt::format("{}", o.seconds)});
        if (!o.ready_file.empty())
            args.insert(args.end(), {"--ready-file", o.ready_file});
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        int fds[2];
        if (::pipe(fds) != 0)
            throw std::runtime_error("hiredis_peer: pipe failed");
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
        posix_spawn_file_actions_addclose(&actions, fds[0]);
        int const rc = ::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        ::close(fds[1]);
        if (rc != 0) {
            ::close(fds[0]);
            throw std::runtime_error("hiredis_peer: cannot start " + path());
        }
        out_ = fds[0];
    }
    hiredis_peer(hiredis_peer const&) = delete;
    hiredis_peer& operator=(hiredis_peer const&) = delete;
    ~hiredis_peer() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        if (out_ >= 0)
            ::close(out_);
    }

    /// Blocks until the peer exits; its parsed result line.
    peer_result wait() {
        std::string text;
        char buf[512];
        for (ssize_t n; (n = ::read(out_, buf, sizeof buf)) > 0;)
            text.append(buf, static_cast<std::size_t>(n));
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            throw std::runtime_error("hiredis_peer failed: " + text);
        peer_result r;
        r.msgs_per_s = field(text, "msgs_per_s");
        r.client_us = field(text, "cpu_us_per_msg");
        r.messages = static_cast<std::size_t>(field(text, "messages"));
        r.latency_p50_us = field(text, "latency_us_p50");
        r.latency_p99_us = field(text, "latency_us_p99");
        r.latency_p999_us = field(text, "latency_us_p999");
        return r;
    }

private:
    static double field(std::string const& text, std::string const& key) {
        auto const at = text.find(" " + key + "=");
        return at == std::string::npos ? 0.0 : std::stod(text.substr(at + key.size() + 2));
    }

    pid_t pid_ = -1;
    int out_ = -1;
};

} // namespace redstream::bench
