// Faults a real redis-server produces: a restart with appendfsync always, LOADING after a
// restart, maxmemory, the client output buffer limit, keys deleted or replaced under running
// consumers, and a handler slower than min_idle. Each reports produced / handled / acked /
// lost / duplicated.

#include <redstream/consume/worker.hpp>

#include "redis_server.hpp"
#include "run_coro.hpp"
#include "worker_test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <map>

using namespace redstream;
using namespace redstream::test;

namespace {

// Collects warnings and errors (and prints everything when REDSTREAM_TEST_LOG is set).
logger capture(std::vector<std::string>& lines) {
    bool const echo = std::getenv("REDSTREAM_TEST_LOG") != nullptr;
    return logger{echo ? log_level::trace : log_level::warn, [&lines, echo](log_level l, std::string_view m) {
                      if (echo)
                          std::fprintf(stderr, "[%s] %.*s\n", std::string{to_string(l)}.c_str(), int(m.size()), m.data());
                      if (l >= log_level::warn)
                          lines.emplace_back(m);
                  }};
}

bool mentions(std::vector<std::string> const& lines, std::string_view what) {
    return std::any_of(lines.begin(), lines.end(), [&](std::string const& l) { return l.find(what) != std::string::npos; });
}

std::string report(char const* scenario, std::size_t produced, delivery_tally const& t, worker const& w,
                   pending_summary const& after) {
    return fmt::format("{}: produced {}, handled {} ({} distinct), acked {}, pending after {}, lost {}, duplicated {}",
                       scenario, produced, t.handled, t.seen.size(), w.stats().acked, after.count,
                       produced - std::min(produced, t.seen.size()), t.duplicates());
}

// Arguments are literals (trivial temporaries are safe inside co_await with GCC 12).
template <class... Args>
asio::awaitable<void> redis_command(client& cl, char const* command, Args... args) {
    request r;
    r.push(command, args...);
    co_await cl.connection().async_exec(r, adapt_ignore(), asio::use_awaitable);
}

// Publishes one message, retrying (bounded) through errors; returns the error codes seen.
asio::awaitable<std::vector<error_code>> publish_with_retry(client& cl, std::string const& stream, std::string const& tag) {
    std::vector<error_code> errors;
    field_list const f{{"tag", tag}};
    for (int attempt = 0; attempt < 3000; ++attempt) {
        try {
            co_await cl.publish(stream, f);
            co_return errors;
        } catch (boost::system::system_error const& e) {
            errors.push_back(e.code());
        }
        co_await sleep_for(10ms); // the producer's own retry pacing
    }
    BOOST_ERROR("publish never succeeded");
    co_return errors;
}

struct slow_handler_figures {
    std::size_t effects = 0;  // handler completions: the side effects users care about
    std::size_t distinct = 0; // distinct messages that had an effect
    std::uint64_t claimed = 0, skipped = 0;
    std::size_t pending_after = 0;
    std::size_t duplicate_effects() const { return effects - distinct; }
};

// Two workers on their own clients (as two processes would) share a group. Every tenth message
// takes 1 s, longer than min_idle (300 ms): the other worker's claim loop takes it over while
// the first is still handling it.
slow_handler_figures run_slow_handler_scenario(bool idempotent) {
    constexpr std::size_t total = 60;
    redis_server::options o;
    o.notify_keyspace_events = "Kt";
    redis_server srv{o};
    asio::io_context ioc;
    client ca{ioc.get_executor(), cfg_for(srv), quiet()};
    client cb{ioc.get_executor(), cfg_for(srv), quiet()};
    worker_options opts{.stream = "jobs", .group = "g", .start_id = "0", .consumers = 2, .batch = 2, .min_idle = 300ms};
    opts.claim_interval = 100ms;
    opts.idempotency.enabled = idempotent;
    opts.identity = "a";
    worker wa{ca, opts};
    opts.identity = "b";
    worker wb{cb, opts};
    std::map<std::string, int> effects;
    auto handler = [&effects](message const& m) -> asio::awaitable<outcome> {
        if (std::stoi(std::string{m.field_or("n", "0")}) % 10 == 0)
            co_await sleep_for(1000ms); // slower than min_idle
        ++effects[m.id().to_string()];   // the effect: charge the card, send the mail
        co_return ack;
    };
    wa.on_message(handler);
    wb.on_message(handler);
    slow_handler_figures f;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await produce(ca, "jobs", static_cast<int>(total));
        auto done_a = start_worker(ioc, wa);
        auto done_b = start_worker(ioc, wb);
        BOOST_TEST(co_await eventually([&] { return effects.size() == total; }, 30s));
        pending_summary p;
        p = co_await pending_after_settling(ca, "jobs", "g");
        f.pending_after = p.count;
        wa.stop();
        wb.stop();
        BOOST_TEST(co_await eventually([&] { return *done_a && *done_b; }, 30s));
        ca.close();
        cb.close();
    }, 90s);
    for (auto const& [id, n] : effects)
        f.effects += static_cast<std::size_t>(n);
    f.distinct = effects.size();
    f.claimed = wa.stats().claimed + wb.stats().claimed;
    f.skipped = wa.stats().skipped_duplicates + wb.stats().skipped_duplicates;
    return f;
}

} // namespace

BOOST_AUTO_TEST_SUITE(server_faults)

BOOST_AUTO_TEST_CASE(server_killed_and_restarted_with_appendfsync_always_loses_nothing) {
    constexpr std::size_t before = 12000, after_restart = 2000;
    redis_server::options o;
    o.appendonly = true;
    o.appendfsync_always = true;
    o.notify_keyspace_events = "Kt";
    redis_server srv{o};
    asio::io_context ioc;
    std::vector<std::string> logs;
    client cl{ioc.get_executor(), cfg_for(srv), capture(logs)};
    worker w{cl, {.stream = "orders", .group = "g", .start_id = "0", .consumers = 4, .min_idle = 5000ms}};
    delivery_tally t;
    w.on_message([&](message const& m) -> asio::awaitable<outcome> {
        co_await sleep_for(1ms); // work takes time: the kill finds messages read and not yet acked
        t.record(m);
        co_return ack;
    });
    pending_summary after{};
    std::size_t in_flight_at_kill = 0;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await produce(cl, "orders", static_cast<int>(before), "before");
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return t.seen.size() >= before / 4; }, 60s));
        in_flight_at_kill = w.stats().in_flight;
        auto const connects = cl.connection().stats().connects;
        srv.kill_hard(); // SIGKILL mid-run: only what was fsynced survives, and that is every reply we got
        srv.start();
        BOOST_TEST(co_await eventually([&] { return cl.connection().stats().connects > connects; }, 30s));
        co_await produce(cl, "orders", static_cast<int>(after_restart), "after");
        BOOST_TEST(co_await eventually([&] { return t.seen.size() == before + after_restart; }, 120s),
                   "seen " << t.seen.size());
        BOOST_TEST(co_await eventually([&] { return w.stats().acked >= before + after_restart; }, 30s));
        after = co_await pending_of(cl, "orders", "g");
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }, 30s));
        cl.close();
    }, 300s);
    BOOST_TEST_MESSAGE(report("kill -9 and restart, appendfsync always", before + after_restart, t, w, after)
                       << ", read and unacked at the kill " << in_flight_at_kill);
    BOOST_TEST(in_flight_at_kill > 0u);
    BOOST_TEST(t.seen.size() == before + after_restart); // 0 lost
    BOOST_TEST(after.count == 0u);
    BOOST_TEST(mentions(logs, "connection lost"));
}

BOOST_AUTO_TEST_CASE(loading_after_a_restart_is_reported_and_work_resumes) {
    redis_server::options o;
    o.notify_keyspace_events = "Kt";
    redis_server srv{o};
    // A dataset that takes seconds to load (20,000 keys, 100 us each), with events served while
    // loading so that clients get LOADING replies instead of a silent server.
    srv.cli({"DEBUG", "POPULATE", "20000"});
    srv.cli({"CONFIG", "SET", "key-load-delay", "100"});
    srv.cli({"CONFIG", "SET", "loading-process-events-interval-bytes", "1024"});
    srv.cli({"CONFIG", "REWRITE"});
    asio::io_context ioc;
    std::vector<std::string> logs;
    client cl{ioc.get_executor(), cfg_for(srv), capture(logs)};
    worker w{cl, {.stream = "s", .group = "g", .start_id = "0", .consumers = 2}};
    delivery_tally t;
    record_and_ack(w, t);
    std::vector<error_code> publish_errors;
    std::uint64_t errors_during_load = 0;
    pending_summary after{};
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await produce(cl, "s", 1000);
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return w.stats().acked == 1000u; }, 30s));
        co_await produce(cl, "s", 1000, "saved-unread"); // in the snapshot, handled after the restart
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }, 30s));
        co_await redis_command(cl, "SAVE");
        srv.stop();
        srv.start(); // listening, and LOADING for a few seconds
        auto const read_errors = w.stats().read_errors;
        done = start_worker(ioc, w);
        publish_errors = co_await publish_with_retry(cl, "s", "after-load");
        BOOST_TEST(co_await eventually([&] { return t.seen.size() == 2001u; }, 60s), "seen " << t.seen.size());
        errors_during_load = w.stats().read_errors - read_errors;
        BOOST_TEST(co_await eventually([&] { return w.stats().acked >= 2001u; }, 30s));
        after = co_await pending_of(cl, "s", "g");
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }, 30s));
        cl.close();
    }, 120s);
    BOOST_TEST_MESSAGE(report("LOADING after restart", 2001, t, w, after)
                       << fmt::format(", publish attempts refused {}, read errors while loading {}",
                                      publish_errors.size(), errors_during_load));
    // The connection holds back while the server loads (requests fail with not_connected or
    // wait); the log says why.
    BOOST_TEST(mentions(logs, "loading its dataset (LOADING)"));
    BOOST_TEST(!publish_errors.empty());
    BOOST_TEST(errors_during_load < 60u); // backed off, not spinning
    BOOST_TEST(t.seen.size() == 2001u);
    BOOST_TEST(after.count == 0u);
}

BOOST_AUTO_TEST_CASE(maxmemory_refuses_publish_clearly_while_consumers_drain) {
    redis_server srv;
    asio::io_context ioc;
    std::vector<std::string> logs;
    client cl{ioc.get_executor(), cfg_for(srv), capture(logs)};
    worker w{cl, {.stream = "s", .group = "g", .start_id = "0", .consumers = 2}};
    delivery_tally t;
    record_and_ack(w, t);
    error_code refused;
    std::string refused_text;
    pending_summary after{};
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await redis_command(cl, "XGROUP", "CREATE", "s", "g", "0", "MKSTREAM");
        co_await produce(cl, "s", 2000);
        co_await redis_command(cl, "CONFIG", "SET", "maxmemory", "1"); // full: every write that grows memory fails
        try {
            field_list const f{{"k", "v"}};
            co_await cl.publish("s", f);
            BOOST_ERROR("publish succeeded above maxmemory");
        } catch (boost::system::system_error const& e) {
            refused = e.code();
            refused_text = e.what();
        }
        // Reading and acking do not grow memory: consumers drain the stream while it is full,
        // and a worker starts although XGROUP CREATE is refused (the group exists).
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return w.stats().acked == 2000u; }, 60s), "acked " << w.stats().acked);
        co_await redis_command(cl, "CONFIG", "SET", "maxmemory", "0");
        field_list const f{{"k", "after"}};
        co_await cl.publish("s", f);
        BOOST_TEST(co_await eventually([&] { return w.stats().acked == 2001u; }, 30s));
        after = co_await pending_of(cl, "s", "g");
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }, 30s));
        cl.close();
    });
    BOOST_TEST_MESSAGE(report("maxmemory reached", 2001, t, w, after) << ", publish refused with: " << refused_text);
    BOOST_TEST((refused == server_errc::oom), refused.message());
    BOOST_TEST(refused_text.find("maxmemory") != std::string::npos, refused_text);
    BOOST_TEST(mentions(logs, "the group exists"));
    BOOST_TEST(t.seen.size() == 2001u);
    BOOST_TEST(after.count == 0u);
}

BOOST_AUTO_TEST_CASE(output_buffer_limit_closing_the_connection_is_explained_and_outgrown) {
    constexpr std::size_t total = 600;
    redis_server srv;
    asio::io_context ioc;
    std::vector<std::string> logs;
    client cl{ioc.get_executor(), cfg_for(srv), capture(logs)};
    // Batches of 128 entries of 2 KB: every read reply is ~260 KB, over a 64 KB hard limit.
    worker w{cl, {.stream = "s", .group = "g", .start_id = "0", .consumers = 2, .batch = 128}};
    delivery_tally t;
    record_and_ack(w, t);
    std::uint64_t drops = 0;
    std::size_t smallest_read = SIZE_MAX;
    pending_summary after{};
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        std::vector<field_list> batch;
        for (std::size_t i = 0; i < total; ++i)
            batch.push_back({{"n", std::to_string(i)}, {"payload", std::string(2048, 'x')}});
        co_await cl.publish_batch("s", batch);
        co_await redis_command(cl, "CONFIG", "SET", "client-output-buffer-limit", "normal 64kb 32kb 10");
        auto const connects = cl.connection().stats().connects;
        auto done = start_worker(ioc, w);
        // The limit stays: the worker halves its reads after each connection the server closes
        // until they fit, and handles everything.
        BOOST_TEST(co_await eventually([&] {
            smallest_read = std::min(smallest_read, w.stats().read_size);
            return w.stats().acked >= total;
        }, 60s), "acked " << w.stats().acked);
        drops = cl.connection().stats().connects - connects;
        after = co_await pending_of(cl, "s", "g");
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }, 30s));
        cl.close();
    }, 120s);
    BOOST_TEST_MESSAGE(report("client output buffer limit 64kb", total, t, w, after)
                       << ", connections closed by the server " << drops << ", read size 128 -> " << smallest_read);
    BOOST_TEST(drops >= 1u); // the limit really bit
    BOOST_TEST(mentions(logs, "client-output-buffer-limit"));
    BOOST_TEST(smallest_read < 32u);
    BOOST_TEST(t.seen.size() == total);
    BOOST_TEST(after.count == 0u);
}

BOOST_AUTO_TEST_CASE(stream_deleted_then_replaced_by_a_string_under_running_consumers) {
    redis_server::options o;
    o.notify_keyspace_events = "Kt";
    redis_server srv{o};
    asio::io_context ioc;
    std::vector<std::string> logs;
    client cl{ioc.get_executor(), cfg_for(srv), capture(logs)};
    worker_options opts{.stream = "s", .group = "g", .start_id = "0", .consumers = 2};
    opts.idle_poll_interval = 100ms; // parked consumers find the fault quickly
    worker w{cl, opts};
    delivery_tally t;
    record_and_ack(w, t);
    struct window {
        std::uint64_t errors = 0;
        double cpu = 0;
    };
    // One second under the fault: how many reads failed and how much CPU the process used.
    auto measure = [&]() -> asio::awaitable<window> {
        auto const e0 = w.stats().read_errors;
        auto const c0 = process_cpu_seconds();
        co_await sleep_for(1s); // the measurement window itself
        co_return window{w.stats().read_errors - e0, process_cpu_seconds() - c0};
    };
    window deleted, replaced;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await produce(cl, "s", 100);
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return w.stats().acked == 100u; }, 30s));

        co_await redis_command(cl, "DEL", "s");
        BOOST_TEST(co_await eventually([&] { return mentions(logs, "NOGROUP"); }, 10s));
        deleted = co_await measure();

        co_await redis_command(cl, "SET", "s", "not a stream");
        BOOST_TEST(co_await eventually([&] { return mentions(logs, "WRONGTYPE"); }, 10s));
        replaced = co_await measure();

        // Put a stream and group back: the consumers pick up new messages after their backoff.
        co_await redis_command(cl, "DEL", "s");
        co_await redis_command(cl, "XGROUP", "CREATE", "s", "g", "0", "MKSTREAM");
        co_await produce(cl, "s", 100, "after");
        BOOST_TEST(co_await eventually([&] { return t.seen.size() == 200u; }, 20s), "seen " << t.seen.size());
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }, 30s));
        cl.close();
    }, 120s);
    BOOST_TEST_MESSAGE(fmt::format("stream deleted: {} failed reads and {:.3f} s CPU in 1 s; replaced by a string: {} "
                                   "and {:.3f} s; handled {} after re-creation",
                                   deleted.errors, deleted.cpu, replaced.errors, replaced.cpu, t.seen.size()));
    // Two consumers backing off 50 ms → 2 s: a handful of failures a second, not thousands.
    BOOST_TEST(deleted.errors <= 12u);
    BOOST_TEST(replaced.errors <= 12u);
    BOOST_TEST(deleted.cpu < 0.3);
    BOOST_TEST(replaced.cpu < 0.3);
    BOOST_TEST(t.duplicates() == 0u);
}

BOOST_AUTO_TEST_CASE(handler_slower_than_min_idle_duplicates_effects_unless_idempotent) {
    auto const plain = run_slow_handler_scenario(false);
    auto const guarded = run_slow_handler_scenario(true);
    BOOST_TEST_MESSAGE(fmt::format("handler 1 s, min_idle 300 ms, 60 messages: without idempotency {} duplicate effects "
                                   "({} claimed); with the idempotency helper {} duplicate effects ({} claimed, {} skipped)",
                                   plain.duplicate_effects(), plain.claimed, guarded.duplicate_effects(), guarded.claimed,
                                   guarded.skipped));
    BOOST_TEST(plain.claimed > 0u);
    BOOST_TEST(plain.duplicate_effects() > 0u); // the fault is real
    BOOST_TEST(guarded.claimed > 0u);
    BOOST_TEST(guarded.duplicate_effects() == 0u);
    BOOST_TEST(guarded.skipped > 0u);
    BOOST_TEST(plain.pending_after == 0u);
    BOOST_TEST(guarded.pending_after == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
