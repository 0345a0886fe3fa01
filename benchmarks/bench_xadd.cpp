// XADD pipelining through one redstream connection versus `redis-benchmark -P 64` against the
// same server, alternating, in one run. Prints medians and the ratio.
//
//   bench_xadd [--url URL] [--messages N] [--rounds R] [--batch B] [--coroutines C]
//
// Without --url it starts a private redis-server.

#include <redstream/io/connection.hpp>

#include "bench_common.hpp"
#include "support/private_redis.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/core.h>

#include <cstdio>
#include <optional>

namespace asio = boost::asio;
using namespace redstream;

namespace {

constexpr std::string_view key = "redstream:bench:xadd";
constexpr std::string_view value = "0123456789abcdef";

struct round_result {
    double msgs_per_s;
    double client_cpu_us_per_msg;
};

round_result run_redstream(connection& conn, asio::io_context& ioc, std::size_t messages, std::size_t batch,
                           std::size_t coroutines) {
    std::size_t sent = 0, finished = 0;
    double elapsed = 0, cpu = 0;
    bool complete = false;
    std::exception_ptr failure;
    asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
        request del;
        del.push("DEL", key);
        co_await conn.async_exec(del, adapt_ignore());
        auto ex = co_await asio::this_coro::executor;
        asio::steady_timer done{ex, std::chrono::steady_clock::time_point::max()};
        auto const cpu0 = bench::cpu_seconds();
        auto const t0 = std::chrono::steady_clock::now();
        for (std::size_t c = 0; c < coroutines; ++c)
            asio::co_spawn(ex, [&]() -> asio::awaitable<void> {
                request r;
                r.reserve(batch * 64);
                while (sent < messages) {
                    r.clear();
                    for (std::size_t k = 0; k < batch && sent < messages; ++k, ++sent)
                        r.push("XADD", key, "*", "field", value);
                    co_await conn.async_exec(r, adapt_ignore());
                }
                if (++finished == coroutines)
                    done.cancel();
            }, asio::detached);
        co_await done.async_wait(asio::as_tuple(asio::use_awaitable));
        elapsed = bench::seconds_since(t0);
        cpu = bench::cpu_seconds() - cpu0;
        std::int64_t len = 0;
        request xlen;
        xlen.push("XLEN", key);
        co_await conn.async_exec(xlen, adapt(len));
        if (static_cast<std::size_t>(len) != messages)
            throw std::runtime_error(fmt::format("XLEN {} != {}", len, messages));
        co_await conn.async_exec(del, adapt_ignore());
    }, [&](std::exception_ptr e) {
        failure = e;
        complete = true;
    });
    ioc.restart();
    while (!complete)
        ioc.run_one();
    if (failure)
        std::rethrow_exception(failure);
    return {static_cast<double>(messages) / elapsed, cpu * 1e6 / static_cast<double>(messages)};
}

// Both sides write to the same, freshly deleted key, so neither pays for a longer stream.
void delete_key(connection& conn, asio::io_context& ioc) {
    request del;
    del.push("DEL", key);
    bool done = false;
    conn.async_exec(del, adapt_ignore(), [&](error_code, std::size_t) { done = true; });
    ioc.restart();
    while (!done)
        ioc.run_one();
}

double run_redis_benchmark(connection& conn, asio::io_context& ioc, std::string const& host, std::uint16_t port,
                           std::size_t messages) {
    delete_key(conn, ioc);
    auto cmd = fmt::format("redis-benchmark -h {} -p {} -P 64 -q -n {} XADD {} '*' field {} 2>&1", host, port,
                           messages, key, value);
    std::string out;
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
        char buf[4096];
        std::size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
            out.append(buf, n);
        ::pclose(p);
    }
    // The last progress line (after '\r') holds "...: 123456.78 requests per second".
    auto pos = out.rfind(" requests per second");
    if (pos == std::string::npos)
        throw std::runtime_error("could not read redis-benchmark's output: " + out);
    auto start = out.rfind(' ', pos - 1);
    return std::stod(out.substr(start + 1, pos - start - 1));
}

} // namespace

int main(int argc, char** argv) {
    try {
        bench::args a{argc, argv};
        auto url = a.get("--url", "");
        auto const messages = a.get_size("--messages", 1'000'000);
        auto const rounds = a.get_size("--rounds", 5);
        auto const batch = a.get_size("--batch", 64);
        auto const coroutines = a.get_size("--coroutines", 16);
        a.finish();
        std::optional<support::private_redis> server;
        if (url.empty()) {
            server.emplace();
            url = server->url();
        }
        auto cfg = config::from_url(url);
        asio::io_context ioc;
        connection conn{ioc.get_executor(), cfg};
        conn.async_run([](error_code) {});

        std::vector<double> ours, theirs, cpu;
        fmt::print("XADD pipelining: {} messages per round, {} rounds, redstream batch {} x {} coroutines\n",
                   messages, rounds, batch, coroutines);
        for (std::size_t r = 0; r < rounds; ++r) {
            auto mine = run_redstream(conn, ioc, messages, batch, coroutines);
            auto rb = run_redis_benchmark(conn, ioc, cfg.host, cfg.port, messages);
            ours.push_back(mine.msgs_per_s);
            cpu.push_back(mine.client_cpu_us_per_msg);
            theirs.push_back(rb);
            fmt::print("  round {}: redstream {:>10.0f} msg/s ({:.2f} client CPU us/msg)   redis-benchmark -P 64 {:>10.0f} msg/s\n",
                       r + 1, mine.msgs_per_s, mine.client_cpu_us_per_msg, rb);
        }
        auto const m_ours = bench::median(ours), m_theirs = bench::median(theirs);
        fmt::print("median: redstream {:.0f} msg/s, redis-benchmark {:.0f} msg/s, ratio {:.2f}, client CPU {:.2f} us/msg\n",
                   m_ours, m_theirs, m_ours / m_theirs, bench::median(cpu));
        conn.close();
        ioc.restart();
        ioc.run_for(std::chrono::seconds(2)); // let the connection's coroutines unwind
        return 0;
    } catch (std::exception const& e) {
        fmt::print(stderr, "error: {}\n", e.what());
        return 2;
    }
}
