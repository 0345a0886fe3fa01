#pragma once

// Runs the hiredis reference consumer (peer/hiredis_peer.c) as a child process and reads its
// one-line result. Built only when CMake finds hiredis; otherwise available() is false and the
// benchmarks print no peer columns.

#include <redstream/io/config.hpp>

#include <fmt/core.h>

#include "child_process.hpp"

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

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
    hiredis_peer(config const& server, std::string const& stream, std::string const& group, peer_options const& o)
        : process_(arguments(server, stream, group, o)) {}

    /// Blocks until the peer exits; its parsed result line.
    peer_result wait() {
        auto const text = process_.wait();
        peer_result r;
        r.msgs_per_s = child_process::field(text, "msgs_per_s");
        r.client_us = child_process::field(text, "cpu_us_per_msg");
        r.messages = static_cast<std::size_t>(child_process::field(text, "messages"));
        r.latency_p50_us = child_process::field(text, "latency_us_p50");
        r.latency_p99_us = child_process::field(text, "latency_us_p99");
        r.latency_p999_us = child_process::field(text, "latency_us_p999");
        return r;
    }

private:
    static std::vector<std::string> arguments(config const& server, std::string const& stream,
                                              std::string const& group, peer_options const& o) {
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
        return args;
    }

    child_process process_;
};

} // namespace redstream::bench
