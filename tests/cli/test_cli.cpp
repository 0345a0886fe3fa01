// The real `redstream` binary against fixture servers: outputs match what Redis says, and each
// bad input gives its message and exit code.

#include <redstream/cluster/key_slot.hpp>
#include <redstream/cluster/partitions.hpp>
#include <redstream/version.hpp>

#include "redis_cluster.hpp"
#include "redis_server.hpp"

#include <boost/test/unit_test.hpp>

#include <fmt/format.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

using namespace redstream::test;
using namespace std::chrono_literals;

namespace {

struct outcome {
    int code = -1;
    std::string out;
    std::string err;
};

// A fresh path in the temp directory, e.g. temp_path(".out").
std::filesystem::path temp_path(std::string_view suffix) {
    return std::filesystem::temp_directory_path() /
           fmt::format("redstream-cli-{}-{}{}", ::getpid(), std::rand(), suffix);
}

std::string slurp(std::filesystem::path const& p) {
    std::ifstream f{p};
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// Runs `redstream ARGS` through the shell (ARGS are shell words), capturing stdout and stderr.
outcome cli(std::string const& args, std::string const& stdin_text = {}) {
    auto const out_file = temp_path(".out"), err_file = temp_path(".err"), in_file = temp_path(".in");
    {
        std::ofstream in{in_file};
        in << stdin_text;
    }
    auto const cmd = fmt::format("{} {} < {} > {} 2> {}", REDSTREAM_CLI, args, in_file.string(), out_file.string(),
                                 err_file.string());
    int const status = std::system(cmd.c_str());
    outcome o;
    o.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    o.out = slurp(out_file);
    o.err = slurp(err_file);
    std::filesystem::remove(out_file);
    std::filesystem::remove(err_file);
    std::filesystem::remove(in_file);
    return o;
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r'))
        s.pop_back();
    return s;
}

bool contains(std::string const& hay, std::string const& needle) { return hay.find(needle) != std::string::npos; }

// Waits (bounded) until `pred` holds, checking every 20 ms.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 15s) {
    auto const end = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > end)
            return false;
        std::this_thread::sleep_for(20ms);
    }
    return true;
}

// `redstream ARGS` running in the background (ARGS are shell words) as our own child, so a test
// can signal it and read its exit status. Killed at the end if it is still running.
class background_cli {
public:
    explicit background_cli(std::string const& args) : out_(temp_path(".out")), err_(temp_path(".err")) {
        auto const cmd =
            fmt::format("exec {} {} < /dev/null > {} 2> {}", REDSTREAM_CLI, args, out_.string(), err_.string());
        pid_ = ::fork();
        if (pid_ == 0) {
            ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
            ::_exit(127);
        }
        BOOST_TEST_REQUIRE(pid_ > 0);
    }
    ~background_cli() {
        if (!exited()) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        std::filesystem::remove(out_);
        std::filesystem::remove(err_);
    }
    background_cli(background_cli const&) = delete;
    background_cli& operator=(background_cli const&) = delete;

    void signal(int sig) const { ::kill(pid_, sig); }
    [[nodiscard]] bool exited() {
        int status = 0;
        if (!code_ && ::waitpid(pid_, &status, WNOHANG) == pid_)
            code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
        return code_.has_value();
    }
    static constexpr int still_running = -1000;
    /// Its exit code, -N if signal N killed it, or still_running if it did not exit within `limit`.
    int wait_exit(std::chrono::milliseconds limit) {
        eventually([&] { return exited(); }, limit);
        return code_.value_or(still_running);
    }
    [[nodiscard]] std::string out() const { return slurp(out_); }
    [[nodiscard]] std::string err() const { return slurp(err_); }

private:
    std::filesystem::path out_, err_;
    pid_t pid_ = -1;
    std::optional<int> code_;
};

// The pid a command wrote to `file` (`echo $$ > file`), once it is there.
std::optional<pid_t> pid_in(std::filesystem::path const& file) {
    std::optional<pid_t> pid;
    eventually([&] {
        std::ifstream f{file};
        pid_t p = 0;
        if (f >> p && p > 0)
            pid = p;
        return pid.has_value();
    });
    return pid;
}

// `--exec` for a command that writes its pid to `pid_file`, never reads its stdin and sleeps 30 s.
std::string exec_sleeper(std::filesystem::path const& pid_file) {
    return fmt::format("--exec 'echo $$ > {}; exec sleep 30'", pid_file.string());
}

// Neither running nor a zombie: its parent reaped it.
bool gone(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

// The first number of `XPENDING stream group` (the summary's count).
int pending_count(redis_server const& srv, std::string const& stream, std::string const& group) {
    return std::atoi(srv.cli({"XPENDING", stream, group}).c_str());
}

// The port `consume --metrics-port 0` said it serves on, once it said it.
std::optional<std::uint16_t> metrics_port(background_cli const& c) {
    std::optional<std::uint16_t> port;
    eventually([&] {
        auto const err = c.err();
        auto const at = err.find("on port ");
        if (at != std::string::npos)
            port = static_cast<std::uint16_t>(std::atoi(err.c_str() + at + 8));
        return port.has_value();
    });
    return port;
}

// GET `path` from 127.0.0.1:port over HTTP/1.0; "" if no reply came within `limit`.
std::string http_get(std::uint16_t port, std::string const& path, std::chrono::seconds limit) {
    int const fd = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{static_cast<time_t>(limit.count()), 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string reply;
    if (::connect(fd, reinterpret_cast<sockaddr const*>(&addr), sizeof addr) == 0) {
        auto const request = fmt::format("GET {} HTTP/1.0\r\n\r\n", path);
        if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
            char buf[4096];
            for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)
                reply.append(buf, static_cast<std::size_t>(n));
        }
    }
    ::close(fd);
    return reply;
}

// Adds a message too big for a pipe's buffer (64 KiB) to `stream`.
void add_big_message(redis_server const& srv, std::string const& stream) {
    srv.cli({"EVAL", "return redis.call(\"XADD\", KEYS[1], \"*\", \"kind\", \"big\", \"pad\", string.rep(\"x\", 200000))",
             "1", stream});
}

} // namespace

BOOST_AUTO_TEST_SUITE(cli_tests)

// The version comes from project(VERSION) through the generated header; the command reports
// the library it is built with.
BOOST_AUTO_TEST_CASE(version_prints_the_library_version) {
    auto r = cli("--version");
    BOOST_TEST(r.code == 0, r.err);
    BOOST_TEST(trim(r.out) == fmt::format("redstream {}", REDSTREAM_VERSION_STRING));
    BOOST_TEST(std::string{REDSTREAM_VERSION_STRING} == redstream::library_version());
}

BOOST_AUTO_TEST_CASE(bench_with_tiny_n_prints_valid_json) {
    redis_server srv;
    auto r = cli(fmt::format("bench --url {} --messages 3000 --consumers 2 --json", srv.url()));
    BOOST_TEST(r.code == 0, r.err);
    for (auto key : {"\"produce_msgs_per_s\":", "\"consume_msgs_per_s\":", "\"client_cpu_us_per_msg\":",
                     "\"server_cpu_us_per_msg\":", "\"server_busy_pct\":", "\"latency_us\":{\"p50\":", "\"p99\":", "\"p999\":",
                     "\"peak_rss_bytes\":", "\"consumers_max\":2", "\"messages\":3000", "\"acked\":3000", "\"lost\":0"})
        BOOST_TEST(contains(r.out, key), key << " missing in " << r.out);
    BOOST_TEST(r.out.front() == '{');
    BOOST_TEST(trim(r.out).back() == '}');
    // Only its own key was used, and it is gone.
    BOOST_TEST(trim(srv.cli({"DBSIZE"})) == "0");
}

BOOST_AUTO_TEST_CASE(bench_without_url_runs_a_private_server_and_autoscales) {
    auto r = cli("bench --messages 2000 --consumers auto --handler-io-ms 1 --json");
    BOOST_TEST(r.code == 0, r.err);
    BOOST_TEST(contains(r.out, "\"lost\":0"), r.out);
    BOOST_TEST(contains(r.out, "\"consumers\":\"auto\""), r.out);
}

BOOST_AUTO_TEST_CASE(groups_and_pending_match_xinfo_and_xpending) {
    redis_server srv;
    for (int i = 0; i < 10; ++i)
        srv.cli({"XADD", "orders", "*", "n", std::to_string(i)});
    srv.cli({"XGROUP", "CREATE", "orders", "billing", "0"});
    srv.cli({"XGROUP", "CREATE", "orders", "audit", "$"});
    srv.cli({"XREADGROUP", "GROUP", "billing", "alice", "COUNT", "3", "STREAMS", "orders", ">"});
    srv.cli({"XREADGROUP", "GROUP", "billing", "bob", "COUNT", "1", "STREAMS", "orders", ">"});

    auto g = cli(fmt::format("groups orders billing --url {} --json", srv.url()));
    BOOST_TEST(g.code == 0, g.err);
    BOOST_TEST(contains(g.out, "\"group\":\"billing\""), g.out);
    BOOST_TEST(contains(g.out, "\"pending\":4,\"lag\":6"), g.out); // 4 delivered unacked, 6 never delivered
    BOOST_TEST(contains(g.out, "{\"name\":\"alice\",\"pending\":3"), g.out);
    BOOST_TEST(contains(g.out, "{\"name\":\"bob\",\"pending\":1"), g.out);

    auto table = cli(fmt::format("groups orders --url {}", srv.url()));
    BOOST_TEST(table.code == 0);
    BOOST_TEST(contains(table.out, "stream orders: 10 entries"), table.out);
    BOOST_TEST(contains(table.out, "audit"));
    BOOST_TEST(contains(table.out, "billing"));

    auto p = cli(fmt::format("pending orders billing --url {} --json", srv.url()));
    BOOST_TEST(p.code == 0, p.err);
    auto const xpending = srv.cli({"XPENDING", "orders", "billing", "-", "+", "100"});
    std::size_t lines = 0;
    std::istringstream in{p.out};
    for (std::string line; std::getline(in, line);) {
        ++lines;
        BOOST_TEST(contains(line, "\"deliveries\":1"), line);
        auto const id = line.substr(7, line.find('"', 7) - 7); // {"id":"<id>"
        BOOST_TEST(contains(xpending, id), id);
    }
    BOOST_TEST(lines == 4u);
    auto bob = cli(fmt::format("pending orders billing --consumer bob --url {} --json", srv.url()));
    BOOST_TEST(std::count(bob.out.begin(), bob.out.end(), '\n') == 1);
    BOOST_TEST(contains(bob.out, "\"consumer\":\"bob\""));
}

BOOST_AUTO_TEST_CASE(consume_exec_acks_successes_and_dead_letters_failures) {
    redis_server srv;
    srv.cli({"XADD", "jobs", "*", "v", "good"});
    srv.cli({"XADD", "jobs", "*", "v", "bad"});
    srv.cli({"XADD", "jobs", "*", "v", "good"});
    // The command succeeds only for "good" messages (grep reads the JSON on stdin).
    background_cli consume{fmt::format("consume jobs workers --url {} --start-id 0 --min-idle 100 --max-deliveries 2 "
                                       "--exec 'grep -q good'",
                                       srv.url())};
    bool const dead_lettered = eventually([&] { return trim(srv.cli({"XLEN", "jobs:dlq"})) == "1"; });
    bool const all_acked = eventually([&] {
        return contains(srv.cli({"XPENDING", "jobs", "workers"}), "0") &&
               trim(srv.cli({"XPENDING", "jobs", "workers"})).starts_with("0");
    });
    consume.signal(SIGTERM);
    BOOST_TEST(consume.wait_exit(15s) == 0, "consume did not exit with 0 on SIGTERM");
    BOOST_TEST(dead_lettered);
    BOOST_TEST(all_acked);
    auto const dlq = srv.cli({"XRANGE", "jobs:dlq", "-", "+"});
    BOOST_TEST(contains(dlq, "bad"), dlq);
    BOOST_TEST(contains(dlq, "exited with 1"), dlq);
    BOOST_TEST(contains(consume.err(), "1 dead-lettered"), consume.err()); // printed by the graceful stop
}

// Issue 11: the child gets its stdin asynchronously. One that never reads a message bigger than
// the pipe's buffer used to block the I/O thread in write(): no health check, no signal handled.
BOOST_AUTO_TEST_CASE(consume_exec_child_that_does_not_read_stalls_nothing) {
    redis_server srv;
    add_big_message(srv, "s");
    auto const pid_file = temp_path(".pid");
    background_cli consume{
        fmt::format("consume s g --url {} --start-id 0 --metrics-port 0 {}", srv.url(), exec_sleeper(pid_file))};
    auto const port = metrics_port(consume);
    BOOST_TEST_REQUIRE(port.has_value(), consume.err());
    auto const child = pid_in(pid_file); // from here on the old code sat in write()
    BOOST_TEST_REQUIRE(child.has_value());
    auto const health = http_get(*port, "/healthz", 5s);
    BOOST_TEST(health.starts_with("HTTP/1.0 "), "no /healthz reply while the child stalls: " << health);
    // It exits once the 10 s stdin timeout (or drain timeout) killed the child.
    consume.signal(SIGINT);
    BOOST_TEST(consume.wait_exit(25s) == 130, consume.err());
    BOOST_TEST(gone(*child), "the stalled child was left behind");
    BOOST_TEST(pending_count(srv, "s", "g") == 1); // failed: stays pending
    std::filesystem::remove(pid_file);
}

// Issue 11: a child that does not take its stdin within --stdin-timeout is killed, reaped, and the
// attempt fails (here dead-lettered at once, to see the reason).
BOOST_AUTO_TEST_CASE(consume_exec_stdin_timeout_kills_the_child_and_fails_the_attempt) {
    redis_server srv;
    add_big_message(srv, "s");
    auto const pid_file = temp_path(".pid");
    background_cli consume{fmt::format("consume s g --url {} --start-id 0 --max-deliveries 1 --stdin-timeout 300 {}",
                                       srv.url(), exec_sleeper(pid_file))};
    auto const child = pid_in(pid_file);
    BOOST_TEST_REQUIRE(child.has_value());
    BOOST_TEST(eventually([&] { return trim(srv.cli({"XLEN", "s:dlq"})) == "1"; }, 10s), consume.err());
    BOOST_TEST(gone(*child), "the child was not killed and reaped");
    BOOST_TEST(!consume.exited()); // reaped by consume itself, not by init after it exited
    auto const reason = srv.cli({"EVAL",
                                 "local f = redis.call(\"XRANGE\", KEYS[1], \"-\", \"+\")[1][2] "
                                 "for i = 1, #f, 2 do if f[i] == \"last_error\" then return f[i + 1] end end",
                                 "1", "s:dlq"});
    BOOST_TEST(contains(reason, "did not read its stdin within 300 ms"), reason);
    consume.signal(SIGTERM);
    BOOST_TEST(consume.wait_exit(10s) == 0, consume.err());
    std::filesystem::remove(pid_file);
}

// Issue 11: a handler cancelled at the drain deadline used to leave its child running, unreaped.
BOOST_AUTO_TEST_CASE(consume_reaps_the_children_of_cancelled_handlers) {
    redis_server srv;
    srv.cli({"XADD", "s", "*", "k", "v"});
    auto const pid_file = temp_path(".pid");
    background_cli consume{fmt::format("consume s g --url {} --start-id 0 {}", srv.url(), exec_sleeper(pid_file))};
    auto const child = pid_in(pid_file);
    BOOST_TEST_REQUIRE(child.has_value());
    consume.signal(SIGINT); // the handler is cancelled after the 10 s drain timeout
    BOOST_TEST(consume.wait_exit(25s) != background_cli::still_running, consume.err());
    BOOST_TEST(gone(*child), "the cancelled handler's child is still there");
    BOOST_TEST(pending_count(srv, "s", "g") == 1); // its message stays pending
    std::filesystem::remove(pid_file);
}

// Issue 11: the first signal drains (here for up to a minute); the second stops at once.
BOOST_AUTO_TEST_CASE(consume_second_signal_stops_at_once) {
    redis_server srv;
    srv.cli({"XADD", "s", "*", "k", "v"});
    auto const pid_file = temp_path(".pid");
    background_cli consume{fmt::format("consume s g --url {} --start-id 0 --drain-timeout 60000 {}", srv.url(),
                                       exec_sleeper(pid_file))};
    auto const child = pid_in(pid_file);
    BOOST_TEST_REQUIRE(child.has_value());
    consume.signal(SIGINT);
    // Wait until the first one was handled: two signals sent at once may arrive as one.
    BOOST_TEST(eventually([&] { return contains(consume.err(), "signal again to stop at once"); }), consume.err());
    BOOST_TEST(!consume.exited()); // draining: the handler still runs
    consume.signal(SIGINT);
    BOOST_TEST(consume.wait_exit(5s) == 130, consume.err());
    BOOST_TEST(gone(*child), "the child outlived the forced stop");
    BOOST_TEST(pending_count(srv, "s", "g") == 1); // never acked: redelivered later
    std::filesystem::remove(pid_file);
}

// Issue 11: `consume` exits 130 after SIGINT, as the usage text says, and 0 after SIGTERM.
BOOST_AUTO_TEST_CASE(consume_exit_code_says_which_signal_stopped_it) {
    redis_server srv;
    for (auto const& [sig, code] : {std::pair{SIGINT, 130}, std::pair{SIGTERM, 0}}) {
        srv.cli({"XADD", "s", "*", "k", "v"});
        background_cli consume{fmt::format("consume s g --url {} --start-id 0", srv.url())};
        // Running (it handled and acked the new message): its signal handlers are in place.
        BOOST_TEST_REQUIRE(eventually([&] {
            auto const out = consume.out();
            return std::count(out.begin(), out.end(), '\n') == 1 && pending_count(srv, "s", "g") == 0;
        }));
        consume.signal(sig);
        BOOST_TEST(consume.wait_exit(10s) == code, "signal " << sig << ": " << consume.err());
    }
}

// Issue 11: `groups --watch` ends at once on SIGINT (130) and SIGTERM (0). It used to notice SIGINT
// only after its refresh interval (a minute here), and SIGTERM killed it (no exit code).
BOOST_AUTO_TEST_CASE(groups_watch_stops_at_once_on_sigint_and_sigterm) {
    redis_server srv;
    srv.cli({"XADD", "s", "*", "k", "v"});
    srv.cli({"XGROUP", "CREATE", "s", "g", "0"});
    for (auto const& [sig, code] : {std::pair{SIGINT, 130}, std::pair{SIGTERM, 0}}) {
        background_cli watch{fmt::format("groups s --watch 60000 --url {}", srv.url())};
        BOOST_TEST_REQUIRE(eventually([&] { return contains(watch.out(), "stream s: 1 entries"); }), watch.err());
        watch.signal(sig);
        BOOST_TEST(watch.wait_exit(5s) == code, "signal " << sig << ": " << watch.err());
    }
}

BOOST_AUTO_TEST_CASE(consume_prints_json_lines) {
    redis_server srv;
    srv.cli({"XADD", "s", "*", "name", "a \"quoted\" value"});
    auto r = cli(fmt::format("consume s g --url {} --start-id 0 --count 1", srv.url()));
    BOOST_TEST(r.code == 0, r.err);
    BOOST_TEST(contains(r.out, "\"fields\":{\"name\":\"a \\\"quoted\\\" value\"}"), r.out);
    BOOST_TEST(contains(r.out, "\"deliveries\":1"));
    BOOST_TEST(trim(srv.cli({"XPENDING", "s", "g"})).starts_with("0"));
}

BOOST_AUTO_TEST_CASE(produce_from_arguments_and_stdin) {
    redis_server srv;
    auto a = cli(fmt::format("produce s k=v x=1 --count 3 --url {}", srv.url()));
    BOOST_TEST(a.code == 0, a.err);
    BOOST_TEST(trim(srv.cli({"XLEN", "s"})) == "3");
    auto b = cli(fmt::format("produce t --url {} --ids", srv.url()), "{\"order\":\"o-1\",\"amount\":12.5}\n\n{\"order\":\"o-2\"}\n");
    BOOST_TEST(b.code == 0, b.err);
    BOOST_TEST(std::count(b.out.begin(), b.out.end(), '\n') == 2);
    auto const entries = srv.cli({"XRANGE", "t", "-", "+"});
    BOOST_TEST(contains(entries, "o-1"));
    BOOST_TEST(contains(entries, "12.5"));
    BOOST_TEST(contains(entries, "o-2"));
    auto bad = cli(fmt::format("produce t --url {}", srv.url()), "not json\n");
    BOOST_TEST(bad.code == 2);
    BOOST_TEST(contains(bad.err, "stdin line 1"), bad.err);
}

// On a cluster (detected from --url): produce by key to one partition, round-robin to all, then
// consume every partition.
BOOST_AUTO_TEST_CASE(produce_and_consume_partitions_on_a_cluster) {
    redis_cluster cluster{3};
    auto by_key = cli(fmt::format("produce orders customer=c1 --count 20 --partitions 6 --key customer --url {}",
                                  cluster.url()));
    BOOST_TEST(by_key.code == 0, by_key.err);
    auto spread = cli(fmt::format("produce orders n=1 --count 12 --partitions 6 --url {}", cluster.url()));
    BOOST_TEST(spread.code == 0, spread.err);
    // XLEN of each partition on whichever master answers it (the others reply MOVED).
    auto const xlen = [&](std::string const& key) {
        for (auto const& n : cluster.nodes())
            if (auto const out = trim(n->cli({"XLEN", key})); !out.empty() && std::isdigit(out[0]))
                return std::stoi(out);
        return -1;
    };
    auto const c1 = redstream::cluster::partition_of("c1", 6);
    for (std::size_t p = 0; p < 6; ++p)
        BOOST_TEST(xlen(redstream::cluster::partition_key("orders", p, 6)) == (p == c1 ? 22 : 2), "partition " << p);
    auto consumed = cli(fmt::format("consume orders g --start-id 0 --partitions 6 --count 32 --url {}", cluster.url()));
    BOOST_TEST(consumed.code == 0, consumed.err);
    BOOST_TEST(std::count(consumed.out.begin(), consumed.out.end(), '\n') == 32);
    BOOST_TEST(contains(consumed.err, "6 partitions"), consumed.err);
    auto groups = cli(fmt::format("groups orders --partitions 6 --url {}", cluster.url()));
    BOOST_TEST(groups.code == 0, groups.err);
    BOOST_TEST(contains(groups.out, "totals over 6 partitions"), groups.out);
    auto groups_json = cli(fmt::format("groups orders g --partitions 6 --json --url {}", cluster.url()));
    BOOST_TEST(groups_json.code == 0, groups_json.err);
    std::size_t partitions_listed = 0;
    for (auto at = groups_json.out.find("\"stream\""); at != std::string::npos; at = groups_json.out.find("\"stream\"", at + 1))
        ++partitions_listed;
    BOOST_TEST(partitions_listed == 6u, groups_json.out);
    std::size_t drained = 0; // every partition's group read to the end
    for (auto at = groups_json.out.find("\"lag\":0,"); at != std::string::npos; at = groups_json.out.find("\"lag\":0,", at + 1))
        ++drained;
    BOOST_TEST(drained == 6u, groups_json.out);
    // Owned: one process takes every partition's lease, reads them in order, gives them back.
    auto owned = cli(fmt::format("consume orders owned --start-id 0 --partitions 6 --assignment owned --lease-ttl 1000 "
                                 "--count 32 --metrics-port 0 --url {}",
                                 cluster.url()));
    BOOST_TEST(owned.code == 0, owned.err);
    BOOST_TEST(contains(owned.err, "serving /metrics and /healthz on port"), owned.err);
    BOOST_TEST(std::count(owned.out.begin(), owned.out.end(), '\n') == 32);
    BOOST_TEST(contains(owned.err, "6 leases taken"), owned.err);

    // Admin per partition. Partition 0 gets a group with 2 entries pending, partition 1 a dead
    // letter; commands run on the master that owns each key.
    auto const on_owner = [&](std::string const& key, std::vector<std::string> const& args) {
        for (auto const& n : cluster.nodes())
            if (trim(n->cli({"CLUSTER", "COUNTKEYSINSLOT", std::to_string(redstream::cluster::key_slot(key))})) != "0")
                return n->cli(args);
        return std::string{};
    };
    auto const p0 = redstream::cluster::partition_key("orders", 0, 6);
    auto const p1 = redstream::cluster::partition_key("orders", 1, 6);
    on_owner(p0, {"XGROUP", "CREATE", p0, "g2", "0"});
    on_owner(p0, {"XREADGROUP", "GROUP", "g2", "c", "COUNT", "2", "STREAMS", p0, ">"});
    on_owner(p1, {"XADD", p1 + ":dlq", "*", "order", "o-1"});
    auto pending = cli(fmt::format("pending orders g2 --partitions 6 --url {}", cluster.url()));
    BOOST_TEST(pending.code == 0, pending.err);
    BOOST_TEST(contains(pending.out, "2 pending listed over 6 partitions (6 present, 1 with the group)"), pending.out);
    auto pending_json = cli(fmt::format("pending orders g2 --partitions 6 --json --url {}", cluster.url()));
    BOOST_TEST(std::count(pending_json.out.begin(), pending_json.out.end(), '\n') == 2);
    BOOST_TEST(contains(pending_json.out, fmt::format("\"stream\":\"{}\"", p0)), pending_json.out);
    auto dlq_list = cli(fmt::format("dlq orders list --partitions 6 --url {}", cluster.url()));
    BOOST_TEST(dlq_list.code == 0, dlq_list.err);
    BOOST_TEST(std::count(dlq_list.out.begin(), dlq_list.out.end(), '\n') == 1);
    BOOST_TEST(contains(dlq_list.out, "o-1"), dlq_list.out);
    auto replay = cli(fmt::format("dlq orders replay --partitions 6 --url {}", cluster.url()));
    BOOST_TEST(contains(replay.out, fmt::format("replayed 1 entries from {}:dlq to {}", p1, p1)), replay.out);
    BOOST_TEST(contains(replay.out, "1 of 6 partitions had a dead-letter stream"), replay.out);
    BOOST_TEST(xlen(p1) == 3);
    auto const before = [&] {
        int n = 0;
        for (std::size_t p = 0; p < 6; ++p)
            n += xlen(redstream::cluster::partition_key("orders", p, 6));
        return n;
    }();
    auto trimmed = cli(fmt::format("trim orders --safe --partitions 6 --url {}", cluster.url()));
    BOOST_TEST(trimmed.code == 0, trimmed.err);
    // Partition 0 keeps everything (g2 still needs its first entry), partition 1 the replayed
    // entry (no group has read it); every other entry was acknowledged by every group.
    auto const kept = xlen(p0) + 1;
    BOOST_TEST(contains(trimmed.out, fmt::format("trimmed {} entries over 6 partitions (6 present)", before - kept)),
               trimmed.out);
    BOOST_TEST(xlen(p1) == 1);

    auto bad = cli(fmt::format("produce orders k=v --key k --url {}", cluster.url()));
    BOOST_TEST(bad.code == 2);
    auto bad_mode = cli(fmt::format("consume orders g --partitions 6 --assignment mine --url {}", cluster.url()));
    BOOST_TEST(bad_mode.code == 2, bad_mode.err);
    auto owned_alone = cli(fmt::format("consume orders g --assignment owned --url {}", cluster.url()));
    BOOST_TEST(owned_alone.code == 2, owned_alone.err);
}

BOOST_AUTO_TEST_CASE(dlq_list_replay_and_purge) {
    redis_server srv;
    srv.cli({"XADD", "orders:dlq", "*", "order", "o-7", "origin_stream", "orders", "origin_id", "1-1", "origin_group",
             "g", "origin_consumer", "c", "deliveries", "5", "last_error", "boom", "dead_lettered_at_ms", "1"});
    srv.cli({"XADD", "orders:dlq", "*", "order", "o-8"}); // no worker metadata (added by hand): replayed as it is
    auto l = cli(fmt::format("dlq orders list --url {}", srv.url()));
    BOOST_TEST(l.code == 0, l.err);
    BOOST_TEST(std::count(l.out.begin(), l.out.end(), '\n') == 2);
    BOOST_TEST(contains(l.out, "\"last_error\":\"boom\""));
    auto r = cli(fmt::format("dlq orders replay --url {}", srv.url()));
    BOOST_TEST(r.code == 0, r.err);
    BOOST_TEST(contains(r.out, "replayed 2 entries"), r.out);
    BOOST_TEST(trim(srv.cli({"XLEN", "orders:dlq"})) == "0");
    auto const replayed = srv.cli({"XRANGE", "orders", "-", "+"});
    BOOST_TEST(contains(replayed, "o-7"));
    BOOST_TEST(contains(replayed, "o-8"));
    BOOST_TEST(!contains(replayed, "last_error"), replayed); // metadata stripped
    srv.cli({"XADD", "orders:dlq", "*", "order", "o-9"});
    auto no = cli(fmt::format("dlq orders purge --url {}", srv.url()));
    BOOST_TEST(no.code == 2);
    auto yes = cli(fmt::format("dlq orders purge --yes --url {}", srv.url()));
    BOOST_TEST(yes.code == 0, yes.err);
    BOOST_TEST(trim(srv.cli({"EXISTS", "orders:dlq"})) == "0");
}

// Issue 11: replay used to drop a message's own fields named like the metadata (and to read the
// origin from them). Only the block the worker appended is metadata.
BOOST_AUTO_TEST_CASE(dlq_replay_keeps_the_messages_own_fields_named_like_metadata) {
    redis_server srv;
    srv.cli({"XADD", "orders", "*", "order", "o-1", "origin_stream", "elsewhere", "deliveries", "3", "last_error",
             "mine"});
    auto c = cli(fmt::format("consume orders billing --url {} --start-id 0 --exec false --max-deliveries 1 --count 1",
                             srv.url()));
    BOOST_TEST(c.code == 0, c.err);
    BOOST_TEST_REQUIRE(trim(srv.cli({"XLEN", "orders:dlq"})) == "1"); // dead-lettered by the real worker
    auto r = cli(fmt::format("dlq orders replay --url {}", srv.url()));
    BOOST_TEST(r.code == 0, r.err);
    BOOST_TEST(contains(r.out, "replayed 1 entries"), r.out);
    BOOST_TEST(trim(srv.cli({"XLEN", "orders:dlq"})) == "0");
    auto const replayed =
        srv.cli({"EVAL", "return redis.call(\"XREVRANGE\", KEYS[1], \"+\", \"-\", \"COUNT\", 1)[1][2]", "1", "orders"});
    BOOST_TEST(replayed == "order\no-1\norigin_stream\nelsewhere\ndeliveries\n3\nlast_error\nmine");
}

BOOST_AUTO_TEST_CASE(trim_safe_keeps_unacknowledged_entries) {
    redis_server srv;
    for (int i = 0; i < 10; ++i)
        srv.cli({"XADD", "s", "*", "n", std::to_string(i)});
    srv.cli({"XGROUP", "CREATE", "s", "g", "0"});
    // Deliver 6, ack the first 4: entries 5 and 6 are pending, 7..10 undelivered.
    srv.cli({"XREADGROUP", "GROUP", "g", "c", "COUNT", "6", "STREAMS", "s", ">"});
    std::vector<std::string> id_list;
    std::istringstream in{srv.cli({"EVAL", "local r = {} for _, e in ipairs(redis.call(\"XRANGE\", KEYS[1], \"-\", \"+\")) do r[#r+1] = e[1] end return r", "1", "s"})};
    for (std::string line; std::getline(in, line);)
        if (!line.empty())
            id_list.push_back(line);
    BOOST_TEST_REQUIRE(id_list.size() == 10u);
    srv.cli({"XACK", "s", "g", id_list[0], id_list[1], id_list[2], id_list[3]});
    auto dry = cli(fmt::format("trim s --safe --dry-run --url {}", srv.url()));
    BOOST_TEST(dry.code == 0, dry.err);
    BOOST_TEST(contains(dry.out, "would trim s (length 10) with MINID " + id_list[4]), dry.out);
    BOOST_TEST(trim(srv.cli({"XLEN", "s"})) == "10");
    auto real = cli(fmt::format("trim s --safe --url {}", srv.url()));
    BOOST_TEST(real.code == 0, real.err);
    BOOST_TEST(trim(srv.cli({"XLEN", "s"})) == "6");
    auto const first = srv.cli({"XRANGE", "s", "-", "+", "COUNT", "1"});
    BOOST_TEST(contains(first, id_list[4]), first); // the oldest pending entry is kept
    auto unsafe = cli(fmt::format("trim s --url {}", srv.url()));
    BOOST_TEST(unsafe.code == 2);
}

BOOST_AUTO_TEST_CASE(bad_inputs_give_clear_messages_and_exit_codes) {
    redis_server::options o;
    o.requirepass = "s3cret";
    redis_server srv{o};
    auto const url = fmt::format("redis://:s3cret@127.0.0.1:{}", srv.port());
    srv.cli({"SET", "plain", "x"});

    auto unknown = cli("frobnicate");
    BOOST_TEST(unknown.code == 2);
    BOOST_TEST(contains(unknown.err, "unknown command 'frobnicate'"));
    auto bad_option = cli(fmt::format("groups s --url {} --bogus", url));
    BOOST_TEST(bad_option.code == 2);
    BOOST_TEST(contains(bad_option.err, "unknown option --bogus"), bad_option.err);
    auto missing_arg = cli("pending onlyone");
    BOOST_TEST(missing_arg.code == 2);

    // Nothing listens on port 1.
    auto unreachable = cli("groups s --url redis://127.0.0.1:1");
    BOOST_TEST(unreachable.code == 3);
    BOOST_TEST(contains(unreachable.err, "cannot connect to redis://127.0.0.1:1"), unreachable.err);

    auto wrong_pass = cli(fmt::format("groups s --url redis://:nope@127.0.0.1:{}", srv.port()));
    BOOST_TEST(wrong_pass.code == 4, wrong_pass.err);
    BOOST_TEST(contains(wrong_pass.err, "refused the credentials"), wrong_pass.err);
    BOOST_TEST(!contains(wrong_pass.err, "nope")); // never print the password

    auto missing_stream = cli(fmt::format("groups nostream --url {}", url));
    BOOST_TEST(missing_stream.code == 5);
    BOOST_TEST(contains(missing_stream.err, "stream 'nostream' does not exist"), missing_stream.err);

    srv.cli({"XADD", "s", "*", "k", "v"});
    auto missing_group = cli(fmt::format("groups s nogroup --url {}", url));
    BOOST_TEST(missing_group.code == 5);
    BOOST_TEST(contains(missing_group.err, "group 'nogroup' does not exist"), missing_group.err);
    auto missing_group_pending = cli(fmt::format("pending s nogroup --url {}", url));
    BOOST_TEST(missing_group_pending.code == 5, missing_group_pending.err);

    auto wrong_type = cli(fmt::format("groups plain --url {}", url));
    BOOST_TEST(wrong_type.code == 6);
    BOOST_TEST(contains(wrong_type.err, "'plain' is a string, not a stream"), wrong_type.err);
    auto wrong_type_consume = cli(fmt::format("consume plain g --url {}", url));
    BOOST_TEST(wrong_type_consume.code == 6, wrong_type_consume.err);

    auto help = cli("consume --help");
    BOOST_TEST(help.code == 0);
    BOOST_TEST(contains(help.out, "usage: redstream consume"));
}

BOOST_AUTO_TEST_SUITE_END()
