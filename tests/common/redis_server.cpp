#include "redis_server.hpp"

#include <boost/test/results_collector.hpp>
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace redstream::test {

namespace fs = std::filesystem;

std::uint16_t free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        throw std::runtime_error("bind failed");
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

namespace {

int run_command(std::string const& cmd) { return std::system(cmd.c_str()); }

bool can_connect(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

void make_certificates(fs::path const& dir) {
    // A CA and a server certificate for "localhost" and 127.0.0.1, made with the openssl CLI.
    std::string d = dir.string();
    std::string script =
        "cd '" + d + "' && "
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj '/CN=redstream-test-ca' >/dev/null 2>&1 && "
        "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj '/CN=localhost' >/dev/null 2>&1 && "
        "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.ext && "
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile san.ext >/dev/null 2>&1";
    if (run_command(script) != 0)
        throw std::runtime_error("openssl failed to make test certificates");
}

} // namespace

redis_server::redis_server() : redis_server(options{}) {}

redis_server::redis_server(options opts) : opts_(std::move(opts)) {
    char tmpl[] = "/tmp/redstream-test-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr)
        throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    port_ = free_port();
    if (opts_.tls) {
        tls_port_ = free_port();
        make_certificates(dir_);
    }
    write_config();
    start();
}

redis_server::~redis_server() {
    stop();
    bool failed = false;
    try {
        failed = !boost::unit_test::results_collector.results(
                      boost::unit_test::framework::current_test_case().p_id).passed();
    } catch (...) {
    }
    if (failed) {
        std::ifstream log(dir_ / "redis.log");
        std::stringstream ss;
        ss << log.rdbuf();
        BOOST_TEST_MESSAGE("redis-server log (" << dir_ << "):\n" << ss.str());
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
}

void redis_server::write_config() {
    std::ofstream c(dir_ / "redis.conf");
    c << "bind 127.0.0.1\n"
      << "port " << port_ << "\n"
      << "dir " << dir_.string() << "\n"
      << "logfile " << (dir_ / "redis.log").string() << "\n"
      << "save \"\"\n"
      << "daemonize no\n"
      << "protected-mode no\n"
      << "enable-debug-command local\n";
    c << "appendonly " << (opts_.appendonly ? "yes" : "no") << "\n";
    if (opts_.appendfsync_always)
        c << "appendfsync always\n";
    if (!opts_.requirepass.empty())
        c << "requirepass " << opts_.requirepass << "\n";
    if (!opts_.notify_keyspace_events.empty())
        c << "notify-keyspace-events " << opts_.notify_keyspace_events << "\n";
    if (opts_.unix_socket)
        c << "unixsocket " << unix_path() << "\nunixsocketperm 700\n";
    if (opts_.tls) {
        c << "tls-port " << tls_port_ << "\n"
          << "tls-cert-file " << (dir_ / "server.crt").string() << "\n"
          << "tls-key-file " << (dir_ / "server.key").string() << "\n"
          << "tls-ca-cert-file " << (dir_ / "ca.crt").string() << "\n"
          << "tls-auth-clients no\n";
    }
    if (!opts_.acl_users.empty()) {
        std::ofstream acl(dir_ / "users.acl");
        for (auto const& u : opts_.acl_users)
            acl << u << "\n";
        c << "aclfile " << (dir_ / "users.acl").string() << "\n";
    }
}

std::string redis_server::url() const {
    if (opts_.tls)
        return "rediss://localhost:" + std::to_string(tls_port_);
    return "redis://127.0.0.1:" + std::to_string(port_);
}

std::string redis_server::unix_path() const { return (dir_ / "redis.sock").string(); }

void redis_server::start() {
    std::vector<std::string> args{"redis-server", (dir_ / "redis.conf").string()};
    for (auto const& a : opts_.extra_args)
        args.push_back(a);
    pid_t pid = ::fork();
    if (pid < 0)
        throw std::runtime_error("fork failed");
    if (pid == 0) {
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execvp("redis-server", argv.data());
        std::_Exit(127);
    }
    pid_ = pid;
    wait_ready();
}

void redis_server::wait_ready() {
    // Bounded wait for an external process to listen: poll connect() for up to 10 s.
    auto const deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            throw std::runtime_error("redis-server exited at start; see " + (dir_ / "redis.log").string());
        }
        if (can_connect(port_) && (!opts_.unix_socket || fs::exists(unix_path())))
            return;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    throw std::runtime_error("redis-server did not listen within 10 s");
}

void redis_server::kill_hard() {
    if (pid_ <= 0)
        return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
}

void redis_server::stop() {
    if (pid_ <= 0)
        return;
    ::kill(pid_, SIGTERM);
    auto const deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
        if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
            pid_ = -1;
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    kill_hard();
}

std::string redis_server::cli(std::vector<std::string> const& args) const {
    std::string cmd = "redis-cli -p " + std::to_string(port_);
    if (!opts_.requirepass.empty())
        cmd += " --no-auth-warning -a '" + opts_.requirepass + "'";
    for (auto const& a : args)
        cmd += " '" + a + "'";
    std::string out;
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
        std::array<char, 4096> buf;
        std::size_t n;
        while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0)
            out.append(buf.data(), n);
        ::pclose(p);
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r'))
        out.pop_back();
    return out;
}

} // namespace redstream::test
