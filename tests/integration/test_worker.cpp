#include <redstream/protocol/stream_readers.hpp>
#include <redstream/consume/worker.hpp>

#include "fault_proxy.hpp"
#include "redis_server.hpp"
#include "run_coro.hpp"
#include "worker_test_support.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>

using namespace redstream;
using namespace redstream::test;
namespace asio = boost::asio;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(worker_tests)

BOOST_AUTO_TEST_CASE(consumes_every_message_once_and_acks) {
    redis_server::options o;
    o.notify_keyspace_events = "Kt";
    redis_server srv{o};
    asio::io_context ioc;
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    worker w{cl, {.stream = "orders", .group = "billing", .consumers = 4, .identity = "t1"}};
    std::map<std::string, int> seen;
    w.on_message([&](message const& m) -> asio::awaitable<outcome> {
        ++seen[std::string{m.field_or("n", "?")}];
        BOOST_CHECK_EQUAL(m.deliveries(), 1u);
        BOOST_CHECK_EQUAL(m.group(), "billing");
        co_return ack;
    });
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return w.running() && w.stats().consumers == 4; }));
        co_await produce(cl, "orders", 5000);
        BOOST_TEST(co_await eventually([&] { return w.stats().acked == 5000; }));
        BOOST_TEST((w.stats().wakeup == wakeup_mode::keyspace));
        auto names = w.consumer_names();
        BOOST_TEST(names.size() == 4u);
        BOOST_TEST((names.front() == "redstream.t1.0"));
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }));
        auto p = co_await pending_of(cl, "orders", "billing");
        BOOST_TEST(p.count == 0u);
        // Idle consumers were deleted from the group on stop.
        request r;
        r.push("XINFO", "CONSUMERS", "orders", "billing");
        std::vector<consumer_info> consumers;
        co_await cl.connection().async_exec(r, adapt(consumers), asio::use_awaitable);
        BOOST_TEST(consumers.empty());
        cl.close();
    });
    BOOST_TEST(seen.size() == 5000u);
    bool once = std::all_of(seen.begin(), seen.end(), [](auto const& kv) { return kv.second == 1; });
    BOOST_TEST(once);
}

BOOST_AUTO_TEST_CASE(two_groups_each_see_every_message_and_partitions_are_read_together) {
    redis_server::options o;
    o.notify_keyspace_events = "Kt";
    redis_server srv{o};
    asio::io_context ioc;
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    std::vector<std::string> parts{"orders:{0}", "orders:{1}", "orders:{2}"};
    worker a{cl, {.streams = parts, .group = "audit", .consumers = 2}};
    worker b{cl, {.streams = parts, .group = "billing", .consumers = 3}};
    std::map<std::string, int> per_stream_a;
    int count_b = 0;
    a.on_message([&](message const& m) -> asio::awaitable<outcome> {
        ++per_stream_a[std::string{m.stream()}];
        co_return ack;
    });
    b.on_message([&](message const&) -> asio::awaitable<outcome> {
        ++count_b;
        co_return ack;
    });
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto da = start_worker(ioc, a);
        auto db = start_worker(ioc, b);
        BOOST_TEST(co_await eventually([&] { return a.stats().consumers == 2 && b.stats().consumers == 3; }));
        for (auto const& p : parts)
            co_await produce(cl, p, 300);
        BOOST_TEST(co_await eventually([&] { return a.stats().acked == 900 && b.stats().acked == 900; }));
        a.stop();
        b.stop();
        BOOST_TEST(co_await eventually([&] { return *da && *db; }));
        cl.close();
    });
    BOOST_TEST(count_b == 900);
    BOOST_TEST(per_stream_a.size() == 3u);
    for (auto const& [s, n] : per_stream_a)
        BOOST_TEST(n == 300, s);
}

BOOST_AUTO_TEST_CASE(poison_message_dead_lettered_after_exactly_max_deliveries) {
    redis_server::options o;
    o.notify_keyspace_events = "Kt";
    redis_server srv{o};
    asio::io_context ioc;
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    worker_options opts{.stream = "jobs", .group = "g", .consumers = 2};
    opts.min_idle = 100ms;
    opts.claim_interval = 30ms;
    opts.max_deliveries = 3;
    worker w{cl, opts};
    int poison_attempts = 0, good = 0;
    std::vector<std::uint64_t> seen_deliveries;
    w.on_message([&](message const& m) -> asio::awaitable<outcome> {
        if (m.field_or("kind", "") == "poison") {
            ++poison_attempts;
            seen_deliveries.push_back(m.deliveries());
            throw std::runtime_error("cannot parse order");
        }
        ++good;
        co_return ack;
    });
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return w.stats().consumers == 2; }));
        field_list const poison{{"kind", "poison"}, {"order", "42"}};
        auto poison_id = co_await cl.publish("jobs", poison);
        co_await produce(cl, "jobs", 20);
        BOOST_TEST(co_await eventually([&] { return w.stats().dead_lettered == 1; }, 10s));
        BOOST_TEST(co_await eventually([&] { return w.stats().acked == 20; }));
        request r;
        r.push("XRANGE", "jobs:dlq", "-", "+");
        entry_batch dlq;
        co_await cl.connection().async_exec(r, adapt(dlq), asio::use_awaitable);
        BOOST_TEST_REQUIRE(dlq.size() == 1u);
        BOOST_TEST((*dlq[0].find("order") == "42"));
        BOOST_TEST((*dlq[0].find("origin_stream") == "jobs"));
        BOOST_TEST(*dlq[0].find("origin_id") == poison_id.to_string());
        BOOST_TEST((*dlq[0].find("deliveries") == "3"));
        BOOST_TEST(dlq[0].find("last_error")->find("cannot parse order") != std::string_view::npos);
        auto p = co_await pending_of(cl, "jobs", "g");
        BOOST_TEST(p.count == 0u); // the original was acked with the move
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }));
        cl.close();
    });
    BOOST_TEST(poison_attempts == 3);
    BOOST_TEST((seen_deliveries == std::vector<std::uint64_t>{1, 2, 3}));
    BOOST_TEST(good == 20);
}

BOOST_AUTO_TEST_CASE(retry_after_redelivers_with_a_higher_count) {
    redis_server::options o;
    o.notify_keyspace_events = "Kt";
    redis_server srv{o};
    asio::io_context ioc;
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    worker w{cl, {.stream = "s", .group = "g"}};
    std::vector<std::uint64_t> attempts;
    w.on_message([&](message const& m) -> asio::awaitable<outcome> {
        attempts.push_back(m.deliveries());
        if (m.deliveries() == 1)
            co_return retry_after(150ms, "downstream busy");
        co_return ack;
    });
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return w.stats().consumers == 1; }));
        auto const t0 = std::chrono::steady_clock::now();
        {
            field_list const f{{"k", "v"}};
            co_await cl.publish("s", f);
        }
        BOOST_TEST(co_await eventually([&] { return w.stats().acked == 1; }));
        BOOST_TEST((std::chrono::steady_clock::now() - t0 >= 150ms));
        BOOST_TEST(w.stats().retried == 1u);
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }));
        cl.close();
    });
    BOOST_TEST((attempts == std::vector<std::uint64_t>{1, 2}));
}

BOOST_AUTO_TEST_CASE(restart_with_same_name_rehandles_its_pending_list) {
    redis_server::options o;
    o.notify_keyspace_events = "Kt";
    redis_server srv{o};
    asio::io_context ioc;
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    std::set<std::string> handled;
    std::vector<std::uint64_t> deliveries;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        request setup;
        setup.push("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM");
        co_await cl.connection().async_exec(setup, adapt_ignore(), asio::use_awaitable);
        co_await produce(cl, "s", 10);
        // A previous run of consumer 0 read these and crashed before acking.
        request read;
        read.push("XREADGROUP", "GROUP", "g", "redstream.same.0", "COUNT", 100, "STREAMS", "s", ">");
        read_reply r;
        co_await cl.connection().async_exec(read, adapt(r), asio::use_awaitable);
        BOOST_TEST(r.entry_count() == 10u);

        worker w{cl, {.stream = "s", .group = "g", .identity = "same"}};
        w.on_message([&](message const& m) -> asio::awaitable<outcome> {
            handled.insert(std::string{m.field_or("n", "")});
            deliveries.push_back(m.deliveries());
            co_return ack;
        });
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return w.stats().acked == 10; }));
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }));
        auto p = co_await pending_of(cl, "s", "g");
        BOOST_TEST(p.count == 0u);
        cl.close();
    });
    BOOST_TEST(handled.size() == 10u);
    bool second = std::all_of(deliveries.begin(), deliveries.end(), [](auto d) { return d == 2; });
    BOOST_TEST(second);
}

BOOST_AUTO_TEST_CASE(graceful_stop_loses_no_ack) {
    redis_server::options o;
    o.notify_keyspace_events = "Kt";
    redis_server srv{o};
    asio::io_context ioc;
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    worker w{cl, {.stream = "s", .group = "g", .start_id = "0", .consumers = 4, .batch = 16}};
    std::size_t handled = 0;
    w.on_message([&](message const&) -> asio::awaitable<outcome> {
        co_await sleep_for(1ms); // an I/O-bound handler
        ++handled;
        co_return ack;
    });
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await produce(cl, "s", 3000);
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return handled >= 200; }));
        w.stop(); // mid-flow: batches and read-aheads in flight
        BOOST_TEST(co_await eventually([&] { return *done; }));
        auto p = co_await pending_of(cl, "s", "g");
        BOOST_TEST(p.count == 0u);           // nothing left pending after a graceful stop
        BOOST_TEST(w.stats().acked == handled); // every handled message was acked
        BOOST_TEST(handled < 3000u);
        cl.close();
    });
}

BOOST_AUTO_TEST_CASE(wakes_up_after_idle_in_every_mode) {
    for (auto mode : {wakeup_mode::keyspace, wakeup_mode::block_slice, wakeup_mode::dedicated}) {
        redis_server::options o;
        if (mode == wakeup_mode::keyspace)
            o.notify_keyspace_events = "Kt";
        redis_server srv{o};
        asio::io_context ioc;
        client cl{ioc.get_executor(), cfg_for(srv), quiet()};
        worker_options opts{.stream = "s", .group = "g", .consumers = 3, .wakeup = mode};
        opts.idle_poll_interval = 10s; // so only a real wake-up can deliver in time
        opts.dedicated_block = 10s;    // a stall behind this BLOCK would fail the publish bound below
        worker w{cl, opts};
        int got = 0;
        w.on_message([&](message const&) -> asio::awaitable<outcome> {
            ++got;
            co_return ack;
        });
        std::string_view const expected = to_string(mode);
        // Idle: every consumer parked except, in the blocking modes, the one holding the BLOCK.
        std::size_t const idle_parked = mode == wakeup_mode::keyspace ? 3 : 2;
        run_coro(ioc, [&]() -> asio::awaitable<void> {
            auto done = start_worker(ioc, w);
            BOOST_TEST(co_await eventually([&] { return w.stats().consumers == 3; }));
            BOOST_TEST((w.stats().wakeup == mode));
            for (int i = 0; i < 3; ++i) {
                BOOST_TEST(co_await eventually([&] { return w.stats().parked == idle_parked; }, 5s), "mode " << expected);
                auto const t0 = std::chrono::steady_clock::now();
                {
                    field_list const f{{"i", std::to_string(i)}};
                    co_await cl.publish("s", f);
                }
                if (mode == wakeup_mode::dedicated) // the shared connection never waits behind a BLOCK
                    BOOST_TEST((std::chrono::steady_clock::now() - t0 < 2s));
                BOOST_TEST(co_await eventually([&] { return got == i + 1; }, 2s), "mode " << expected);
            }
            w.stop();
            BOOST_TEST(co_await eventually([&] { return *done; }, 5s), "stop waits behind a BLOCK, mode " << expected);
            cl.close();
        });
    }
}

// A short blocking reply (the stream drained) hands the blocking read to a parked consumer
// instead of waking it for a plain read that can only come back empty: one blocking read per
// message, as a blocking client makes. Slow handlers still overlap, because the consumer that
// took over holds the blocking read while the first one handles.
namespace {

// The value of `field` (flags, cmd, ...) of every client named `name` in a CLIENT LIST.
std::vector<std::string> field_of_clients_named(std::string const& list, std::string const& name,
                                                std::string const& field) {
    std::vector<std::string> values;
    std::size_t line_start = 0;
    while (line_start < list.size()) {
        auto line_end = list.find('\n', line_start);
        if (line_end == std::string::npos)
            line_end = list.size();
        std::string_view const line{list.data() + line_start, line_end - line_start};
        line_start = line_end + 1;
        if (line.find(" name=" + name + " ") == std::string_view::npos)
            continue;
        auto const at = line.find(" " + field + "=");
        if (at == std::string_view::npos)
            continue;
        auto const value = line.substr(at + field.size() + 2);
        values.emplace_back(value.substr(0, value.find(' ')));
    }
    return values;
}

std::vector<std::string> flags_of_clients_named(std::string const& list, std::string const& name) {
    return field_of_clients_named(list, name, "flags");
}

} // namespace

BOOST_AUTO_TEST_CASE(drained_blocking_reads_hand_the_block_over_without_empty_reads) {
    // Dedicated only: block_slice re-blocks every 50 ms, each an empty reply.
    auto const mode = wakeup_mode::dedicated;
    redis_server srv;
    asio::io_context ioc;
    auto cfg = cfg_for(srv);
    cfg.client_name = "app";
    client cl{ioc.get_executor(), cfg, quiet()};
    client observer{ioc.get_executor(), cfg_for(srv), quiet()};
    worker_options opts{.stream = "s", .group = "g", .consumers = 4, .wakeup = mode};
    opts.idle_poll_interval = 10s; // so only the blocking read can deliver in time
    opts.dedicated_block = 10s;    // and no BLOCK times out into an empty reply meanwhile
    worker w{cl, opts};
    int handled = 0;
    int handling = 0;
    int most_at_once = 0;
    std::set<std::string> fast_handlers;
    w.on_message([&](message const& m) -> asio::awaitable<outcome> {
        ++handling;
        most_at_once = std::max(most_at_once, handling);
        if (m.field_or("slow", "") != "1")
            fast_handlers.emplace(m.consumer());
        if (m.field_or("slow", "") == "1")
            co_await sleep_for(300ms);
        --handling;
        ++handled;
        co_return ack;
    });
    std::string_view const expected = to_string(mode);
    std::uint64_t empty_before = 0, empty_after = 0;
    int acks_on_shared = 0;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return w.stats().consumers == 4 && w.stats().parked == 3; }, 5s));
        empty_before = w.stats().empty_reads;
        for (int i = 0; i < 20; ++i) {
            field_list const f{{"i", std::to_string(i)}};
            co_await cl.publish("s", f); // on the shared connection: its last command is XADD
            BOOST_TEST(co_await eventually([&] { return handled == i + 1; }, 2s), "mode " << expected);
            BOOST_TEST(co_await eventually([&] { return w.stats().parked == 3 && w.stats().pending_acks == 0; }, 2s),
                       "mode " << expected);
            // The ack went in front of the next consumer's blocking read, on the wake-up
            // connection, not in a write of its own on the shared one.
            request r;
            r.push("CLIENT", "LIST");
            std::string list;
            co_await observer.connection().async_exec(r, adapt(list), asio::use_awaitable);
            for (auto const& cmd : field_of_clients_named(list, "app", "cmd"))
                acks_on_shared += cmd == "xack";
        }
        empty_after = w.stats().empty_reads;
        // Three slow messages, each published once the previous one is in its handler.
        for (int i = 0; i < 3; ++i) {
            field_list const f{{"slow", "1"}};
            co_await cl.publish("s", f);
            BOOST_TEST(co_await eventually([&] { return handling == i + 1; }, 2s), "mode " << expected);
        }
        BOOST_TEST(co_await eventually([&] { return handled == 23; }, 5s));
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }, 5s));
        cl.close();
        observer.close();
    });
    BOOST_TEST(acks_on_shared == 0, acks_on_shared << " of 20 acks took a write of their own on the shared connection");
    // Before the hand-over every message cost one empty plain read (20 here).
    BOOST_TEST(empty_after - empty_before <= 4u, "mode " << expected << ": " << empty_after - empty_before
                                                      << " empty reads for 20 messages");
    BOOST_TEST(most_at_once == 3, "mode " << expected << ": slow handlers must overlap");
    // A handler that returns at once keeps the blocking read: its consumer blocks again in the
    // same pass, and the others stay parked. Only a handler that waits hands it over.
    BOOST_TEST(fast_handlers.size() == 1u, fast_handlers.size() << " consumers took turns at 20 instant handlers");
}


// A consumer whose handler returns at once keeps its drained blocking read and blocks again.
// Retired meanwhile, it stops instead of sending it; the others park only while someone
// blocks, so one of them must take the blocking read, or the next message waits for the idle
// poll (10 s here).
BOOST_AUTO_TEST_CASE(a_retired_consumer_passes_on_the_blocking_read_it_kept) {
    redis_server srv;
    asio::io_context ioc;
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    worker_options opts{.stream = "s", .group = "g", .consumers = 2, .wakeup = wakeup_mode::dedicated};
    opts.idle_poll_interval = 10s;
    opts.dedicated_block = 10s;
    worker w{cl, opts};
    std::vector<std::string> by;
    w.on_message([&](message const& m) -> asio::awaitable<outcome> {
        by.emplace_back(m.consumer());
        if (m.field_or("slow", "") == "1")
            co_await sleep_for(100ms); // suspends: the blocking read goes to the other consumer
        co_return ack;
    });
    auto const holder_is_last = [&] { return !by.empty() && by.back().ends_with(".1"); };
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return w.stats().consumers == 2 && w.stats().parked == 1; }, 5s));
        auto publish_and_wait = [&](std::string_view slow) -> asio::awaitable<bool> {
            std::size_t const before = by.size();
            field_list const f{{"slow", std::string{slow}}};
            co_await cl.publish("s", f);
            co_return co_await eventually([&] { return by.size() == before + 1 && w.stats().parked == 1 &&
                                                        w.stats().pending_acks == 0; }, 2s);
        };
        BOOST_TEST(co_await publish_and_wait("0"));
        if (!holder_is_last()) { // make consumer .1, the one remove_consumer() retires, the holder
            BOOST_TEST(co_await publish_and_wait("1"));
            BOOST_TEST(co_await publish_and_wait("0"));
        }
        BOOST_TEST(holder_is_last(), by.back());
        w.remove_consumer(); // its BLOCK is on the wire: the next message still goes to it
        std::size_t const before = by.size();
        field_list const f{{"slow", "0"}};
        co_await cl.publish("s", f);
        BOOST_TEST(co_await eventually([&] { return by.size() == before + 1; }, 2s));
        co_await cl.publish("s", f);
        BOOST_TEST(co_await eventually([&] { return by.size() == before + 2; }, 2s),
                   "the consumer left parked never took the blocking read over");
        BOOST_TEST(by.back().ends_with(".0"), by.back());
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }, 5s));
        cl.close();
    });
}


// The main embedding case on a stock server (keyspace events off): an idle worker with default
// options and the application's own commands on the same client. Before issue 13 the default
// fell back to block_slice and every publish waited behind an idle consumer's BLOCK (p50 about
// 100 ms); now the blocking read travels on the wake-up connection and the shared one never
// blocks, which CLIENT LIST shows directly.
BOOST_AUTO_TEST_CASE(default_wakeup_never_blocks_the_shared_connection) {
    redis_server srv; // notify-keyspace-events off, as everywhere by default
    asio::io_context ioc;
    auto cfg = cfg_for(srv);
    cfg.client_name = "app";
    client cl{ioc.get_executor(), cfg, quiet()};
    auto observer_cfg = cfg_for(srv);
    observer_cfg.client_name = "observer";
    client observer{ioc.get_executor(), observer_cfg, quiet()};
    worker w{cl, {.stream = "s", .group = "g", .consumers = 4}};
    std::size_t handled = 0;
    w.on_message([&](message const&) -> asio::awaitable<outcome> {
        ++handled;
        co_return ack;
    });
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return w.stats().consumers == 4 && w.stats().parked == 3; }));
        BOOST_TEST((w.stats().wakeup == wakeup_mode::dedicated));
        std::size_t shared_seen = 0, shared_blocked = 0, wake_blocked = 0;
        std::vector<std::chrono::steady_clock::duration> publish_times;
        for (std::size_t i = 0; i < 20; ++i) {
            // Idle again: the one blocking read is back on the server.
            BOOST_TEST(co_await eventually([&] { return handled == i && w.stats().parked == 3; }));
            request r;
            r.push("CLIENT", "LIST");
            std::string list;
            co_await observer.connection().async_exec(r, adapt(list), asio::use_awaitable);
            for (auto const& f : flags_of_clients_named(list, "app")) {
                ++shared_seen;
                shared_blocked += f.find('b') != std::string::npos;
            }
            for (auto const& f : flags_of_clients_named(list, "app-wake"))
                wake_blocked += f.find('b') != std::string::npos;
            auto const t0 = std::chrono::steady_clock::now();
            {
                field_list const f{{"i", std::to_string(i)}};
                co_await cl.publish("s", f);
            }
            publish_times.push_back(std::chrono::steady_clock::now() - t0);
        }
        BOOST_TEST(co_await eventually([&] { return handled == 20; }));
        BOOST_TEST(shared_seen == 20u);   // the shared connection was in every list...
        BOOST_TEST(shared_blocked == 0u); // ...and never blocked
        BOOST_TEST(wake_blocked > 0u);    // the wake-up connection holds the BLOCK instead
        // A publish is one round trip, not a wait behind BLOCK block_slice (50 ms): the bound
        // is loose enough for a loaded sanitizer build and far below what the old default took.
        std::sort(publish_times.begin(), publish_times.end());
        BOOST_TEST((publish_times[publish_times.size() / 2] < 20ms));
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }));
        cl.close();
        observer.close();
    });
}

BOOST_AUTO_TEST_CASE(idempotency_skips_messages_already_done) {
    redis_server::options o;
    o.notify_keyspace_events = "Kt";
    redis_server srv{o};
    asio::io_context ioc;
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    worker_options opts{.stream = "s", .group = "g"};
    opts.idempotency.enabled = true;
    opts.idempotency.key_field = "order_id";
    worker w{cl, opts};
    std::vector<std::string> charged;
    w.on_message([&](message const& m) -> asio::awaitable<outcome> {
        charged.emplace_back(m.field_or("order_id", ""));
        co_return ack;
    });
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        request mark;
        mark.push("SET", "redstream:done:A-1", "done");
        co_await cl.connection().async_exec(mark, adapt_ignore(), asio::use_awaitable);
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return w.stats().consumers == 1; }));
        {
            field_list const f{{"order_id", "A-1"}};
            co_await cl.publish("s", f);
        }
        {
            field_list const f{{"order_id", "A-2"}};
            co_await cl.publish("s", f);
        }
        {
            field_list const f{{"order_id", "A-2"}};
            co_await cl.publish("s", f);
        } // the producer retried: same effect key
        BOOST_TEST(co_await eventually([&] { return w.stats().acked == 3; }));
        request check;
        check.push("GET", "redstream:done:A-2");
        check.push("PTTL", "redstream:done:A-2");
        std::string state;
        std::int64_t ttl = 0;
        co_await cl.connection().async_exec(check, adapt(state, ttl), asio::use_awaitable);
        BOOST_TEST((state == "done"));
        BOOST_TEST(ttl > 0);
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }));
        cl.close();
    });
    BOOST_TEST((charged == std::vector<std::string>{"A-2"}));
    BOOST_TEST(w.stats().skipped_duplicates == 2u);
}

BOOST_AUTO_TEST_CASE(group_destroyed_under_running_consumers_is_reported_and_recreated) {
    redis_server::options o;
    o.notify_keyspace_events = "Kt";
    redis_server srv{o};
    asio::io_context ioc;
    std::vector<std::string> errors;
    logger capture{log_level::error, [&](log_level, std::string_view m) { errors.emplace_back(m); }};
    client cl{ioc.get_executor(), cfg_for(srv), capture};
    worker_options opts{.stream = "s", .group = "g", .consumers = 2};
    opts.recreate_group_on_nogroup = true;
    opts.idle_poll_interval = 50ms;
    worker w{cl, opts};
    int got = 0;
    w.on_message([&](message const&) -> asio::awaitable<outcome> {
        ++got;
        co_return ack;
    });
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return w.stats().consumers == 2; }));
        request destroy;
        destroy.push("XGROUP", "DESTROY", "s", "g");
        co_await cl.connection().async_exec(destroy, adapt_ignore(), asio::use_awaitable);
        BOOST_TEST(co_await eventually([&] { return w.stats().read_errors > 0; }, 5s));
        co_await sleep_for(200ms); // consumers re-create it ("$"): only later messages count
        {
            field_list const f{{"k", "v"}};
            co_await cl.publish("s", f);
        }
        BOOST_TEST(co_await eventually([&] { return got == 1; }, 5s));
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }));
        cl.close();
    });
    bool reported = std::any_of(errors.begin(), errors.end(),
                                [](auto const& e) { return e.find("NOGROUP") != std::string::npos; });
    BOOST_TEST(reported);
    BOOST_TEST(w.stats().read_errors < 200u); // backoff, not a busy loop
}

BOOST_AUTO_TEST_CASE(wrong_type_key_fails_run_clearly) {
    redis_server srv;
    asio::io_context ioc;
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    worker w{cl, {.stream = "not-a-stream", .group = "g"}};
    w.on_message([](message const&) -> asio::awaitable<outcome> { co_return ack; });
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        request set;
        set.push("SET", "not-a-stream", "x");
        co_await cl.connection().async_exec(set, adapt_ignore(), asio::use_awaitable);
        try {
            co_await w.run();
            BOOST_FAIL("run() accepted a string key");
        } catch (boost::system::system_error const& e) {
            BOOST_TEST((e.code() == server_errc::wrongtype));
            BOOST_TEST(std::string{e.what()}.find("not-a-stream") != std::string::npos, e.what());
        }
        cl.close();
    });
}

BOOST_AUTO_TEST_SUITE_END()


BOOST_AUTO_TEST_SUITE(worker_tests)

// Several block_slice workers on one client share its one blocking read. Waiting for that turn
// used to reset the turn's timer, cancelling the other waiters: idle workers woke each other in
// a busy loop (and starved the reads).
BOOST_AUTO_TEST_CASE(block_slice_workers_sharing_a_client_idle_without_spinning) {
    redis_server srv;
    asio::io_context ioc;
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    std::vector<std::unique_ptr<worker>> workers;
    int handled = 0;
    for (auto const* g : {"a", "b", "c"}) {
        workers.push_back(std::make_unique<worker>(
            cl, worker_options{.stream = "s", .group = g, .start_id = "0", .consumers = 2, .wakeup = wakeup_mode::block_slice}));
        workers.back()->on_message([&](message const&) -> asio::awaitable<outcome> {
            ++handled;
            co_return ack;
        });
    }
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        std::vector<std::shared_ptr<bool>> done;
        for (auto& w : workers)
            done.push_back(start_worker(ioc, *w));
        for (int i = 0; i < 200; ++i) {
            field_list const f{{"i", std::to_string(i)}};
            co_await cl.publish("s", f);
        }
        BOOST_TEST(co_await eventually([&] { return handled == 600; }, 20s), "handled " << handled);
        // Idle for a second: waiting costs timers, not CPU.
        auto const cpu0 = process_cpu_seconds();
        co_await sleep_for(1s);
        auto const idle_cpu = process_cpu_seconds() - cpu0;
        BOOST_TEST(idle_cpu < 0.3, "CPU while idle: " << idle_cpu << " s in 1 s");
        for (auto& w : workers)
            w->stop();
        for (auto& d : done)
            BOOST_TEST(co_await eventually([&] { return *d; }));
        cl.close();
    });
}

// The autoscaler's first sample may land while run() still creates the group: consumers added
// then must start once, with the others, after the group exists. They used to start at once,
// and run() then started the same indices again: two coroutines per name, one of them never
// stopped, so run() never returned.
BOOST_AUTO_TEST_CASE(consumers_added_while_starting_start_once_after_the_group_exists) {
    redis_server srv;
    asio::io_context ioc;
    fault_proxy proxy{ioc.get_executor(), srv.port()};
    proxy.stall(true); // the handshake waits: run() stays in its start
    auto cfg = cfg_for(srv);
    cfg.port = proxy.port();
    client cl{ioc.get_executor(), cfg, quiet()};
    worker w{cl, {.stream = "s", .group = "g", .start_id = "0", .consumers = 2, .identity = "t"}};
    w.on_message([](message const&) -> asio::awaitable<outcome> { co_return ack; });
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return w.running(); }));
        BOOST_TEST(!w.consumers_started());
        w.add_consumer();
        w.add_consumer();
        BOOST_TEST(w.stats().consumers == 0u); // nothing reads before the group exists
        proxy.stall(false);
        BOOST_TEST(co_await eventually([&] { return w.consumers_started() && w.stats().consumers == 4; }));
        auto const names = w.consumer_names();
        BOOST_TEST(std::set<std::string>(names.begin(), names.end()).size() == 4u);
        co_await produce(cl, "s", 40);
        BOOST_TEST(co_await eventually([&] { return w.stats().acked == 40; }));
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }, 10s));
        BOOST_TEST(w.stats().consumers == 0u);
        cl.close();
        proxy.close();
    });
}

// `run() || timeout` and cancellation slots are how Asio code ends things: a cancelled run()
// must drain like stop(), not leave its consumers reading with nobody to stop them.
BOOST_AUTO_TEST_CASE(cancelling_run_drains_and_flushes_like_stop) {
    redis_server srv;
    asio::io_context ioc;
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    worker w{cl, {.stream = "s", .group = "g", .start_id = "0", .consumers = 2, .identity = "t"}};
    w.on_message([](message const&) -> asio::awaitable<outcome> { co_return ack; });
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await produce(cl, "s", 30);
        asio::cancellation_signal cancel;
        bool returned = false;
        std::exception_ptr error;
        asio::co_spawn(ioc, w.run(), asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e) {
                           returned = true;
                           error = e;
                       }));
        BOOST_TEST(co_await eventually([&] { return w.stats().acked == 30; }));
        cancel.emit(asio::cancellation_type::terminal);
        BOOST_TEST(co_await eventually([&] { return returned; }, 10s));
        BOOST_TEST(!w.running());
        BOOST_TEST(w.stats().consumers == 0u);
        BOOST_TEST(w.stats().in_flight == 0u);
        BOOST_TEST(w.stats().pending_acks == 0u);
        bool aborted = false;
        try {
            if (error)
                std::rethrow_exception(error);
        } catch (boost::system::system_error const& e) {
            aborted = e.code() == asio::error::operation_aborted;
        }
        BOOST_TEST(aborted, "a cancelled run() reports operation_aborted");
        // Nothing left running: the same worker runs again and consumes what came meanwhile.
        co_await produce(cl, "s", 10);
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return w.stats().acked == 40; }));
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }, 10s));
        cl.close();
    });
}

// retry_after() waits in a queue bounded by max_in_flight; beyond it the claim loop redelivers
// after min_idle. stats().retried counted the ones it dropped as scheduled.
BOOST_AUTO_TEST_CASE(retries_beyond_the_waiting_room_are_not_counted_as_scheduled) {
    redis_server srv;
    asio::io_context ioc;
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    worker w{cl, {.stream = "s", .group = "g", .start_id = "0", .consumers = 1, .identity = "t", .max_in_flight = 4}};
    w.on_message([](message const&) -> asio::awaitable<outcome> { co_return retry_after(std::chrono::minutes(1)); });
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await produce(cl, "s", 10);
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return w.stats().failed == 10; }));
        BOOST_TEST(w.stats().retried == 4u); // the waiting room's size; the other 6 wait for the claim loop
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }, 15s));
        cl.close();
    });
}

// A fixed per-consumer bound of 1,024 held one read of COUNT 1000: no read ahead, so the server
// idled for a round trip after every batch. The default bound follows the batch.
BOOST_AUTO_TEST_CASE(default_in_flight_bound_leaves_room_to_read_ahead_at_large_batches) {
    redis_server srv;
    asio::io_context ioc;
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    worker w{cl, {.stream = "s", .group = "g", .start_id = "0", .consumers = 1, .batch = 1000}};
    asio::steady_timer gate{ioc.get_executor(), std::chrono::steady_clock::time_point::max()};
    bool open = false;
    w.on_message([&](message const&) -> asio::awaitable<outcome> {
        if (!open)
            co_await gate.async_wait(asio::as_tuple(asio::use_awaitable));
        co_return ack;
    });
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await produce(cl, "s", 5000);
        auto done = start_worker(ioc, w);
        // The first batch is held in the handler; the reads sent ahead of it are in flight too.
        BOOST_TEST(co_await eventually([&] { return w.stats().in_flight >= 2000; }), w.stats().in_flight);
        open = true;
        gate.cancel();
        BOOST_TEST(co_await eventually([&] { return w.stats().acked == 5000; }));
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }));
        cl.close();
    });
}

// stop() that comes while the claim loop's scan travels (one XPENDING per stream: 64 here)
// used to find the loop waiting out claim_interval afterwards (30 s by default), its notify
// spent; only drain_timeout cut it short. The handler stops the worker at the first message,
// well inside that first scan.
BOOST_AUTO_TEST_CASE(stop_while_the_claim_scan_travels_does_not_wait_for_claim_interval) {
    redis_server srv;
    asio::io_context ioc;
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    worker_options o{.group = "g", .start_id = "0"};
    for (int i = 0; i < 64; ++i)
        o.streams.push_back(fmt::format("many-{}", i));
    o.drain_timeout = 20s;
    worker w{cl, o};
    w.on_message([&w](message const&) -> asio::awaitable<outcome> {
        w.stop();
        co_return ack;
    });
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await produce(cl, "many-0", 1);
        auto const started = std::chrono::steady_clock::now();
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return *done; }, 30s));
        auto const took = std::chrono::steady_clock::now() - started;
        BOOST_TEST(took < 5s, "run() took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                                            << " ms");
        BOOST_TEST(w.stats().acked == 1u);
        cl.close();
    });
}

BOOST_AUTO_TEST_SUITE_END()
