// Lag sampling (and its fallbacks), metrics exposition (validated by promtool), health, the
// HTTP endpoint (queried with curl) and the autoscaler following a ramp of load.

#include <redstream/ops/admin.hpp>
#include <redstream/scaling/autoscaler.hpp>
#include <redstream/ops/http_endpoint.hpp>
#include <redstream/ops/metrics.hpp>
#include <redstream/version.hpp>

#include "redis_server.hpp"
#include "run_coro.hpp"
#include "shell.hpp"
#include "worker_test_support.hpp"

#include <boost/asio/detached.hpp>
#include <boost/test/unit_test.hpp>

#include <fmt/format.h>

#include <atomic>
#include <cstdio>
#include <set>
#include <thread>

using namespace redstream;
using namespace redstream::test;

namespace {

// Runs `cmd` on a helper thread while the io_context keeps serving; returns its result.
asio::awaitable<std::pair<int, std::string>> shell_async(std::string cmd) {
    auto result = std::make_shared<std::pair<int, std::string>>(-1, "");
    auto done = std::make_shared<std::atomic<bool>>(false);
    std::thread t{[=] {
        *result = shell(cmd);
        *done = true;
    }};
    bool const finished = co_await eventually([&] { return done->load(); }, 30s);
    t.join();
    BOOST_TEST(finished, "command did not finish: " << cmd);
    co_return *result;
}

} // namespace

BOOST_AUTO_TEST_SUITE(observability)

BOOST_AUTO_TEST_CASE(sampler_reports_lag_pending_and_consumers) {
    redis_server srv;
    asio::io_context ioc;
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await ensure_group(cl, "s", "g", "0");
        co_await produce(cl, "s", 30);
        // Deliver 10 to consumer c1 without acking: 20 left undelivered, 10 pending.
        request r;
        r.push("XREADGROUP", "GROUP", "g", "c1", "COUNT", 10, "STREAMS", "s", ">");
        co_await cl.connection().async_exec(r, adapt_ignore(), asio::use_awaitable);
        auto s = co_await sample_group(cl, "s", "g");
        BOOST_TEST(s.stream_exists);
        BOOST_TEST(s.group_exists);
        BOOST_TEST(s.length == 30u);
        BOOST_TEST(s.lag == 20u);
        BOOST_TEST(!s.lag_counted);
        BOOST_TEST(s.pending == 10u);
        BOOST_TEST(s.oldest_pending_id.has_value());
        BOOST_TEST(s.oldest_pending_deliveries == 1u);
        BOOST_TEST(s.server_time_ms > 0u);
        BOOST_TEST(s.consumers.size() == 1u);
        BOOST_TEST((s.consumers[0].name == "c1"));
        BOOST_TEST(s.consumers[0].pending == 10u);

        auto missing = co_await sample_group(cl, "nope", "g");
        BOOST_TEST(!missing.stream_exists);
        auto no_group = co_await sample_group(cl, "s", "other");
        BOOST_TEST(no_group.stream_exists);
        BOOST_TEST(!no_group.group_exists);
        cl.close();
    });
}

BOOST_AUTO_TEST_CASE(nil_lag_falls_back_to_a_bounded_count) {
    redis_server srv;
    asio::io_context ioc;
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await produce(cl, "s", 50);
        // A group created at an arbitrary id, after the 10th entry: Redis cannot know its lag.
        request range;
        range.push("XRANGE", "s", "-", "+", "COUNT", 10);
        entry_batch first;
        co_await cl.connection().async_exec(range, adapt(first), asio::use_awaitable);
        BOOST_TEST_REQUIRE(first.size() == 10u);
        std::string const tenth = first[9].id().to_string();
        co_await ensure_group(cl, "s", "g", tenth);
        auto s = co_await sample_group(cl, "s", "g");
        BOOST_TEST(!s.reported_lag.has_value()); // nil from Redis
        BOOST_TEST(s.lag_counted);
        BOOST_TEST(s.lag == 40u); // counted after the cursor
        BOOST_TEST(!s.lag_capped);
        BOOST_TEST(s.age_lag_ms == s.last_generated_id.ms - s.last_delivered_id.ms);

        auto capped = co_await sample_group(cl, "s", "g", {.count_bound = 16});
        BOOST_TEST(capped.lag == 16u);
        BOOST_TEST(capped.lag_capped);
        cl.close();
    });
}

BOOST_AUTO_TEST_CASE(metrics_pass_promtool_and_health_reports_reasons) {
    redis_server srv;
    asio::io_context ioc;
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    worker w{cl, {.stream = "orders \"eu\"", .group = "billing", .start_id = "0", .consumers = 2}};
    w.on_message([](message const&) -> asio::awaitable<outcome> { co_return ack; });
    metrics_registry registry{health_options{.max_lag = 1000}};
    registry.add(cl);
    registry.add(w);
    autoscaler scaler{cl, w};
    registry.add(scaler);
    std::string text;
    health_report healthy, unhealthy;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        co_await produce(cl, "orders \"eu\"", 100);
        auto done = start_worker(ioc, w);
        BOOST_TEST(co_await eventually([&] { return w.stats().acked == 100; }));
        text = co_await registry.scrape();
        healthy = co_await registry.check_health();
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }));
        // Stream replaced by another key type: unhealthy, with the reason.
        request del;
        del.push("DEL", "orders \"eu\"");
        co_await cl.connection().async_exec(del, adapt_ignore(), asio::use_awaitable);
        unhealthy = co_await registry.check_health();
        cl.close();
    });
    BOOST_TEST(text.find("# TYPE redstream_messages_acked_total counter") != std::string::npos);
    BOOST_TEST(text.find("redstream_messages_acked_total{stream=\"orders \\\"eu\\\"\",group=\"billing\"} 100") !=
               std::string::npos, text);
    BOOST_TEST(text.find("redstream_group_lag{stream=\"orders \\\"eu\\\"\",group=\"billing\"} 0") != std::string::npos);
    BOOST_TEST(text.find("redstream_handler_duration_seconds_count{") != std::string::npos);
    BOOST_TEST(text.find("redstream_handler_duration_seconds_bucket{stream=\"orders \\\"eu\\\"\",group=\"billing\","
                         "le=\"+Inf\"} 100") != std::string::npos);
    // The read pipeline's shape: the COUNT in use and the adaptive depth (never below its floor of 2).
    BOOST_TEST(text.find("redstream_read_size{stream=\"orders \\\"eu\\\"\",group=\"billing\"} 128\n") !=
               std::string::npos, text);
    BOOST_TEST(text.find("redstream_read_depth{stream=\"orders \\\"eu\\\"\",group=\"billing\"} 0") ==
               std::string::npos);
    BOOST_TEST(text.find("redstream_read_depth{stream=\"orders \\\"eu\\\"\",group=\"billing\"} ") !=
               std::string::npos);
    // Labelled like the worker it scales: two autoscalers never share a series.
    BOOST_TEST(text.find("redstream_autoscaler_desired_consumers{stream=\"orders \\\"eu\\\"\",group=\"billing\"} ") !=
               std::string::npos, text);
    BOOST_TEST(text.find(fmt::format("redstream_build_info{{version=\"{}\"}} 1\n", library_version())) !=
               std::string::npos);
    BOOST_TEST(healthy.healthy, healthy.to_json());
    BOOST_TEST(!unhealthy.healthy);
    BOOST_TEST(unhealthy.to_json().find("stream does not exist") != std::string::npos, unhealthy.to_json());

    if (!have_promtool()) {
        BOOST_WARN_MESSAGE(false, "promtool not installed (Debian package prometheus): exposition not validated");
        return;
    }
    auto [status, out] = promtool_check("metrics", text);
    BOOST_TEST(status == 0, "promtool: " << out);
}

BOOST_AUTO_TEST_CASE(http_endpoint_serves_metrics_health_and_routes) {
    redis_server srv;
    asio::io_context ioc;
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    worker w{cl, {.stream = "s", .group = "g", .start_id = "0"}};
    w.on_message([](message const&) -> asio::awaitable<outcome> { co_return ack; });
    metrics_registry registry;
    registry.add(cl);
    registry.add(w);
    http_endpoint http{ioc.get_executor(), registry, {asio::ip::make_address("127.0.0.1"), 0}};
    http.add_route("POST", "/echo", [](http_request_view const& req) -> asio::awaitable<http_reply> {
        co_return http_reply{201, "text/plain", std::string{req.body}};
    });
    http.add_route("GET", "/throws", [](http_request_view const&) -> asio::awaitable<http_reply> {
        throw 42; // not a std::exception: still a 500, and the endpoint goes on
        co_return http_reply{};
    });
    auto const base = fmt::format("http://127.0.0.1:{}", http.port());
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto done = start_worker(ioc, w);
        asio::co_spawn(ioc, http.run(), asio::detached);
        BOOST_TEST(co_await eventually([&] { return w.stats().consumers == 1; }));
        auto const cmd1 = fmt::format("curl -sS -i {}/metrics", base);
        auto [s1, metrics] = co_await shell_async(cmd1);
        BOOST_TEST(s1 == 0);
        BOOST_TEST(metrics.find("200 OK") != std::string::npos);
        BOOST_TEST(metrics.find("text/plain; version=0.0.4") != std::string::npos);
        BOOST_TEST(metrics.find("redstream_consumers{stream=\"s\",group=\"g\"} 1") != std::string::npos, metrics);
        auto const cmd2 = fmt::format("curl -sS -w ' %{{http_code}}' {}/healthz", base);
        auto [s2, health] = co_await shell_async(cmd2);
        BOOST_TEST((health == "{\"healthy\":true,\"reasons\":[]}\n 200"), health);
        auto const cmd3 = fmt::format("curl -sS -w ' %{{http_code}}' -d hello {}/echo", base);
        auto [s3, echo] = co_await shell_async(cmd3);
        BOOST_TEST((echo == "hello 201"), echo);
        auto const cmd4 = fmt::format("curl -sS -o /dev/null -w '%{{http_code}}' {}/nope", base);
        auto [s4, missing] = co_await shell_async(cmd4);
        BOOST_TEST((missing == "404"));
        auto const cmd5 = fmt::format("curl -sS -o /dev/null -w '%{{http_code}}' -X DELETE {}/metrics", base);
        auto [s5, wrong] = co_await shell_async(cmd5);
        BOOST_TEST((wrong == "405"));
        auto const cmd7 = fmt::format("curl -sS -o /dev/null -w '%{{http_code}}' {}/throws", base);
        auto [s7, thrown] = co_await shell_async(cmd7);
        BOOST_TEST((thrown == "500"), thrown);
        // The group destroyed under the worker: /healthz says 503 with the reason.
        co_await destroy_group(cl, "s", "g");
        auto const cmd6 = fmt::format("curl -sS -w ' %{{http_code}}' {}/healthz", base);
        auto [s6, sick] = co_await shell_async(cmd6);
        BOOST_TEST(sick.find("group does not exist") != std::string::npos, sick);
        BOOST_TEST(sick.ends_with(" 503"), sick);
        http.stop();
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }));
        cl.close();
    });
}

// /metrics and /healthz at the same moment: each sampling keeps its own errors. The scrape
// reads the stream while it is a string (WRONGTYPE); the health check, pipelined behind the
// request that makes it a stream again, must not report the scrape's error.
BOOST_AUTO_TEST_CASE(concurrent_samplings_keep_their_own_errors) {
    redis_server srv;
    asio::io_context ioc;
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    worker w{cl, {.stream = "s", .group = "g"}}; // registered, never run: only its names are used
    metrics_registry registry;
    registry.add(w);
    std::string metrics;
    health_report health;
    bool scraped = false, fixed = false, checked = false;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        request wrong;
        wrong.push("SET", "s", "not a stream");
        co_await cl.connection().async_exec(wrong, adapt_ignore(), asio::use_awaitable);
        // Coroutines start in the order they are spawned, and each sends its request before it
        // first waits: the three requests go out in this order, on one connection.
        auto ex = co_await asio::this_coro::executor;
        asio::co_spawn(ex, [&]() -> asio::awaitable<void> {
            metrics = co_await registry.scrape();
            scraped = true;
        }, asio::detached);
        asio::co_spawn(ex, [&]() -> asio::awaitable<void> {
            request fix;
            fix.push("DEL", "s");
            fix.push("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM");
            co_await cl.connection().async_exec(fix, adapt_ignore(), asio::use_awaitable);
            fixed = true;
        }, asio::detached);
        asio::co_spawn(ex, [&]() -> asio::awaitable<void> {
            health = co_await registry.check_health();
            checked = true;
        }, asio::detached);
        BOOST_TEST(co_await eventually([&] { return scraped && fixed && checked; }, 10s));
        cl.close();
    });
    BOOST_TEST(metrics.find("redstream_healthy 0") != std::string::npos, metrics); // it saw WRONGTYPE
    BOOST_TEST(health.healthy, health.to_json());
    BOOST_TEST(health.reasons.empty(), health.to_json());
}

// A producer ramps up against an I/O-bound handler (5 ms timer): the consumer count rises and
// throughput follows; when the load stops the count returns to min. Every message is handled
// and acknowledged.
BOOST_AUTO_TEST_CASE(autoscaler_follows_a_ramp_and_returns_to_min) {
    redis_server srv;
    asio::io_context ioc;
    client cl{ioc.get_executor(), cfg_for(srv), quiet()};
    worker w{cl, {.stream = "jobs", .group = "g", .start_id = "0", .consumers = 1}};
    std::set<std::string> seen;
    std::size_t handled = 0;
    w.on_message([&](message const& m) -> asio::awaitable<outcome> {
        asio::steady_timer io{co_await asio::this_coro::executor};
        io.expires_after(5ms);
        co_await io.async_wait(asio::use_awaitable);
        seen.insert(m.id().to_string());
        ++handled;
        co_return ack;
    });
    autoscaler_options ao;
    ao.interval = 100ms;
    ao.policy.min_consumers = 1;
    ao.policy.max_consumers = 24;
    ao.policy.lag_high = 100;
    ao.policy.lag_low = 10;
    ao.policy.drain_target = 2s;
    ao.policy.up_cooldown = 300ms;
    ao.policy.down_cooldown = 700ms;
    autoscaler scaler{cl, w, ao};
    std::size_t peak = 0;
    int produced = 0;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto done = start_worker(ioc, w);
        asio::co_spawn(ioc, scaler.run(), asio::detached);
        // Ramp: 100, 400, then 2,000 msg/s for a second each; one consumer handles ~200/s.
        for (int rate : {100, 400, 2000}) {
            for (int tick = 0; tick < 20; ++tick) { // 20 ticks of 50 ms
                std::vector<field_list> batch(static_cast<std::size_t>(rate / 20), field_list{{"k", "v"}});
                co_await cl.publish_batch("jobs", batch);
                produced += rate / 20;
                peak = std::max(peak, w.stats().consumers);
                co_await sleep_for(50ms);
            }
        }
        BOOST_TEST(co_await eventually([&] {
            peak = std::max(peak, w.stats().consumers);
            return handled >= static_cast<std::size_t>(produced);
        }, 30s));
        BOOST_TEST(peak >= 4u, "peak consumers " << peak);
        // Load gone: back to min_consumers.
        BOOST_TEST(co_await eventually([&] { return w.stats().consumers == 1; }, 30s),
                   "consumers " << w.stats().consumers << ": " << scaler.status().last_reason);
        BOOST_TEST(co_await eventually([&] { return w.stats().acked >= static_cast<std::uint64_t>(produced); }));
        auto p = co_await pending_of(cl, "jobs", "g");
        BOOST_TEST(p.count == 0u);
        scaler.stop();
        w.stop();
        BOOST_TEST(co_await eventually([&] { return *done; }));
        cl.close();
    });
    BOOST_TEST(seen.size() == static_cast<std::size_t>(produced)); // every message handled
    BOOST_TEST(scaler.status().decisions >= 2u);
}

BOOST_AUTO_TEST_SUITE_END()
