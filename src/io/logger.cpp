#include <redstream/io/logger.hpp>

#include <fmt/core.h>

#include <cstdio>

namespace redstream {

std::string_view to_string(log_level l) noexcept {
    switch (l) {
    case log_level::trace: return "trace";
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warn: return "warn";
    case log_level::error: return "error";
    case log_level::off: return "off";
    }
    return "?";
}

logger::logger()
    : threshold_(log_level::warn), sink_([](log_level l, std::string_view m) {
          fmt::print(stderr, "redstream {}: {}\n", to_string(l), m);
      }) {}

logger::logger(log_level threshold, sink s) : threshold_(threshold), sink_(std::move(s)) {}

} // namespace redstream
