#pragma once

#include <redstream/io/connection.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <exception>
#include <memory>

namespace redstream::test {

/// Runs `body` on `ioc` until the io_context runs out of work, within `limit`. Fails the test
/// if the body does not finish, throws, or leaves work behind (a connection not closed).
template <class Fn>
bool run_coro(boost::asio::io_context& ioc, Fn&& body, std::chrono::milliseconds limit = std::chrono::seconds(30)) {
    bool done = false;
    std::exception_ptr error;
    boost::asio::co_spawn(ioc, std::forward<Fn>(body)(), [&](std::exception_ptr e) {
        done = true;
        error = e;
    });
    ioc.run_for(limit);
    bool const drained = ioc.stopped();
    BOOST_TEST(done, "coroutine did not finish within " << limit.count() << " ms");
    BOOST_TEST(drained, "io_context still had work after " << limit.count() << " ms");
    if (!drained) { // let pending coroutines unwind so sanitizers see a clean exit
        ioc.stop();
    }
    ioc.restart();
    if (error) {
        try {
            std::rethrow_exception(error);
        } catch (std::exception const& e) {
            BOOST_FAIL("coroutine threw: " << e.what());
        }
    }
    return done && drained;
}

/// Starts conn.async_run() in the background; the returned flag holds its result once done.
struct run_result {
    bool finished = false;
    boost::system::error_code ec;
};

inline std::shared_ptr<run_result> start_run(connection& conn) {
    auto r = std::make_shared<run_result>();
    conn.async_run([r](boost::system::error_code ec) {
        r->finished = true;
        r->ec = ec;
    });
    return r;
}

} // namespace redstream::test
