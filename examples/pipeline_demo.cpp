// The demo run by scripts/demo: many coroutines pipeline XADDs through one connection, then
// read everything back with XRANGE and check it. Without --url it starts a private
// redis-server and stops it at the end (Ctrl-C included).
//
//   pipeline_demo [--url redis://host:port] [--messages N] [--coroutines C]

#include <redstream/connection.hpp>
#include <redstream/stream_readers.hpp>

#include "support/private_redis.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/core.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

namespace asio = boost::asio;
using namespace redstream;

namespace {

struct options {
    std::string url;
    std::size_t messages = 200'000;
    std::size_t coroutines = 64;
};

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc)
                throw std::invalid_argument(fmt::format("{} needs a value", a));
            return argv[++i];
        };
        if (a == "--url")
            o.url = value();
        else if (a == "--messages")
            o.messages = std::stoul(value());
        else if (a == "--coroutines")
            o.coroutines = std::stoul(value());
        else if (a == "--help" || a == "-h") {
            fmt::print("usage: pipeline_demo [--url URL] [--messages N] [--coroutines C]\n");
            std::exit(0);
        } else
            throw std::invalid_argument(fmt::format("unknown argument {}", a));
    }
    return o;
}

asio::awaitable<int> demo(connection& conn, options const& o) {
    auto ex = co_await asio::this_coro::executor;
    std::string const stream = "redstream:demo";
    request del;
    del.push("DEL", stream);
    co_await conn.async_exec(del, adapt_ignore());

    // Each coroutine sends batches of 64 XADDs; all share the one connection.
    auto const start = std::chrono::steady_clock::now();
    std::size_t next = 0, finished = 0;
    auto done = std::make_shared<asio::steady_timer>(ex, std::chrono::steady_clock::time_point::max());
    for (std::size_t c = 0; c < o.coroutines; ++c) {
        asio::co_spawn(ex, [&]() -> asio::awaitable<void> {
            request r;
            while (next < o.messages) {
                r.clear();
                for (int k = 0; k < 64 && next < o.messages; ++k, ++next)
                    r.push("XADD", stream, "*", "seq", next, "payload", "0123456789abcdef");
                co_await conn.async_exec(r, adapt_ignore());
            }
            if (++finished == o.coroutines)
                done->cancel();
        }, asio::detached);
    }
    co_await done->async_wait(asio::as_tuple(asio::use_awaitable));
    auto const produced = std::chrono::steady_clock::now();

    // Read everything back in pages and check every sequence number arrived once.
    std::vector<bool> seen(o.messages);
    std::size_t count = 0;
    stream_id from = stream_id::min();
    request page;
    entry_batch batch;
    for (;;) {
        page.clear();
        page.push("XRANGE", stream, from, "+", "COUNT", 10000);
        co_await conn.async_exec(page, adapt(batch));
        if (batch.empty())
            break;
        for (std::size_t i = 0; i < batch.size(); ++i) {
            auto seq = std::stoul(std::string{*batch[i].find("seq")});
            if (seq < seen.size() && !seen[seq]) {
                seen[seq] = true;
                ++count;
            }
        }
        from = batch[batch.size() - 1].id().next();
    }
    auto const read = std::chrono::steady_clock::now();
    co_await conn.async_exec(del, adapt_ignore());

    auto secs = [](auto d) { return std::chrono::duration<double>(d).count(); };
    fmt::print("redstream pipeline demo against {} (RESP{}, Redis {})\n", conn.get_config().redacted_address(),
               conn.protocol(), conn.server_version());
    fmt::print("  XADD    {:>9} messages from {} coroutines on one connection: {:>10.0f} msg/s\n", o.messages,
               o.coroutines, static_cast<double>(o.messages) / secs(produced - start));
    fmt::print("  XRANGE  {:>9} messages read back and checked:               {:>10.0f} msg/s\n", count,
               static_cast<double>(count) / secs(read - produced));
    bool const ok = count == o.messages;
    fmt::print("  result: {}\n", ok ? "every message arrived exactly once" : "MISSING MESSAGES");
    co_return ok ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    try {
        auto opts = parse(argc, argv);
        std::optional<support::private_redis> server;
        if (opts.url.empty()) {
            server.emplace();
            opts.url = server->url();
        }
        asio::io_context ioc;
        connection conn{ioc.get_executor(), config::from_url(opts.url)};
        conn.async_run([](error_code ec) {
            if (ec)
                fmt::print(stderr, "connection stopped: {}\n", ec.message());
        });
        asio::signal_set signals{ioc, SIGINT, SIGTERM};
        signals.async_wait([&](error_code ec, int) {
            if (!ec) {
                fmt::print(stderr, "interrupted\n");
                conn.close();
                ioc.stop();
            }
        });
        int rc = 1;
        asio::co_spawn(ioc, demo(conn, opts), [&](std::exception_ptr e, int r) {
            rc = r;
            if (e) {
                try {
                    std::rethrow_exception(e);
                } catch (std::exception const& x) {
                    fmt::print(stderr, "error: {}\n", x.what());
                }
            }
            signals.cancel();
            conn.close();
        });
        ioc.run();
        return rc;
    } catch (std::exception const& e) {
        fmt::print(stderr, "error: {}\n", e.what());
        return 2;
    }
}
