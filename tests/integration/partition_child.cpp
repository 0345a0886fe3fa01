// A consumer process of a partitioned stream on a Redis Cluster, for the resharding test: runs
// a partitioned_worker (shared or owned) and records every handling in the hash "handled"
// (HINCRBY <n> 1, n the message's own number) before acking; a message with a field "poison"
// is dead-lettered. Runs until SIGTERM/SIGINT (graceful stop), then prints its figures.
//
//   partition_child URL STREAM GROUP IDENTITY PARTITIONS shared|owned

#include <redstream/consume/partitioned_worker.hpp>
#include <redstream/io/cluster_client.hpp>

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
        std::fprintf(stderr, "usage: partition_child URL STREAM GROUP IDENTITY PARTITIONS shared|owned\n");
        return 2;
    }
    asio::io_context ioc;
    logger log{log_level::error, [](log_level, std::string_view m) {
                   std::fprintf(stderr, "child: %.*s\n", int(m.size()), m.data());
               }};
    cluster_client cc{ioc.get_executor(), config::from_url(argv[1]), log};
    worker_options opts;
    opts.stream = argv[2];
    opts.group = argv[3];
    opts.identity = argv[4];
    opts.start_id = "0";
    opts.min_idle = std::chrono::milliseconds{2000};
    assignment_options assignment;
    if (std::string{argv[6]} == "owned") {
        assignment.mode = partition_assignment::owned;
        assignment.lease_ttl = std::chrono::milliseconds{2000};
    }
    partitioned_worker w{cc, opts, std::stoul(argv[5]), assignment};
    w.on_message([&](message const& m) -> asio::awaitable<outcome> {
        if (m.field("poison"))
            co_return dead_letter("poison");
        request r;
        r.push("HINCRBY", "handled", m.field("n").value_or("?"), 1);
        co_await cc.routed().async_exec(r, adapt_ignore(), asio::use_awaitable);
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
        auto const s = w.stats();
        auto const routed = cc.routed().stats();
        std::printf("handled=%llu moves=%llu dead_lettered=%llu moved=%llu ask=%llu\n",
                    static_cast<unsigned long long>(s.total.handled), static_cast<unsigned long long>(s.moves),
                    static_cast<unsigned long long>(s.total.dead_lettered),
                    static_cast<unsigned long long>(routed.moved), static_cast<unsigned long long>(routed.ask));
        std::fflush(stdout);
        signals.cancel();
        cc.close();
    });
    ioc.run();
    return rc;
}
