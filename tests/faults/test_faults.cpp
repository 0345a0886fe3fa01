// Network faults a real server cannot produce on demand, through the fault-injecting proxy:
// every scenario reports produced / handled / acked / lost / duplicated.

#include <redstream/consume/worker.hpp>

#include "fault_proxy.hpp"
#include "redis_server.hpp"
#include "run_coro.hpp"
#include "worker_test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <set>


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
        // Acks queued during a drop are re-sent and reads lost with a connection are re-read from
        // the pending lists: the group's pending list empties. (`acked` counts duplicates too, so
        // it cannot tell when that has happened.)
        after = co_await pending_after_settling(direct, "orders", "g", 60s);
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
    // No process died: a re-read after a reconnect skips what is in hand (issue 11).
    BOOST_TEST(t.duplicates() == 0u);
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

// A middlebox that corrupts bytes (what TCP checksums normally prevent): flips one bit in a
// quarter of the proxy's reads from the server, forwarded in 256-byte writes 200 us apart. A flipped length or
// type byte is a protocol error (reset, the read is redelivered); a flipped digit in an id makes
// the handler see an id that does not exist (its XACK acknowledges nothing) while the real one
// stays pending and is claimed later. Nothing may be lost and nothing may crash or hang.
BOOST_AUTO_TEST_CASE(bit_flips_in_replies_lose_nothing) {
    constexpr int total = 5000;
    redis_server srv;
    asio::io_context ioc;
    fault_proxy proxy{ioc.get_executor(), srv.port(), 2024};
    client direct{ioc.get_executor(), cfg_for(srv), quiet()};
    client via{ioc.get_executor(), through(proxy), quiet()};
    worker_options opts{.stream = "s", .group = "g", .start_id = "0", .consumers = 2, .min_idle = 500ms};
    opts.claim_interval = 100ms;
    opts.max_deliveries = 1000; // a corrupted reply is not the message's fault
    worker w{via, opts};
    std::set<std::string> produced_ids;
    delivery_tally t;
    record_and_ack(w, t);
    pending_summary after{};
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await produce(direct, "s", total);
        request ids;
        ids.push("XRANGE", "s", "-", "+");
        entry_batch all;
        co_await direct.connection().async_exec(ids, adapt(all), asio::use_awaitable);
        for (std::size_t i = 0; i < all.size(); ++i)
            produced_ids.insert(all[i].id().to_string());
        proxy.chunk(256);
        proxy.delay_each_write(200us);
        proxy.corrupt_replies(0.25);
        auto done = start_worker(ioc, w);
        auto const all_seen = [&] {
            return std::all_of(produced_ids.begin(), produced_ids.end(), [&](auto const& id) { return t.seen.count(id) > 0; });
        };
        BOOST_TEST(co_await eventually(all_seen, 120s));
        proxy.corrupt_replies(0);
        after = co_await pending_after_settling(direct, "s", "g");
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }, 30s));
        via.close();
        direct.close();
        proxy.close();
    }, 200s);
    std::size_t real = 0;
    for (auto const& id : produced_ids)
        real += t.seen.count(id);
    std::size_t const phantom = t.seen.size() - real;
    BOOST_TEST_MESSAGE(fmt::format("bit flips in 25% of reads: produced {}, handled {} ({} real ids, {} corrupted ids), "
                                   "pending after {}, lost {}, bits flipped {}, connections {}",
                                   total, t.handled, real, phantom, after.count, produced_ids.size() - real,
                                   proxy.corruptions(), proxy.connections()));
    BOOST_TEST(produced_ids.size() == static_cast<std::size_t>(total));
    BOOST_TEST(real == produced_ids.size()); // 0 lost
    BOOST_TEST(after.count == 0u);
    BOOST_TEST(proxy.corruptions() > 0u);
}

BOOST_AUTO_TEST_SUITE_END()
