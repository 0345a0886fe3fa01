#pragma once

// A scripted stand-in for redis-server, for what a real one never does: malformed replies,
// replies nobody asked for, closing in the middle of a reply. It answers the handshake itself
// (HELLO in RESP3, or refuses it so that clients fall back to RESP2; PING, CLIENT, INFO,
// SELECT) and hands every other command to the test's script.

#include <boost/asio/any_io_executor.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace redstream::test {

class fake_server {
public:
    /// What to do about one command.
    struct action {
        std::string bytes;        ///< written as the answer (may be empty: no answer)
        bool close_after = false; ///< then close the connection
    };
    /// Called for each non-handshake command with its arguments and the connection's number
    /// (0 for the first connection accepted, 1 for the next, ...).
    using script = std::function<action(std::vector<std::string> const& command, std::size_t connection)>;

    fake_server(boost::asio::any_io_executor ex, script s);
    ~fake_server();
    fake_server(fake_server const&) = delete;
    fake_server& operator=(fake_server const&) = delete;

    [[nodiscard]] std::uint16_t port() const;
    [[nodiscard]] std::size_t connections() const noexcept;
    /// Refuse HELLO ("unknown command"), as a RESP2-only server would.
    void speak_resp2(bool on) noexcept;
    /// Stops accepting and closes every connection (call before the io_context must run dry).
    void close();

    struct state; // defined in the .cpp; named there by the serving coroutines

private:
    std::shared_ptr<state> s_;
};

} // namespace redstream::test
