#include <redstream/ops/admin.hpp>
#include <redstream/protocol/stream_readers.hpp>

#include "redis_server.hpp"
#include "run_coro.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/test/unit_test.hpp>

using namespace redstream;
using namespace redstream::test;
namespace asio = boost::asio;

BOOST_AUTO_TEST_SUITE(admin_tests)

BOOST_AUTO_TEST_CASE(group_administration) {
    redis_server srv;
    asio::io_context ioc;
    client cl{ioc.get_executor(), config::from_url(srv.url()), logger::none()};
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        BOOST_TEST(co_await ensure_group(cl, "s", "g", "0"));
        BOOST_TEST(!co_await ensure_group(cl, "s", "g", "0")); // BUSYGROUP is not an error
        co_await set_group_id(cl, "s", "g", "$");
        request read;
        read.push("XADD", "s", "*", "k", "v");
        read.push("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", ">");
        co_await cl.connection().async_exec(read, adapt_ignore(), asio::use_awaitable);
        BOOST_TEST(co_await delete_consumer(cl, "s", "g", "c1") == 1);
        BOOST_TEST(co_await destroy_group(cl, "s", "g"));
        BOOST_TEST(!co_await destroy_group(cl, "s", "g"));
        request set;
        set.push("SET", "str", "x");
        co_await cl.connection().async_exec(set, adapt_ignore(), asio::use_awaitable);
        try {
            co_await ensure_group(cl, "str", "g");
            BOOST_FAIL("accepted a string key");
        } catch (boost::system::system_error const& e) {
            BOOST_TEST((e.code() == server_errc::wrongtype));
        }
        cl.close();
    });
}

BOOST_AUTO_TEST_CASE(safe_trim_never_deletes_unacknowledged_entries) {
    redis_server srv;
    asio::io_context ioc;
    client cl{ioc.get_executor(), config::from_url(srv.url()), logger::none()};
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        request fill;
        for (int i = 1; i <= 100; ++i)
            fill.push("XADD", "s", std::to_string(i) + "-0", "n", i);
        fill.push("XGROUP", "CREATE", "s", "fast", "0");
        fill.push("XGROUP", "CREATE", "s", "slow", "0");
        // "fast" read all 100 and acked the first 90; "slow" read 40 and acked 30.
        fill.push("XREADGROUP", "GROUP", "fast", "c", "COUNT", 100, "STREAMS", "s", ">");
        fill.push("XREADGROUP", "GROUP", "slow", "c", "COUNT", 40, "STREAMS", "s", ">");
        std::vector<stream_id> fast_acks, slow_acks;
        for (std::uint64_t i = 1; i <= 90; ++i)
            fast_acks.push_back({i, 0});
        for (std::uint64_t i = 1; i <= 30; ++i)
            slow_acks.push_back({i, 0});
        fill.push("XACK", "s", "fast", fast_acks);
        fill.push("XACK", "s", "slow", slow_acks);
        co_await cl.connection().async_exec(fill, adapt_ignore(), asio::use_awaitable);

        auto plan = co_await safe_trim(cl, "s", true);
        BOOST_TEST_REQUIRE(plan.min_id.has_value());
        BOOST_TEST((*plan.min_id == stream_id{31, 0})); // slow's oldest pending entry
        BOOST_TEST(plan.deleted == 0u);
        auto done = co_await safe_trim(cl, "s");
        BOOST_TEST(done.deleted == 30u);
        request check;
        check.push("XRANGE", "s", "-", "+", "COUNT", 1);
        check.push("XPENDING", "s", "slow");
        entry_batch first;
        pending_summary slow;
        co_await cl.connection().async_exec(check, adapt(first, slow), asio::use_awaitable);
        BOOST_TEST((first[0].id() == stream_id{31, 0}));
        BOOST_TEST(slow.count == 10u); // every unacknowledged entry survived

        // A group that acknowledged everything it read is bounded by last-delivered + 1.
        request ack_rest;
        std::vector<stream_id> rest;
        for (std::uint64_t i = 31; i <= 40; ++i)
            rest.push_back({i, 0});
        ack_rest.push("XACK", "s", "slow", rest);
        co_await cl.connection().async_exec(ack_rest, adapt_ignore(), asio::use_awaitable);
        auto next = co_await safe_trim(cl, "s", true);
        BOOST_TEST((*next.min_id == stream_id{40, 1}));
        cl.close();
    });
}

BOOST_AUTO_TEST_SUITE_END()
