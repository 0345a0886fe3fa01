#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace redstream::test {

/// A private redis-server for one test: a free loopback port, its own temp dir, stopped by pid.
/// Its log is printed when a test using it failed (see keep_log_on_failure()).
class redis_server {
public:
    struct options {
        bool appendonly = false;
        bool appendfsync_always = false;
        std::string requirepass;
        std::vector<std::string> acl_users;  ///< lines for the ACL file, e.g. "user app on >pw ~events:* +@stream"
        std::string notify_keyspace_events;
        bool unix_socket = false;
        bool tls = false;                    ///< TLS port with certificates made by the openssl CLI
        std::vector<std::string> extra_args; ///< appended as-is ("--rename-command", "HELLO", "")
    };

    redis_server();
    explicit redis_server(options opts);
    ~redis_server();
    redis_server(redis_server const&) = delete;
    redis_server& operator=(redis_server const&) = delete;

    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
    [[nodiscard]] std::string url() const;       ///< redis://127.0.0.1:port (TLS: rediss://localhost:tls_port)
    [[nodiscard]] std::string unix_path() const; ///< socket path when options::unix_socket
    [[nodiscard]] std::filesystem::path const& dir() const noexcept { return dir_; }
    [[nodiscard]] std::filesystem::path ca_file() const { return dir_ / "ca.crt"; }
    [[nodiscard]] std::uint16_t tls_port() const noexcept { return tls_port_; }
    [[nodiscard]] int pid() const noexcept { return pid_; }

    /// SIGKILL the server (a crash) or SIGTERM it and wait.
    void kill_hard();
    void stop();
    /// Starts it again on the same port and dir (after stop() or kill_hard()).
    void start();
    /// Runs redis-cli against it and returns stdout (test set-up and checks only).
    std::string cli(std::vector<std::string> const& args) const;

private:
    void write_config();
    void wait_ready();

    options opts_;
    std::filesystem::path dir_;
    std::uint16_t port_ = 0;
    std::uint16_t tls_port_ = 0;
    int pid_ = -1;
};

/// A free loopback TCP port (bound then released; the OS does not reuse it at once).
std::uint16_t free_port();

} // namespace redstream::test
