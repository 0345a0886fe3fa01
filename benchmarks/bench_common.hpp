#pragma once

// Small helpers shared by the benchmark programs: medians, CPU time, argument parsing.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace redstream::bench {

inline double median(std::vector<double> v) {
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    auto const n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/// The p-th percentile (0..100) of `v`, nearest rank.
inline double percentile(std::vector<double> v, double p) {
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    auto idx = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(idx, v.size() - 1)];
}

/// Runs the coroutine made by `make()` on `ioc` until it finishes (other work on `ioc`, such
/// as the connection's own coroutines, keeps running too); rethrows what it threw.
template <class Make>
void run_to_completion(boost::asio::io_context& ioc, Make&& make) {
    bool done = false;
    std::exception_ptr failure;
    boost::asio::co_spawn(ioc, std::forward<Make>(make)(), [&](std::exception_ptr e) {
        failure = e;
        done = true;
    });
    ioc.restart();
    while (!done)
        ioc.run_one();
    if (failure)
        std::rethrow_exception(failure);
}

/// User+system CPU seconds of this process.
inline double cpu_seconds() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    auto tv = [](timeval t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
    return tv(ru.ru_utime) + tv(ru.ru_stime);
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// `--name value` options; unknown names are an error.
class args {
public:
    args(int argc, char** argv) : v_(argv + 1, argv + argc) {}

    std::string get(std::string_view name, std::string def) {
        for (std::size_t i = 0; i + 1 < v_.size(); ++i)
            if (v_[i] == name) {
                auto value = v_[i + 1];
                v_.erase(v_.begin() + static_cast<long>(i), v_.begin() + static_cast<long>(i) + 2);
                return value;
            }
        return def;
    }
    std::size_t get_size(std::string_view name, std::size_t def) {
        auto s = get(name, "");
        return s.empty() ? def : std::stoul(s);
    }
    void finish() const {
        if (!v_.empty())
            throw std::invalid_argument("unknown argument: " + v_.front());
    }

private:
    std::vector<std::string> v_;
};

} // namespace redstream::bench
