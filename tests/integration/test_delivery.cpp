// Paths that could lose a message or hand it to a handler twice (issue 11), each against a
// real server. Every test here failed on the code before its fix; tests/README.md lists them
// with their figures.

#include <redstream/protocol/stream_readers.hpp>
#include <redstream/consume/worker.hpp>

#include "redis_server.hpp"
#include "run_coro.hpp"
#include "worker_test_support.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

#include <fmt/format.h>

#include <atomic>
#include <set>
#include <thread>

using namespace redstream;
using namespace redstream::test;

namespace {

logger capture_all(std::vector<std::string>& lines) {
    return logger{log_level::trace, [&lines](log_level, std::string_view m) { lines.emplace_back(m); }};
}

bool any_line_has(std::vector<std::string> const& lines, std::string_view text) {
    return std::any_of(lines.begin(), lines.end(), [&](auto const& l) { return l.find(text) != std::string::npos; });
}

// Arguments by value: they live in the coroutine frame (no temporaries across a co_await).
template <class... Args>
asio::awaitable<std::int64_t> integer_of(client& cl, std::string name, Args... args) {
    request r;
    r.push(name, args...);
    std::int64_t n = 0;
    co_await cl.connection().async_exec(r, adapt(n), asio::use_awaitable);
    co_return n;
}

template <class... Args>
asio::awaitable<void> command(client& cl, std::string name, Args... args) {
    request r;
    r.push(name, args...);
    co_await cl.connection().async_exec(r, adapt_ignore(), asio::use_awaitable);
}

asio::awaitable<std::vector<consumer_info>> consumers_of(client& cl, std::string const& stream, std::string const& group) {
    request r;
    r.push("XINFO", "CONSUMERS", stream, group);
    std::vector<consumer_info> out;
    co_await cl.connection().async_exec(r, adapt(out), asio::use_awaitable);
    co_return out;
}

// Waits on a timer that no cancellation reaches: a third-party call, or Asio 1.26's resolver.
asio::awaitable<void> sleep_ignoring_cancellation(std::chrono::milliseconds d) {
    asio::steady_timer t{co_await asio::this_coro::executor};
    t.expires_after(d);
    co_await t.async_wait(asio::bind_cancellation_slot(asio::cancellation_slot{}, asio::use_awaitable));
}

} // namespace

BOOST_AUTO_TEST_SUITE(delivery)

// Item 1. MULTI/EXEC runs the XACK even when the XADD to the dead-letter stream fails.
BOOST_AUTO_TEST_CASE(a_dead_letter_stream_of_the_wrong_type_keeps_the_message_pending) {
    redis_server srv;
    asio::io_context ioc;
    std::vector<std::string> logs;
    client cl{ioc.get_executor(), cfg_for(srv), capture_all(logs)};
    worker w{cl, {.stream = "orders", .group = "billing", .start_id = "0", .min_idle = 300ms, .max_deliveries = 1}};
    std::size_t calls = 0;
    w.on_message([&](message const&) -> asio::awaitable<outcome> {
        ++calls;
        co_return retry("exit status 1");
    });
    pending_summary p{};
    std::int64_t dlq_type_is_string = 0;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await command(cl, "SET", "orders:dlq", "x");
        co_await produce(cl, "orders", 1);
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return any_line_has(logs, "dead-lettering"); }, 10s));
        p = co_await pending_of(cl, "orders", "billing");
        dlq_type_is_string = co_await integer_of(cl, "STRLEN", "orders:dlq");
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }));
        cl.close();
    });
    BOOST_TEST(calls >= 1u);
    BOOST_TEST(p.count == 1u, "the message must stay pending, XPENDING has " << p.count);
    BOOST_TEST(dlq_type_is_string == 1);
    BOOST_TEST(w.stats().dead_lettered == 0u);
    BOOST_TEST(any_line_has(logs, "WRONGTYPE"), "the log gives the server's reason");
}

// Item 2. Connections killed every 250 ms while three workers drain a stream: a re-read of a
// pending list after a reconnect must skip what is in hand and re-send unconfirmed acks first.
BOOST_AUTO_TEST_CASE(client_kill_every_250ms_hands_nothing_out_twice) {
    constexpr int total = 3000;
    redis_server srv;
    asio::io_context ioc;
    client producer{ioc.get_executor(), cfg_for(srv), quiet()};
    std::vector<std::unique_ptr<client>> clients;
    std::vector<std::unique_ptr<worker>> workers;
    delivery_tally t;
    for (int i = 0; i < 3; ++i) {
        clients.push_back(std::make_unique<client>(ioc.get_executor(), cfg_for(srv), quiet()));
        workers.push_back(std::make_unique<worker>(
            *clients.back(), worker_options{.stream = "orders", .group = "g", .start_id = "0", .identity = fmt::format("p{}", i),
                                            .batch = 32, .min_idle = 10000ms}));
        record_slowly_and_ack(*workers.back(), t, 3ms); // takes a little time, like `--exec cat`
    }
    std::atomic<bool> killing{true};
    std::atomic<int> kills{0};
    pending_summary after{};
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await produce(producer, "orders", total);
        std::vector<std::shared_ptr<bool>> done;
        for (auto& w : workers)
            done.push_back(start_worker(ioc, *w));
        std::thread killer{[&] {
            while (killing) {
                std::this_thread::sleep_for(250ms); // the fault's period, not a synchronisation
                srv.cli({"CLIENT", "KILL", "TYPE", "normal"});
                ++kills;
            }
        }};
        BOOST_TEST(co_await eventually([&] { return t.seen.size() == static_cast<std::size_t>(total); }, 120s),
                   "handled " << t.seen.size() << " distinct of " << total);
        killing = false;
        killer.join();
        client checker{ioc.get_executor(), cfg_for(srv), quiet()}; // connected after the last kill
        after = co_await pending_after_settling(checker, "orders", "g", 30s);
        checker.close();
        for (auto& w : workers)
            w->stop();
        BOOST_TEST(co_await eventually([&] { return std::all_of(done.begin(), done.end(), [](auto& d) { return *d; }); }, 30s));
        for (auto& c : clients)
            c->close();
        producer.close();
    }, 200s);
    BOOST_TEST_MESSAGE(fmt::format("CLIENT KILL every 250 ms, 3 workers: produced {}, handled {} ({} distinct), "
                                   "duplicates {}, pending after {}, kill rounds {}",
                                   total, t.handled, t.seen.size(), t.duplicates(), after.count, kills.load()));
    BOOST_TEST(t.seen.size() == static_cast<std::size_t>(total));
    BOOST_TEST(t.duplicates() == 0u);
    BOOST_TEST(after.count == 0u);
    BOOST_TEST(kills.load() >= 3);
}

// Item 3. A handler inside an operation that ignores cancellation outlives the drain deadline:
// run() must wait for it (its consumer state and batch stay alive; ASan checks the rest).
BOOST_AUTO_TEST_CASE(run_returns_only_after_a_handler_that_ignores_cancellation) {
    redis_server srv;
    asio::io_context ioc;
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    worker w{cl, {.stream = "orders", .group = "g", .start_id = "0", .drain_timeout = 100ms}};
    bool handler_started = false;
    bool handler_finished = false;
    w.on_message([&](message const& m) -> asio::awaitable<outcome> {
        handler_started = true;
        co_await sleep_ignoring_cancellation(5500ms); // longer than the old fixed 5 s wait
        BOOST_TEST(m.field_or("n", "") == "0");          // the batch is still alive
        handler_finished = true;
        co_return ack;
    });
    bool finished_when_run_returned = false;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await produce(cl, "orders", 1);
        bool returned = false;
        asio::co_spawn(ioc, w.run(), [&](std::exception_ptr) {
            returned = true;
            finished_when_run_returned = handler_finished;
        });
        BOOST_TEST(co_await eventually([&] { return handler_started; }));
        w.stop();
        BOOST_TEST(co_await eventually([&] { return returned; }, 20s));
        cl.close();
    });
    BOOST_TEST(finished_when_run_returned, "run() returned while a handler was still running");
}

// Item 4. Error replies to XACK (here NOPERM until an operator fixes the ACL) are retried with
// backoff, in commands of at most ack_batch ids; the messages are not handled again.
BOOST_AUTO_TEST_CASE(refused_acks_are_retried_in_bounded_commands_until_accepted) {
    constexpr int total = 200;
    redis_server::options o;
    o.acl_users = {acl_setup::admin_line(), "user app on >app-pw ~* &* +@all -xack"};
    redis_server srv{o};
    asio::io_context ioc;
    auto const admin_cfg = acl_setup::admin(srv);
    auto const app_cfg = acl_setup::user(srv, "app", "app-pw");
    client admin{ioc.get_executor(), admin_cfg, quiet()};
    std::vector<std::string> logs;
    client cl{ioc.get_executor(), app_cfg, capture_all(logs)};
    worker w{cl, {.stream = "orders", .group = "g", .start_id = "0", .batch = 50, .ack_batch = 10}};
    delivery_tally t;
    record_and_ack(w, t);
    pending_summary refused{}, accepted{};
    std::uint64_t xacks = 0;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await produce(admin, "orders", total);
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return t.seen.size() == static_cast<std::size_t>(total); }));
        BOOST_TEST(co_await eventually([&] { return any_line_has(logs, "NOPERM"); }));
        refused = co_await pending_of(admin, "orders", "g");
        co_await command(admin, "ACL", "SETUSER", "app", "+xack");
        accepted = co_await pending_after_settling(admin, "orders", "g");
        // XACKs the server ran (refused ones are not counted): 200 ids, at most 10 per command.
        request r;
        r.push("INFO", "commandstats");
        std::string info;
        co_await admin.connection().async_exec(r, adapt(info), asio::use_awaitable);
        if (auto at = info.find("cmdstat_xack:calls="); at != std::string::npos)
            xacks = std::stoull(info.substr(at + 19));
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }));
        cl.close();
        admin.close();
    }, 60s);
    BOOST_TEST_MESSAGE(fmt::format("acks refused with NOPERM: {} pending while refused, {} after the grant; "
                                   "{} XACK commands ran (ack_batch 10); handled {} ({} duplicates)",
                                   refused.count, accepted.count, xacks, t.handled, t.duplicates()));
    BOOST_TEST(refused.count == static_cast<std::uint64_t>(total));
    BOOST_TEST(accepted.count == 0u);
    BOOST_TEST(xacks >= static_cast<std::uint64_t>(total / 10));
    BOOST_TEST(t.duplicates() == 0u);
}

// Item 4. Under maxmemory the idempotency script's SETs are refused but XACK is not: the ack
// goes through at once and the "done" marker is written once memory is available again.
BOOST_AUTO_TEST_CASE(under_maxmemory_the_ack_goes_through_and_the_marker_follows) {
    redis_server srv;
    asio::io_context ioc;
    client admin{ioc.get_executor(), cfg_for(srv), quiet()};
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    worker_options opts{.stream = "orders", .group = "g", .start_id = "0"};
    opts.idempotency.enabled = true;
    worker w{cl, opts};
    std::string id;
    w.on_message([&](message const& m) -> asio::awaitable<outcome> {
        id = m.id().to_string();
        co_await command(admin, "CONFIG", "SET", "maxmemory", "1"); // full while it is handled
        co_return ack;
    });
    pending_summary while_full{};
    std::string marker_while_full, marker_after;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await produce(cl, "orders", 1);
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return !id.empty(); }));
        while_full = co_await pending_after_settling(admin, "orders", "g", 5s);
        auto get = [&]() -> asio::awaitable<std::string> {
            request r;
            r.push("GET", "redstream:done:orders:" + id);
            std::optional<std::string> v;
            co_await admin.connection().async_exec(r, adapt(v), asio::use_awaitable);
            co_return v.value_or("");
        };
        marker_while_full = co_await get();
        co_await command(admin, "CONFIG", "SET", "maxmemory", "0");
        for (int i = 0; i < 200 && marker_after != "done"; ++i) {
            marker_after = co_await get();
            if (marker_after != "done")
                co_await sleep_for(25ms);
        }
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }));
        cl.close();
        admin.close();
    });
    BOOST_TEST(while_full.count == 0u, "the ack must go through under maxmemory");
    BOOST_TEST(marker_while_full != "done");
    BOOST_TEST(marker_after == "done", "the marker is written once memory is available: " << marker_after);
}

// Item 5. A refused SUBSCRIBE (an ACL user without channel rights) must not leave the worker
// believing in keyspace wake-ups: it falls back, and a parked consumer still wakes promptly.
BOOST_AUTO_TEST_CASE(a_refused_keyspace_subscription_falls_back_to_another_wakeup) {
    redis_server::options o;
    o.notify_keyspace_events = "Kt";
    o.acl_users = {acl_setup::admin_line(), "user app on >app-pw ~* resetchannels +@all"};
    redis_server srv{o};
    asio::io_context ioc;
    auto const admin_cfg = acl_setup::admin(srv);
    auto const app_cfg = acl_setup::user(srv, "app", "app-pw");
    client admin{ioc.get_executor(), admin_cfg, quiet()};
    client cl{ioc.get_executor(), app_cfg, quiet()};
    worker w{cl, {.stream = "orders", .group = "g", .idle_poll_interval = 20000ms}};
    delivery_tally t;
    record_and_ack(w, t);
    wakeup_mode wakeup = wakeup_mode::automatic;
    bool woke = false;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually(
            [&] { return w.running() && w.stats().wakeup != wakeup_mode::automatic; }));
        wakeup = w.stats().wakeup;
        // The consumer has found the stream empty once: it waits for a wake-up now.
        BOOST_TEST(co_await eventually([&] { return w.stats().empty_reads >= 1; }));
        co_await produce(admin, "orders", 1);
        woke = co_await eventually([&] { return t.handled == 1; }, 3s);
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }));
        cl.close();
        admin.close();
    });
    BOOST_TEST((wakeup != wakeup_mode::keyspace));
    BOOST_TEST(woke, "a message published while parked waited for the idle poll");
}

// Item 5. Only `xadd` events wake a parked consumer, not the group and trim events that
// consumers themselves cause.
BOOST_AUTO_TEST_CASE(only_xadd_events_wake_parked_consumers) {
    redis_server::options o;
    o.notify_keyspace_events = "Kt";
    redis_server srv{o};
    asio::io_context ioc;
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    worker w{cl, {.stream = "orders", .group = "g", .consumers = 2, .idle_poll_interval = 20000ms}};
    delivery_tally t;
    record_and_ack(w, t);
    std::uint64_t reads_before = 0, reads_after = 0;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return w.stats().parked == 2; }));
        BOOST_TEST((w.stats().wakeup == wakeup_mode::keyspace));
        reads_before = w.stats().read_replies;
        for (int i = 0; i < 50; ++i)
            co_await command(cl, "XGROUP", "CREATECONSUMER", "orders", "g", fmt::format("other{}", i));
        co_await command(cl, "XSETID", "orders", "9999999999999-0");
        co_await produce(cl, "orders", 1); // an xadd event still wakes one
        BOOST_TEST(co_await eventually([&] { return t.handled == 1; }, 5s));
        reads_after = w.stats().read_replies;
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }));
        cl.close();
    });
    BOOST_TEST_MESSAGE(fmt::format("51 non-xadd events and 1 xadd while parked: {} reads", reads_after - reads_before));
    BOOST_TEST(reads_after - reads_before <= 4u);
}

// Item 6. The claim and retry loops used one consumer name: a ranged XPENDING over the claimed
// ids then also returned the retry loop's entry and cut off the last claimed row, whose count
// defaulted to 1, so a message past max_deliveries was handled instead of dead-lettered.
BOOST_AUTO_TEST_CASE(claimed_messages_get_their_exact_delivery_counts) {
    redis_server srv;
    asio::io_context ioc;
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    worker w{cl, {.stream = "orders", .group = "g", .identity = "t", .min_idle = 5000ms, .claim_interval = 100ms,
                  .max_deliveries = 5}};
    std::vector<std::string> poison;
    std::string retried;
    bool retried_once = false;
    bool slow_phase = false;
    std::size_t poison_handled = 0;
    w.on_message([&](message const& m) -> asio::awaitable<outcome> {
        if (m.id().to_string() != retried) {
            ++poison_handled;
            co_return ack;
        }
        if (!retried_once) {
            retried_once = true;
            co_return retry_after(20ms); // to the retry loop
        }
        slow_phase = true; // held by the retry loop while the claim loop claims around it
        co_await sleep_for(1500ms);
        co_return ack;
    });
    std::int64_t dead = 0;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await command(cl, "XGROUP", "CREATE", "orders", "g", "$", "MKSTREAM");
        // P1 < A < P2 .. P5: A is the retried message, the P's belong to a dead consumer.
        std::vector<field_list> const six{{{"p", "1"}}, {{"p", "A"}}, {{"p", "2"}}, {{"p", "3"}}, {{"p", "4"}}, {{"p", "5"}}};
        auto ids = co_await cl.publish_batch("orders", six);
        retried = ids[1].to_string();
        for (std::size_t i = 0; i < ids.size(); ++i)
            if (i != 1)
                poison.push_back(ids[i].to_string());
        co_await command(cl, "XREADGROUP", "GROUP", "g", "dead", "COUNT", "6", "STREAMS", "orders", ">");
        co_await command(cl, "XCLAIM", "orders", "g", "redstream.t.0", "0", retried);
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return slow_phase; }));
        std::vector<std::string> claim{"orders", "g", "dead", "0"};
        claim.insert(claim.end(), poison.begin(), poison.end());
        for (std::string const s : {"IDLE", "100000", "RETRYCOUNT", "10", "JUSTID"})
            claim.push_back(s);
        co_await command(cl, "XCLAIM", claim); // the P's: delivered 10 times, idle long past min_idle
        BOOST_TEST(co_await eventually([&] { return w.stats().dead_lettered + poison_handled >= 5; }, 10s));
        dead = co_await integer_of(cl, "XLEN", "orders:dlq");
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }));
        cl.close();
    });
    BOOST_TEST(poison_handled == 0u, "a message delivered 11 times was handled (max_deliveries 5)");
    BOOST_TEST(dead == 5);
}

// Item 7. A slow handler works through its batch one message at a time: the tail waits in
// hand longer than min_idle. This process's own claim loop must not take those messages.
BOOST_AUTO_TEST_CASE(messages_waiting_in_a_batch_are_not_claimed_by_the_own_claim_loop) {
    redis_server srv;
    asio::io_context ioc;
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    worker w{cl, {.stream = "orders", .group = "g", .start_id = "0", .batch = 10, .min_idle = 400ms}};
    delivery_tally t;
    record_slowly_and_ack(w, t, 150ms);
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await produce(cl, "orders", 12);
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return t.seen.size() == 12u; }, 20s));
        auto p = co_await pending_after_settling(cl, "orders", "g", 10s);
        BOOST_TEST(p.count == 0u);
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }));
        cl.close();
    });
    BOOST_TEST_MESSAGE(fmt::format("slow handler (150 ms, batch 10, min_idle 400 ms): handled {}, claimed {}, "
                                   "duplicates {}", t.handled, w.stats().claimed, t.duplicates()));
    BOOST_TEST(t.duplicates() == 0u);
    BOOST_TEST(w.stats().claimed == 0u);
}

// Item 7, during a graceful stop: the draining worker keeps its waiting messages from looking
// idle until its handlers are done, so another worker's claim loop does not take them.
BOOST_AUTO_TEST_CASE(a_draining_worker_keeps_its_waiting_messages_from_other_claim_loops) {
    redis_server srv;
    asio::io_context ioc;
    client ca{ioc.get_executor(), cfg_for(srv), quiet()};
    client cb{ioc.get_executor(), cfg_for(srv), quiet()};
    worker a{ca, {.stream = "orders", .group = "g", .start_id = "0", .identity = "a", .batch = 10, .min_idle = 400ms}};
    worker b{cb, {.stream = "orders", .group = "g", .start_id = "0", .identity = "b", .min_idle = 400ms,
                  .claim_interval = 50ms}};
    delivery_tally t;
    record_slowly_and_ack(a, t, 150ms);
    record_and_ack(b, t);
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await produce(ca, "orders", 10);
        auto done_a = start_worker(ioc, a);
        BOOST_TEST(co_await eventually([&] { return t.handled >= 1; }));
        auto done_b = start_worker(ioc, b);
        a.stop(); // drains the other 9 for ~1.3 s, far past min_idle
        BOOST_TEST(co_await eventually([&] { return *done_a; }, 10s));
        b.stop();
        BOOST_TEST(co_await eventually([&] { return *done_b; }));
        ca.close();
        cb.close();
    });
    BOOST_TEST_MESSAGE(fmt::format("draining worker (150 ms handler, 10 held, min_idle 400 ms): handled {}, "
                                   "claimed by the other worker {}, duplicates {}",
                                   t.handled, b.stats().claimed, t.duplicates()));
    BOOST_TEST(t.seen.size() == 10u);
    BOOST_TEST(t.duplicates() == 0u);
    BOOST_TEST(b.stats().claimed == 0u);
}

// Item 2 and 7 together: a re-read of the pending list after a reconnect resets the idle time
// of the entries it skips (they are in hand); the keeper must not then take them for lost.
BOOST_AUTO_TEST_CASE(entries_skipped_by_a_reread_stay_with_their_holder) {
    redis_server srv;
    asio::io_context ioc;
    client admin{ioc.get_executor(), cfg_for(srv), quiet()};
    auto cfg = cfg_for(srv);
    cfg.client_name = "worker-under-test";
    client cl{ioc.get_executor(), cfg, quiet()};
    worker w{cl, {.stream = "orders", .group = "g", .start_id = "0", .batch = 5, .min_idle = 600ms}};
    delivery_tally t;
    record_slowly_and_ack(w, t, 100ms);
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await produce(admin, "orders", 10);
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return t.handled >= 2; }));
        co_await command(admin, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes");
        BOOST_TEST(co_await eventually([&] { return t.seen.size() == 10u; }, 10s));
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }));
        cl.close();
        admin.close();
    });
    BOOST_TEST_MESSAGE(fmt::format("reconnect mid-batch (100 ms handler, batch 5, min_idle 600 ms): handled {}, "
                                   "claimed {}, skipped {}, duplicates {}",
                                   t.handled, w.stats().claimed, w.stats().skipped_duplicates, t.duplicates()));
    BOOST_TEST(t.duplicates() == 0u);
    BOOST_TEST(w.stats().skipped_duplicates == 0u);
    BOOST_TEST(w.stats().claimed == 0u);
}

// Item 7. The idempotency lease was taken once per batch: the k-th message's lease had run
// down by k handler times before its handler started. Each message's lease covers it.
BOOST_AUTO_TEST_CASE(the_idempotency_lease_covers_each_message_of_a_batch) {
    redis_server srv;
    asio::io_context ioc;
    client admin{ioc.get_executor(), cfg_for(srv), quiet()};
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    worker_options opts{.stream = "orders", .group = "g", .start_id = "0", .batch = 8, .min_idle = 60000ms};
    opts.idempotency.enabled = true;
    opts.idempotency.lease = 600ms;
    worker w{cl, opts};
    std::vector<std::int64_t> ttl_at_start;
    w.on_message([&](message const& m) -> asio::awaitable<outcome> {
        ttl_at_start.push_back(co_await integer_of(admin, "PTTL", "redstream:done:orders:" + m.id().to_string()));
        co_await sleep_for(150ms);
        co_return ack;
    });
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await produce(cl, "orders", 8);
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return ttl_at_start.size() == 8u; }, 20s));
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }));
        cl.close();
        admin.close();
    });
    BOOST_TEST_MESSAGE(fmt::format("lease 600 ms, 8 handlers of 150 ms: PTTL at each start {}", fmt::join(ttl_at_start, ", ")));
    for (auto ttl : ttl_at_start)
        BOOST_TEST(ttl >= 250, "a message started with " << ttl << " ms of lease left");
}

// Item 8. A handler that throws something other than a std::exception is a failed message,
// not a dead consumer with leaked in-flight slots and an exception out of io_context::run().
BOOST_AUTO_TEST_CASE(a_handler_throwing_a_non_standard_exception_is_a_failure) {
    redis_server srv;
    asio::io_context ioc;
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    worker w{cl, {.stream = "orders", .group = "g", .start_id = "0", .min_idle = 300ms, .claim_interval = 100ms}};
    std::size_t calls = 0;
    w.on_message([&](message const& m) -> asio::awaitable<outcome> {
        ++calls;
        if (m.deliveries() == 1 && m.field_or("n", "") == "0")
            throw 42;
        co_return ack;
    });
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await produce(cl, "orders", 3);
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return w.stats().acked == 3u; }, 10s));
        BOOST_TEST(w.stats().consumers == 1u);
        BOOST_TEST(w.stats().failed == 1u);
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }));
        cl.close();
    });
    BOOST_TEST(calls == 4u);
    BOOST_TEST(w.stats().in_flight == 0u); // no slot leaked by the throw
}

// Item 9. stop() before run() used to be forgotten: run() then ran until a second stop().
BOOST_AUTO_TEST_CASE(stop_before_run_makes_run_return) {
    redis_server srv;
    asio::io_context ioc;
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    worker w{cl, {.stream = "orders", .group = "g"}};
    delivery_tally t;
    record_and_ack(w, t);
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        w.stop();
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return *done; }, 5s));
        cl.close();
    });
    BOOST_TEST(!w.running());
}

// Item 9. Replacing the handler of a running worker would destroy a function a handler call
// may be executing: refused.
BOOST_AUTO_TEST_CASE(on_message_while_running_is_refused) {
    redis_server srv;
    asio::io_context ioc;
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    worker w{cl, {.stream = "orders", .group = "g"}};
    delivery_tally t;
    record_and_ack(w, t);
    bool refused = false;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return w.running(); }));
        try {
            record_and_ack(w, t);
        } catch (std::logic_error const&) {
            refused = true;
        }
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }));
        cl.close();
    });
    BOOST_TEST(refused);
}

// Item 9. A retired consumer whose pending list still held a failed message got one delete
// attempt. It is deleted once the claim loop has taken the message over.
BOOST_AUTO_TEST_CASE(a_retired_consumer_is_deleted_once_its_pending_list_empties) {
    redis_server srv;
    asio::io_context ioc;
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    worker w{cl, {.stream = "orders", .group = "g", .start_id = "0", .consumers = 2, .identity = "t",
                  .min_idle = 300ms, .claim_interval = 100ms}};
    std::size_t calls = 0;
    w.on_message([&](message const& m) -> asio::awaitable<outcome> {
        ++calls;
        if (m.consumer() == "redstream.t.1")
            co_return retry("fails on this consumer");
        co_return ack;
    });
    std::vector<std::string> names;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await command(cl, "XGROUP", "CREATE", "orders", "g", "0", "MKSTREAM");
        co_await produce(cl, "orders", 1);
        co_await command(cl, "XREADGROUP", "GROUP", "g", "redstream.t.1", "COUNT", "1", "STREAMS", "orders", ">");
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return calls >= 1; }));
        w.remove_consumer(); // retires redstream.t.1 while its pending list holds the failed message
        BOOST_TEST(co_await eventually([&] { return w.stats().acked == 1u; }, 10s));
        bool gone = false;
        for (int i = 0; i < 200 && !gone; ++i) {
            auto cs = co_await consumers_of(cl, "orders", "g");
            gone = std::none_of(cs.begin(), cs.end(), [](auto const& c) { return c.name == "redstream.t.1"; });
            if (!gone)
                co_await sleep_for(25ms);
        }
        BOOST_TEST(gone, "the retired consumer is still in the group");
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }));
        cl.close();
    });
}

// Item 9. Entries in the claim consumer's own pending list (a claim whose reply was lost with
// the connection) were re-read only at start, then waited for min_idle.
BOOST_AUTO_TEST_CASE(the_claim_consumer_rereads_its_pending_list_after_a_reconnect) {
    redis_server::options o;
    o.notify_keyspace_events = "Kt";
    redis_server srv{o};
    asio::io_context ioc;
    client admin{ioc.get_executor(), cfg_for(srv), quiet()};
    auto cfg = cfg_for(srv);
    cfg.client_name = "worker-under-test";
    client cl{ioc.get_executor(), cfg, quiet()};
    worker w{cl, {.stream = "orders", .group = "g", .identity = "t", .min_idle = 60000ms}};
    delivery_tally t;
    record_and_ack(w, t);
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await command(admin, "XGROUP", "CREATE", "orders", "g", "$", "MKSTREAM");
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return w.stats().parked == 1u; }));
        // As if a claim and an XCLAIM of the retry loop had delivered them and the replies were
        // lost: in one transaction, so no consumer reads them as new first.
        request r;
        r.push("MULTI");
        r.push("XADD", "orders", "*", "n", "1");
        r.push("XADD", "orders", "*", "n", "2");
        r.push("XREADGROUP", "GROUP", "g", "redstream.t.claim", "COUNT", "1", "STREAMS", "orders", ">");
        r.push("XREADGROUP", "GROUP", "g", "redstream.t.retry", "COUNT", "1", "STREAMS", "orders", ">");
        r.push("EXEC");
        co_await admin.connection().async_exec(r, adapt_ignore(), asio::use_awaitable);
        // A RESP3 connection with a keyspace subscription counts as a pubsub client.
        co_await command(admin, "CLIENT", "KILL", "TYPE", "pubsub", "SKIPME", "yes");
        BOOST_TEST(co_await eventually([&] { return t.seen.size() == 2u; }, 5s), "handled " << t.seen.size() << " of 2");
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }));
        cl.close();
        admin.close();
    });
}

// The claim loop pages through a dead consumer's pending list (XPENDING IDLE, then XCLAIM):
// 250 idle entries at 100 per page are all taken once, entries deleted from the stream meanwhile
// are dropped from the list rather than handled (by XCLAIM on 7.0, by the claimer's re-read of
// its own list on 6.2), and the fresh ones (idle less than min_idle) are left with their owner.
BOOST_AUTO_TEST_CASE(claim_scan_pages_through_a_dead_consumers_list_and_drops_deleted_entries) {
    redis_server srv;
    asio::io_context ioc;
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    worker w{cl, {.stream = "orders", .group = "g", .identity = "t", .min_idle = 5000ms, .claim_interval = 100ms,
                  .claim_batch = 100}};
    delivery_tally t;
    record_and_ack(w, t);
    pending_summary left{};
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await command(cl, "XGROUP", "CREATE", "orders", "g", "$", "MKSTREAM");
        co_await produce(cl, "orders", 260);
        co_await command(cl, "XREADGROUP", "GROUP", "g", "dead", "COUNT", "250", "STREAMS", "orders", ">");
        co_await command(cl, "XREADGROUP", "GROUP", "g", "alive", "COUNT", "10", "STREAMS", "orders", ">");
        // Make the dead consumer's entries idle for long, then delete ten of them.
        std::vector<stream_id> dead_ids;
        {
            request r;
            r.push("XPENDING", "orders", "g", "-", "+", 1000, "dead");
            std::vector<pending_entry> rows;
            co_await cl.connection().async_exec(r, adapt(rows), asio::use_awaitable);
            for (auto const& row : rows)
                dead_ids.push_back(row.id);
        }
        BOOST_TEST(dead_ids.size() == 250u);
        request idle;
        idle.push("XCLAIM", "orders", "g", "dead", 0, dead_ids, "IDLE", 100000, "JUSTID");
        std::vector<stream_id> deleted(dead_ids.begin() + 100, dead_ids.begin() + 110); // across a page boundary
        idle.push("XDEL", "orders", deleted);
        co_await cl.connection().async_exec(idle, adapt_ignore(), asio::use_awaitable);
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return w.stats().acked == 240; }, 10s), w.stats().acked);
        left = co_await pending_of(cl, "orders", "g");
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }));
        cl.close();
    });
    BOOST_TEST(w.stats().claimed == 240u);
    BOOST_TEST(t.handled == 240u);
    BOOST_TEST(t.duplicates() == 0u);
    BOOST_TEST(left.count == 10u, "only the live consumer's fresh entries stay pending, XPENDING has " << left.count);
}

BOOST_AUTO_TEST_SUITE_END()
