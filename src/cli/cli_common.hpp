#pragma once

// What every `redstream` subcommand shares: argument parsing, exit codes, connecting (with a
// clear message when the server is unreachable or refuses the credentials), JSON output.

#include <redstream/io/client.hpp>
#include <redstream/io/cluster_client.hpp>
#include <redstream/protocol/entry_batch.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace redstream::cli {

namespace asio = boost::asio;

/// Documented exit codes (README, `redstream --help`).
enum exit_code : int {
    exit_ok = 0,
    exit_failure = 1,       ///< anything else (a message says what)
    exit_usage = 2,         ///< bad arguments
    exit_unreachable = 3,   ///< cannot connect to the server
    exit_auth = 4,          ///< wrong password / user, or not allowed (NOPERM)
    exit_missing = 5,       ///< stream or group does not exist
    exit_wrong_type = 6,    ///< the key is not a stream
    exit_interrupted = 130, ///< stopped by SIGINT (Ctrl-C), as a shell reports it
};

/// The exit code of a command stopped by signal `signo`: exit_interrupted after SIGINT; exit_ok
/// after anything else (SIGTERM: a requested stop, e.g. by a service manager).
int exit_code_after(int signo);

/// An error with the exit code it maps to.
struct cli_error : std::runtime_error {
    cli_error(exit_code c, std::string const& what) : std::runtime_error(what), code(c) {}
    exit_code code;
};

/// `--name value`, `--name=value`, `--flag` and positionals, checked against what was asked for.
class args {
public:
    explicit args(std::vector<std::string> tokens) : tokens_(std::move(tokens)), used_(tokens_.size(), false) {}

    std::optional<std::string> option(std::string_view name);
    std::string option_or(std::string_view name, std::string fallback);
    std::uint64_t number_or(std::string_view name, std::uint64_t fallback);
    bool flag(std::string_view name);
    bool help() { return flag("--help") || flag("-h"); }
    /// Everything not consumed as an option; call after reading options. Throws on an unknown `--option`.
    std::vector<std::string> positionals();

private:
    std::vector<std::string> tokens_;
    std::vector<bool> used_;
};

/// The io_context, the client and the state of its connection for one command.
class session {
public:
    /// Connects to `url` (REDSTREAM_URL, else redis://127.0.0.1:6379 when empty); throws
    /// cli_error(exit_unreachable / exit_auth) when that fails within `timeout`.
    explicit session(std::string url, bool quiet_logs = true);
    ~session();

    asio::io_context& io() { return ioc_; }
    redstream::client& client() { return *client_; }
    std::string const& url() const { return url_; }

    /// Runs `work` to completion on the io_context (the connection keeps running beside it),
    /// rethrowing its exception as a cli_error with the right exit code.
    void run(std::function<asio::awaitable<void>()> work);

private:
    asio::io_context ioc_;
    std::string url_;
    std::unique_ptr<redstream::client> client_;
};

/// Maps server errors to exit codes: NOGROUP/no such key -> missing, WRONGTYPE -> wrong type,
/// NOAUTH/WRONGPASS/NOPERM -> auth, transport -> unreachable.
cli_error classify(std::exception const& e);

std::string json_string(std::string_view s);
/// {"stream":..,"id":..,"fields":{..}} plus extra members already rendered as `"k":v`.
std::string entry_json(std::string_view stream, entry_batch::entry_view const& e, std::string_view extra = {});

/// True when `stream` exists; false when it does not; cli_error (wrong type) for another type.
asio::awaitable<bool> stream_present(redstream::client& c, std::string const& stream);
/// Throws cli_error(exit_wrong_type) if `stream` holds another type, and cli_error(exit_missing)
/// if it does not exist, unless `may_be_missing` (commands that create it).
asio::awaitable<void> require_stream(redstream::client& c, std::string const& stream, bool may_be_missing = false);

/// The partition keys of a stream with the client that serves each: the session's on one
/// server, each key's master's on a Redis Cluster (detected from the session's URL).
struct partition_targets {
    std::unique_ptr<redstream::cluster_client> cluster; ///< set on a cluster; closed by the destructor
    std::vector<std::pair<std::string, redstream::client*>> keys;
    partition_targets() = default;
    partition_targets(partition_targets&&) = default;
    partition_targets& operator=(partition_targets&&) = default;
    ~partition_targets();
};
asio::awaitable<partition_targets> partition_clients(session& s, std::string const& stream, std::size_t partitions);

/// `"name":"value",...` of fields in order (the inside of a JSON object).
std::string fields_json(std::size_t count, std::function<field_view(std::size_t)> const& field_at);

} // namespace redstream::cli
