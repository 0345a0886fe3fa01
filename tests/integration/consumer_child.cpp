// A consumer process for crash tests: consumes STREAM with GROUP and records every handling
// in the hash "handled" (HINCRBY id 1) before acking, so the test can count what was handled
// and how often. Runs until SIGTERM/SIGINT (graceful stop).
//
//   consumer_child URL STREAM GROUP IDENTITY CONSUMERS MIN_IDLE_MS

#include <redstream/consume/worker.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdio>
#include <string>

namespace asio = boost::asio;
using namespace redstream;

int main(int argc, char** argv) {
    if (argc != 7) {
        std::fprintf(stderr, "usage: consumer_child URL STREAM GROUP IDENTITY CONSUMERS MIN_IDLE_MS\n");
        return 2;
    }
    asio::io_context ioc;
    client cl{ioc.get_executor(), config::from_url(argv[1]), logger{log_level::error, [](log_level, std::string_view m) {
                                                                        std::fprintf(stderr, "child: %.*s\n", int(m.size()), m.data());
                                                                    }}};
    worker_options opts;
    opts.stream = argv[2];
    opts.group = argv[3];
    opts.identity = argv[4];
    opts.consumers = std::stoul(argv[5]);
    opts.min_idle = std::chrono::milliseconds{std::stol(argv[6])};
    opts.start_id = "0";
    worker w{cl, opts};
    w.on_message([&](message const& m) -> asio::awaitable<outcome> {
        request r;
        r.push("HINCRBY", "handled", m.id(), 1);
        co_await cl.connection().async_exec(r, adapt_ignore(), asio::use_awaitable);
        co_return ack;
    });
    asio::signal_set signals{ioc, SIGINT, SIGTERM};
    signals.async_wait([&](boost::system::error_code ec, int) {
        if (!ec)
            w.stop();
    });
    int rc = 0;
    asio::co_spawn(ioc, w.run(), [&](std::exception_ptr e) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (std::exception const& x) {
                std::fprintf(stderr, "child: run failed: %s\n", x.what());
                rc = 1;
            }
        }
        signals.cancel();
        cl.close();
    });
    ioc.run();
    return rc;
}
