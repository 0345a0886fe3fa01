// The real `redstream` binary against fixture servers: outputs match what Redis says, and each
// bad input gives its message and exit code.

#include "redis_server.hpp"

#include <boost/test/unit_test.hpp>

#include <fmt/format.h>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
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

// Runs `redstream ARGS` through the shell (ARGS are shell words), capturing stdout and stderr.
outcome cli(std::string const& args, std::string const& stdin_text = {}) {
    auto const dir = std::filesystem::temp_directory_path();
    auto const tag = fmt::format("redstream-cli-{}-{}", ::getpid(), std::rand());
    auto const out_file = dir / (tag + ".out"), err_file = dir / (tag + ".err"), in_file = dir / (tag + ".in");
    {
        std::ofstream in{in_file};
        in << stdin_text;
    }
    auto const cmd = fmt::format("{} {} < {} > {} 2> {}", REDSTREAM_CLI, args, in_file.string(), out_file.string(),
                                 err_file.string());
    int const status = std::system(cmd.c_str());
    outcome o;
    o.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    auto slurp = [](std::filesystem::path const& p) {
        std::ifstream f{p};
        std::stringstream ss;
        ss << f.rdbuf();
        return ss.str();
    };
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

} // namespace

BOOST_AUTO_TEST_SUITE(cli_tests)

BOOST_AUTO_TEST_CASE(bench_with_tiny_n_prints_valid_json) {
    redis_server srv;
    auto r = cli(fmt::format("bench --url {} --messages 3000 --consumers 2 --json", srv.url()));
    BOOST_TEST(r.code == 0, r.err);
    for (auto key : {"\"produce_msgs_per_s\":", "\"consume_msgs_per_s\":", "\"client_cpu_us_per_msg\":",
                     "\"server_cpu_us_per_msg\":", "\"latency_us\":{\"p50\":", "\"p99\":", "\"p999\":",
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
    auto const log = std::filesystem::temp_directory_path() / fmt::format("redstream-cli-consume-{}.log", ::getpid());
    // The command succeeds only for "good" messages (grep reads the JSON on stdin).
    auto const cmd = fmt::format("{} consume jobs workers --url {} --start-id 0 --min-idle 100 --max-deliveries 2 "
                                 "--exec 'grep -q good' > /dev/null 2> {} & echo $!",
                                 REDSTREAM_CLI, srv.url(), log.string());
    FILE* p = ::popen(cmd.c_str(), "r");
    int pid = 0;
    BOOST_TEST_REQUIRE(std::fscanf(p, "%d", &pid) == 1);
    ::pclose(p);
    bool const dead_lettered = eventually([&] { return trim(srv.cli({"XLEN", "jobs:dlq"})) == "1"; });
    bool const all_acked = eventually([&] {
        return contains(srv.cli({"XPENDING", "jobs", "workers"}), "0") &&
               trim(srv.cli({"XPENDING", "jobs", "workers"})).starts_with("0");
    });
    ::kill(pid, SIGTERM);
    BOOST_TEST(eventually([&] { return ::kill(pid, 0) != 0; }), "consume did not exit on SIGTERM");
    BOOST_TEST(dead_lettered);
    BOOST_TEST(all_acked);
    auto const dlq = srv.cli({"XRANGE", "jobs:dlq", "-", "+"});
    BOOST_TEST(contains(dlq, "bad"), dlq);
    BOOST_TEST(contains(dlq, "exited with 1"), dlq);
    std::ifstream f{log};
    std::stringstream ss;
    ss << f.rdbuf();
    BOOST_TEST(contains(ss.str(), "1 dead-lettered"), ss.str()); // printed by the graceful stop
    std::filesystem::remove(log);
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

BOOST_AUTO_TEST_CASE(dlq_list_replay_and_purge) {
    redis_server srv;
    srv.cli({"XADD", "orders:dlq", "*", "order", "o-7", "origin_stream", "orders", "origin_id", "1-1", "origin_group",
             "g", "origin_consumer", "c", "deliveries", "5", "last_error", "boom", "dead_lettered_at_ms", "1"});
    srv.cli({"XADD", "orders:dlq", "*", "order", "o-8", "origin_stream", "orders", "last_error", "boom"});
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
