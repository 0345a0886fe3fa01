#pragma once

#include <redstream/io/logger.hpp>

#include <fmt/core.h>

#include <exception>
#include <string>
#include <utility>

namespace redstream::detail {

/// What an exception says: what() for a std::exception, a placeholder for anything else.
[[nodiscard]] inline std::string describe_exception(std::exception_ptr ep) {
    try {
        std::rethrow_exception(ep);
    } catch (std::exception const& e) {
        return e.what();
    } catch (...) {
        return "an exception not derived from std::exception";
    }
}

/// Logs "<context>: <what the exception says>". Never throws: it runs where an exception has
/// just been contained, and the sink is user code that may throw as well (then nothing is left
/// to report with).
template <class... Args>
void report_exception(logger const& log, log_level level, std::exception_ptr ep, fmt::format_string<Args...> context,
                      Args&&... args) noexcept {
    try {
        log.log(level, fmt::format("{}: {}", fmt::format(context, std::forward<Args>(args)...), describe_exception(ep)));
    } catch (...) {
    }
}

} // namespace redstream::detail
