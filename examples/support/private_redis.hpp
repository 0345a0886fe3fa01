#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace redstream::support {

/// A free loopback TCP port (bound and released: free now, very likely still free at once).
std::uint16_t pick_port();

/// A throw-away redis-server for demos and benchmarks run without --url: found on PATH, in a
/// temp dir, on a free loopback port, without persistence. Stopped (SIGTERM, then SIGKILL) and
/// its dir removed by the destructor, and on SIGINT/SIGTERM through stop_all_on_signal().
class private_redis {
public:
    /// `extra_args` go to redis-server after the defaults (cluster mode, say).
    explicit private_redis(std::vector<std::string> extra_args = {});
    ~private_redis();
    private_redis(private_redis const&) = delete;
    private_redis& operator=(private_redis const&) = delete;

    [[nodiscard]] std::string url() const;
    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
    [[nodiscard]] int pid() const noexcept { return pid_; }
    void stop() noexcept;

private:
    std::string dir_;
    std::uint16_t port_ = 0;
    int pid_ = -1;
};

} // namespace redstream::support
