#pragma once

// A TCP proxy between redstream and a real redis-server that injects what a real server cannot
// do on demand: dropped connections, stalls, 1-byte (or n-byte) writes, throttling and corrupted
// bytes, on command or at random from a seed. Runs on the test's io_context.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <random>

namespace redstream::test {

class fault_proxy {
public:
    /// Listens on a free loopback port and forwards to 127.0.0.1:upstream_port.
    fault_proxy(boost::asio::any_io_executor ex, std::uint16_t upstream_port, std::uint64_t seed = 1);
    ~fault_proxy();
    fault_proxy(fault_proxy const&) = delete;
    fault_proxy& operator=(fault_proxy const&) = delete;

    [[nodiscard]] std::uint16_t port() const;

    /// Closes every proxied connection now (both sides).
    void drop_all();
    /// Drops every connection every `period` (0 stops it).
    void drop_every(std::chrono::milliseconds period);
    /// While stalled, nothing is forwarded in either direction (bytes wait in the proxy).
    void stall(bool on);
    /// Forwards in writes of at most `bytes` (1: byte by byte; 0: as read).
    void chunk(std::size_t bytes);
    /// Sleeps this long before each forwarded write (throttling).
    void delay_each_write(std::chrono::microseconds d);
    /// Flips one random bit in server->client traffic with this probability per read from the server.
    void corrupt_replies(double probability);
    /// Stops accepting and closes everything.
    void close();

    [[nodiscard]] std::uint64_t connections() const noexcept;
    [[nodiscard]] std::uint64_t drops() const noexcept;
    [[nodiscard]] std::uint64_t corruptions() const noexcept;

private:
    struct state;
    std::shared_ptr<state> s_;
};

} // namespace redstream::test
