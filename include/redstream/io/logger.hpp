#pragma once
/// @file
/// The logger value: a threshold and a sink, no global state.

#include <functional>
#include <string_view>

namespace redstream {

/// Severity of a log line, in increasing order; a logger passes lines at or above its threshold.
/// - `trace`: not used by the library today;
/// - `debug`: per-message detail (failed attempts, autoscaler holds, consumers not deleted);
/// - `info`: connects (and failed attempts before the first), claims, scaling decisions, the
///   RESP2 fallback;
/// - `warn`: lost connections, retries at start, LOADING waits, drain timeouts, dead letters;
/// - `error`: failures that need attention (refused acks, NOGROUP, code that threw);
/// - `off`: as a threshold, log nothing.
enum class log_level { trace, debug, info, warn, error, off };

/// The level's name: "trace", "debug", "info", "warn", "error" or "off" ("?" for a value
/// outside the enum).
[[nodiscard]] std::string_view to_string(log_level l) noexcept;

/// A logger is a value: a threshold and a sink. No global logger exists.
///
/// Copying a logger copies its sink. The library calls the sink synchronously on the thread of
/// the executor of the object that logs (connection, client, worker...), never from a thread of
/// its own; a sink that blocks stalls that executor. A sink should not throw: an exception
/// ends the operation or coroutine that was logging (a connection then drops and re-establishes
/// its session, a worker restarts the consumer after a second), and the library tries to log it.
class logger {
public:
    /// Receives each line passing the threshold: its level and the text (no trailing newline),
    /// valid only during the call. Passwords are never part of the text.
    using sink = std::function<void(log_level, std::string_view)>;

    /// Logs warnings and errors to stderr, as `redstream <level>: <message>`.
    logger();
    /// Passes lines at `threshold` or above to `s`; an empty `s` logs nothing.
    logger(log_level threshold, sink s);

    /// Whether a line at level `l` would reach the sink: to skip formatting it otherwise.
    [[nodiscard]] bool enabled(log_level l) const noexcept { return l >= threshold_ && sink_; }
    /// Calls the sink with `message` if enabled(l); exceptions from the sink propagate.
    void log(log_level l, std::string_view message) const {
        if (enabled(l))
            sink_(l, message);
    }

    /// A logger that drops everything.
    [[nodiscard]] static logger none() { return logger{log_level::off, {}}; }

private:
    log_level threshold_;
    sink sink_;
};

} // namespace redstream
