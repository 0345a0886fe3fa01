// The `redstream` command: bench (the main job) and operator commands.

#include "commands.hpp"

#include <redstream/version.hpp>

#include <fmt/format.h>

#include <map>

namespace {

constexpr std::string_view usage = R"(usage: redstream COMMAND [ARGS] [--url redis://[user:password@]host:port[/db]]
       redstream --version

commands:
  bench                              fill a stream, consume it with redstream, print the figures
  groups STREAM [GROUP]              consumer groups: consumers, pending, lag, per-consumer state
  pending STREAM GROUP               pending entries, oldest first, with delivery counts
  consume STREAM GROUP               print messages as JSON lines (or --exec CMD per message) and ack
  produce STREAM [field=value ...]   add entries (or JSON lines from stdin)
  dlq STREAM list|replay|purge       inspect or replay the dead-letter stream
  trim STREAM --safe                 trim only what every group has acknowledged

`redstream COMMAND --help` describes each. The URL defaults to $REDSTREAM_URL, else
redis://127.0.0.1:6379 (bench without --url starts a private redis-server).

exit codes: 0 ok, 1 failure, 2 bad arguments, 3 server unreachable, 4 authentication or
permission refused, 5 stream or group missing, 6 key is not a stream, 130 interrupted
)";

} // namespace

int main(int argc, char** argv) {
    using namespace redstream::cli;
    std::map<std::string_view, int (*)(args&)> const commands = {
        {"bench", cmd_bench},     {"groups", cmd_groups}, {"pending", cmd_pending}, {"consume", cmd_consume},
        {"produce", cmd_produce}, {"dlq", cmd_dlq},       {"trim", cmd_trim},
    };
    if (argc < 2 || std::string_view{argv[1]} == "--help" || std::string_view{argv[1]} == "-h") {
        fmt::print("{}", usage);
        return argc < 2 ? exit_usage : exit_ok;
    }
    if (std::string_view{argv[1]} == "--version") {
        fmt::print("redstream {}\n", redstream::library_version());
        return exit_ok;
    }
    auto it = commands.find(argv[1]);
    if (it == commands.end()) {
        fmt::print(stderr, "redstream: unknown command '{}'\n{}", argv[1], usage);
        return exit_usage;
    }
    args a{std::vector<std::string>(argv + 2, argv + argc)};
    try {
        return it->second(a);
    } catch (cli_error const& e) {
        fmt::print(stderr, "redstream {}: {}\n", argv[1], e.what());
        return e.code;
    } catch (std::exception const& e) {
        auto const c = classify(e);
        fmt::print(stderr, "redstream {}: {}\n", argv[1], c.what());
        return c.code;
    }
}
