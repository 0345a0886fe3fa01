#pragma once

#include <functional>
#include <string_view>

namespace redstream {

enum class log_level { trace, debug, info, warn, error, off };

[[nodiscard]] std::string_view to_string(log_level l) noexcept;

/// A logger is a value: a threshold and a sink. No global logger exists.
class logger {
public:
    using sink = std::function<void(log_level, std::string_view)>;

    /// Logs warnings and errors to stderr.
    logger();
    logger(log_level threshold, sink s);

    [[nodiscard]] bool enabled(log_level l) const noexcept { return l >= threshold_ && sink_; }
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
