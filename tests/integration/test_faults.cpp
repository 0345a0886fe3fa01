// Network faults a real server cannot produce on demand, through the fault-injecting proxy:
// every scenario reports produced / handled / acked / lost / duplicated.

#include <redstream/worker.hpp>

#include "fault_proxy.hpp"
#include "redis_server.hpp"
#include "run_coro.hpp"
#include "worker_test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <fmt/format.h>


using namespace redstream;
using namespace redstream::test;

namespace {

config through(fault_proxy const& proxy) {
    auto c = config::from_url(fmt::format("redis://127.0.0.1:{}", proxy.port()));
    c.reconnect.initial_delay = 10ms;
    c.reconnect.max_delay = 100ms;
    return c;
}

} // namespace

BOOST_AUTO_TEST_SUITE(faults)

BOOST_AUTO_TEST_CASE(connection_dropped_every_200ms_while_100k_messages_flow) {
    constexpr int total = 100000;
    redis_server srv;
    asio::io_context ioc;
    fault_proxy proxy{ioc.get_executor(), srv.port(), 42};
    client direct{ioc.get_executor(), cfg_for(srv), quiet()};
    client via{ioc.get_executor(), through(proxy), quiet()};
    worker w{via, {.stream = "orders", .group = "g", .start_id = "0", .consumers = 4, .min_idle = 2000ms}};
    delivery_tally t;
    record_and_ack(w, t);
    pending_summary after{};
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto done = start_worker(ioc, w);
        proxy.drop_every(200ms);
        // Paced over ~2.5 s so that the drops hit a flowing stream (the pacing is the load's shape).
        for (int b = 0; b < 50; ++b) {
            std::string const tag = fmt::format("b{}", b);
            co_await produce(direct, "orders", total / 50, tag);
            co_await sleep_for(50ms);
        }
        BOOST_TEST(co_await eventually([&] { return t.seen.size() == static_cast<std::size_t>(total); }, 240s),
                   "handled " << t.seen.size() << " distinct of " << total);
        proxy.drop_every(0ms);
        // Acks queued during a drop are re-sent: the pending list empties.
        BOOST_TEST(co_await eventually([&]() { return w.stats().acked >= static_cast<std::uint64_t>(total); }, 60s));
        after = co_await pending_of(direct, "orders", "g");
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }, 30s));
        via.close();
        direct.close();
        proxy.close(); // its acceptor would keep the io_context busy
    }, 400s);
    std::size_t const lost = static_cast<std::size_t>(total) - t.seen.size();
    BOOST_TEST_MESSAGE(fmt::format("drop every 200 ms: produced {}, handled {} ({} distinct), acked {}, pending after {}, "
                                   "lost {}, duplicated {}, connections dropped {}",
                                   total, t.handled, t.seen.size(), w.stats().acked, after.count, lost, t.duplicates(),
                                   proxy.drops()));
    BOOST_TEST(lost == 0u);
    BOOST_TEST(after.count == 0u);
    BOOST_TEST(proxy.drops() >= 5u); // the faults really happened
}

BOOST_AUTO_TEST_CASE(replies_split_into_single_bytes_lose_nothing) {
    constexpr int total = 2000;
    redis_server srv;
    asio::io_context ioc;
    fault_proxy proxy{ioc.get_executor(), srv.port()};
    proxy.chunk(1);
    client via{ioc.get_executor(), through(proxy), quiet()};
    worker w{via, {.stream = "s", .group = "g", .start_id = "0", .consumers = 2}};
    delivery_tally t;
    record_and_ack(w, t);
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await produce(via, "s", total);
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return w.stats().acked == static_cast<std::uint64_t>(total); }, 120s),
                   "acked " << w.stats().acked);
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }, 30s));
        via.close();
        proxy.close();
    }, 200s);
    BOOST_TEST(t.seen.size() == static_cast<std::size_t>(total));
    BOOST_TEST(t.duplicates() == 0u); // no fault that could cause a redelivery
}

BOOST_AUTO_TEST_CASE(a_stalled_server_is_dropped_by_the_health_check_and_work_resumes) {
    redis_server srv;
    asio::io_context ioc;
    fault_proxy proxy{ioc.get_executor(), srv.port()};
    auto cfg = through(proxy);
    cfg.health_check_interval = 200ms;
    cfg.health_check_timeout = 300ms;
    cfg.connect_timeout = 300ms;
    client direct{ioc.get_executor(), cfg_for(srv), quiet()};
    client via{ioc.get_executor(), cfg, quiet()};
    worker w{via, {.stream = "s", .group = "g", .start_id = "0", .wakeup = wakeup_mode::dedicated}};
    delivery_tally t;
    record_and_ack(w, t);
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await produce(direct, "s", 100);
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return t.seen.size() == 100u; }));
        auto const connects = via.connection().stats().connects;
        proxy.stall(true);
        co_await produce(direct, "s", 100, "during-stall");
        // The PING deadline notices the silent server and the connection is replaced.
        co_await sleep_for(1s); // the stall itself: nothing to wait for but time
        proxy.stall(false);
        proxy.drop_all(); // the stalled sockets go; fresh ones work
        BOOST_TEST(co_await eventually([&] { return t.seen.size() == 200u; }, 30s), "seen " << t.seen.size());
        BOOST_TEST(via.connection().stats().connects > connects);
        BOOST_TEST(co_await eventually([&] { return w.stats().acked >= 200u; }, 30s));
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }, 30s));
        via.close();
        direct.close();
        proxy.close();
    }, 120s);
}

BOOST_AUTO_TEST_SUITE_END()
