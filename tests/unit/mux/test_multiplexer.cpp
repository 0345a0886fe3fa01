#include "mux/multiplexer.hpp"

#include <redstream/protocol/stream_readers.hpp>

#include <boost/asio/error.hpp>
#include <boost/test/unit_test.hpp>

#include <functional>
#include <new>
#include <stdexcept>

using namespace redstream;
using namespace redstream::detail;

namespace {

struct recorded {
    bool done = false;
    error_code ec;
    std::size_t replies = 0;
};

class test_entry final : public exec_entry {
public:
    test_entry(request const& r, any_adapter a, recorded& out) : exec_entry(r, std::move(a)), out_(&out) {}
    void complete(error_code ec, std::size_t replies) override {
        BOOST_TEST(!out_->done, "completed twice");
        *out_ = {true, ec, replies};
    }

private:
    recorded* out_;
};

std::unique_ptr<test_entry> make(request const& r, any_adapter a, recorded& out) {
    return std::make_unique<test_entry>(r, std::move(a), out);
}

std::size_t feed(multiplexer& m, std::string_view wire, error_code& ec) { return m.consume(wire, ec); }

// An adapter that throws at the first element it is given: a user adapter with a bug, or a
// reader running out of memory.
struct throwing_adapter final : any_adapter::impl_base {
    explicit throwing_adapter(std::function<void()> t) : throw_(std::move(t)) {}
    void on_node(std::size_t, resp::node const&, error_code&) override { throw_(); }
    std::function<void()> throw_;
};

} // namespace

BOOST_AUTO_TEST_SUITE(multiplexer_fsm)

BOOST_AUTO_TEST_CASE(coalesces_and_matches_in_order) {
    multiplexer m{{}, 1 << 20};
    request r1, r2;
    r1.push("PING");
    r2.push("INCR", "a");
    r2.push("GET", "a");
    std::string pong, value;
    std::int64_t n = 0;
    recorded o1, o2;
    m.add(make(r1, adapt(pong), o1));
    m.add(make(r2, adapt(n, value), o2));
    BOOST_TEST(m.prepare_write(false) == 2u);
    BOOST_TEST(m.write_buffer() == std::string{r1.payload()} + std::string{r2.payload()});
    m.commit_write();
    error_code ec;
    std::string_view wire = "+PONG\r\n:1\r\n$1\r\n1\r\n";
    BOOST_TEST(feed(m, wire, ec) == wire.size());
    BOOST_TEST(!ec);
    BOOST_TEST(o1.done);
    BOOST_TEST(pong == "PONG");
    BOOST_TEST(o2.done);
    BOOST_TEST(o2.replies == 2u);
    BOOST_TEST(n == 1);
    BOOST_TEST(value == "1");
}

BOOST_AUTO_TEST_CASE(write_batch_is_bounded) {
    multiplexer m{{}, 64};
    request r;
    r.push("SET", "k", std::string(40, 'x'));
    recorded a, b;
    m.add(make(r, adapt_ignore(), a));
    m.add(make(r, adapt_ignore(), b));
    BOOST_TEST(m.prepare_write(false) == 1u);
    m.commit_write();
    BOOST_TEST(m.prepare_write(false) == 1u);
}

BOOST_AUTO_TEST_CASE(priority_entries_go_first_and_alone_while_handshaking) {
    multiplexer m{{}, 1 << 20};
    request user, hello;
    user.push("GET", "k");
    hello.push("HELLO", "3");
    recorded a, b;
    m.add(make(user, adapt_ignore(), a));
    auto h = make(hello, adapt_ignore(), b);
    h->set_priority();
    m.add(std::move(h));
    BOOST_TEST(m.prepare_write(true) == 1u);
    BOOST_TEST(m.write_buffer() == hello.payload());
}

BOOST_AUTO_TEST_CASE(cancel_waiting_removes_cancel_written_abandons) {
    multiplexer m{{}, 1 << 20};
    request r1, r2, r3;
    r1.push("GET", "a");
    r2.push("GET", "b");
    r3.push("GET", "c");
    std::string v1 = "untouched", v3;
    recorded o1, o2, o3;
    auto e1 = make(r1, adapt(v1), o1);
    auto* p1 = e1.get();
    m.add(std::move(e1));
    BOOST_TEST(m.prepare_write(false) == 1u);
    m.commit_write();
    auto e2 = make(r2, adapt_ignore(), o2);
    auto* p2 = e2.get();
    m.add(std::move(e2));
    m.add(make(r3, adapt(v3), o3));

    m.cancel(p2); // not written: removed
    BOOST_TEST(o2.done);
    BOOST_TEST((o2.ec == boost::asio::error::operation_aborted));
    m.cancel(p1); // written: completed now, reply discarded later
    BOOST_TEST(o1.done);
    BOOST_TEST((o1.ec == boost::asio::error::operation_aborted));

    BOOST_TEST(m.prepare_write(false) == 1u); // only r3
    BOOST_TEST(m.write_buffer() == r3.payload());
    m.commit_write();
    error_code ec;
    (void)feed(m, "$5\r\nfirst\r\n$5\r\nthird\r\n", ec);
    BOOST_TEST(!ec);
    BOOST_TEST(v1 == "untouched"); // the abandoned reply never reached the caller's target
    BOOST_TEST(o3.done);
    BOOST_TEST(v3 == "third"); // the FIFO did not slip
}

BOOST_AUTO_TEST_CASE(pushes_are_routed_apart_from_replies) {
    multiplexer m{{}, 1 << 20};
    std::vector<push_message> pushes;
    m.set_push_sink([&](push_message&& p) { pushes.push_back(std::move(p)); });
    request r;
    r.push("GET", "a");
    std::string v;
    recorded o;
    m.add(make(r, adapt(v), o));
    (void)m.prepare_write(false);
    m.commit_write();
    error_code ec;
    (void)feed(m, ">3\r\n$7\r\nmessage\r\n$21\r\n__keyspace@0__:orders\r\n$4\r\nxadd\r\n$3\r\nval\r\n", ec);
    BOOST_TEST(!ec);
    BOOST_TEST_REQUIRE(pushes.size() == 1u);
    BOOST_TEST(pushes[0].kind == "message");
    BOOST_TEST(pushes[0].args.at(1) == "xadd");
    BOOST_TEST(v == "val");
}

BOOST_AUTO_TEST_CASE(pushes_inside_replies_do_not_shift_the_fifo) {
    // The bytes Redis 7.0.15 sent for two pipelined XPENDING + XREADGROUP ... 0 requests on a
    // connection subscribed to keyspace events.
    multiplexer m{{}, 1 << 20};
    std::vector<push_message> pushes;
    m.set_push_sink([&](push_message&& p) { pushes.push_back(std::move(p)); });
    request r;
    r.push("XPENDING", "s", "g", "-", "+", 128, "c");
    r.push("XREADGROUP", "GROUP", "g", "c", "COUNT", 128, "STREAMS", "s", "0");
    std::vector<pending_entry> rows1, rows2;
    read_reply read1, read2;
    recorded o1, o2;
    m.add(make(r, adapt(rows1, read1), o1));
    m.add(make(r, adapt(rows2, read2), o2));
    (void)m.prepare_write(false);
    m.commit_write();
    std::string_view one = "*0\r\n%1\r\n$1\r\ns\r\n>3\r\n$7\r\nmessage\r\n$16\r\n__keyspace@0__:s\r\n"
                           "$21\r\nxgroup-createconsumer\r\n*0\r\n";
    std::string wire = std::string{one} + std::string{one};
    error_code ec;
    BOOST_TEST(m.consume(wire, ec) == wire.size());
    BOOST_TEST(!ec, ec.message());
    BOOST_TEST(o1.done);
    BOOST_TEST(!o1.ec);
    BOOST_TEST(o2.done);
    BOOST_TEST(!o2.ec);
    BOOST_TEST(read1.streams.size() == 1u);
    BOOST_TEST_REQUIRE(pushes.size() == 2u);
    BOOST_TEST(pushes[1].args.at(1) == "xgroup-createconsumer");
}

BOOST_AUTO_TEST_CASE(subscription_confirmations_and_errors) {
    multiplexer m{{}, 1 << 20};
    request sub, get;
    sub.push("SUBSCRIBE", "a", "b");
    get.push("GET", "k");
    recorded os, og;
    m.add(make(sub, adapt_ignore(), os));
    m.add(make(get, adapt_ignore(), og));
    (void)m.prepare_write(false);
    m.commit_write();
    error_code ec;
    (void)feed(m, ">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n", ec);
    BOOST_TEST(!os.done);
    (void)feed(m, ">3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n$1\r\nv\r\n", ec);
    BOOST_TEST(os.done);
    BOOST_TEST(!os.ec);
    BOOST_TEST(og.done);
    BOOST_TEST(m.channels().size() == 2u);

    request denied;
    denied.push("SUBSCRIBE", "secret");
    recorded od;
    m.add(make(denied, adapt_ignore(), od));
    (void)m.prepare_write(false);
    m.commit_write();
    (void)feed(m, "-NOPERM this user has no permissions to access the 'secret' channel\r\n", ec);
    BOOST_TEST(!ec);
    BOOST_TEST(od.done);
    BOOST_TEST((od.ec == server_errc::noperm));
}

BOOST_AUTO_TEST_CASE(a_refused_subscription_gives_the_server_text_to_a_result_target) {
    multiplexer m{{}, 1 << 20};
    request denied;
    denied.push("SUBSCRIBE", "__keyspace@0__:orders");
    result<ignore_t> refusal;
    recorded od;
    m.add(make(denied, adapt(refusal), od));
    (void)m.prepare_write(false);
    m.commit_write();
    std::string const text = "NOPERM this user has no permissions to access one of the channels used as arguments";
    std::string const wire = "-" + text + "\r\n";
    error_code ec;
    BOOST_TEST(feed(m, wire, ec) == wire.size());
    BOOST_TEST(!ec);
    BOOST_TEST(od.done);
    BOOST_TEST((od.ec == server_errc::noperm), od.ec.message());
    BOOST_TEST_REQUIRE(!refusal.has_value());
    BOOST_TEST(refusal.error().message == text);
}

BOOST_AUTO_TEST_CASE(a_throwing_adapter_fails_only_its_request) {
    std::vector<std::function<void()>> const throwers = {
        [] { throw std::runtime_error("adapter bug"); },
        [] { throw std::bad_alloc(); },
        [] { throw 42; }, // not even a std::exception
    };
    for (std::size_t i = 0; i < throwers.size(); ++i) {
        BOOST_TEST_CONTEXT("thrower " << i) {
            multiplexer m{{}, 1 << 20};
            std::size_t reported = 0;
            m.set_adapter_failure_sink([&](std::exception_ptr ep) { reported += ep ? 1 : 0; });
            request bad, good;
            bad.push("LRANGE", "l", 0, -1);
            bad.push("GET", "b"); // its reply must be skipped, not handed to the next request
            good.push("GET", "c");
            std::string value;
            recorded ob, og;
            m.add(make(bad, any_adapter{std::make_unique<throwing_adapter>(throwers[i])}, ob));
            m.add(make(good, adapt(value), og));
            BOOST_TEST(m.prepare_write(false) == 2u);
            m.commit_write();
            // The adapter throws at the array's header: its elements must still be parsed away.
            std::string_view const wire = "*2\r\n$1\r\nx\r\n$1\r\ny\r\n$6\r\nsecond\r\n$5\r\nthird\r\n";
            error_code ec;
            std::size_t used = 0;
            BOOST_CHECK_NO_THROW(used = m.consume(wire, ec));
            BOOST_TEST(used == wire.size());
            BOOST_TEST(!ec, ec.message());
            BOOST_TEST(ob.done);
            BOOST_TEST((ob.ec == errc::adapter_failed), ob.ec.message());
            BOOST_TEST(ob.replies == 2u);
            BOOST_TEST(og.done);
            BOOST_TEST(!og.ec, og.ec.message());
            BOOST_TEST(value == "third"); // the FIFO did not slip
            BOOST_TEST(reported == 1u);
        }
    }
}

BOOST_AUTO_TEST_CASE(unexpected_reply_is_a_protocol_error) {
    multiplexer m{{}, 1 << 20};
    error_code ec;
    (void)feed(m, "+OK\r\n", ec);
    BOOST_TEST((ec == errc::unexpected_reply));
}

BOOST_AUTO_TEST_CASE(a_push_on_a_resp2_connection_is_a_protocol_error) {
    multiplexer m{{}, 1 << 20};
    m.set_pushes_allowed(false);
    request r;
    r.push("GET", "a");
    std::string v;
    recorded o;
    m.add(make(r, adapt(v), o));
    (void)m.prepare_write(false);
    m.commit_write();
    error_code ec;
    (void)feed(m, ">2\r\n$7\r\nmessage\r\n$1\r\nx\r\n$3\r\nval\r\n", ec);
    BOOST_TEST((ec == errc::unexpected_push));
    BOOST_TEST(!o.done); // the connection fails it when it resets
}

BOOST_AUTO_TEST_CASE(disconnect_fails_written_and_keeps_patient_waiters) {
    multiplexer m{{}, 1 << 20};
    request sent, impatient, patient{request::options{std::chrono::milliseconds{500}}};
    sent.push("GET", "a");
    impatient.push("GET", "b");
    patient.push("GET", "c");
    recorded o1, o2, o3;
    m.add(make(sent, adapt_ignore(), o1));
    (void)m.prepare_write(false);
    m.commit_write();
    m.add(make(impatient, adapt_ignore(), o2));
    m.add(make(patient, adapt_ignore(), o3));
    auto const t0 = std::chrono::steady_clock::now();
    m.on_disconnect(errc::connection_lost, t0);
    BOOST_TEST((o1.ec == errc::connection_lost));
    BOOST_TEST((o2.ec == errc::connection_lost));
    BOOST_TEST(!o3.done);
    BOOST_TEST((m.expire_waiting(t0 + std::chrono::milliseconds{100}, errc::not_connected) ==
                t0 + std::chrono::milliseconds{500}));
    BOOST_TEST(!o3.done);
    (void)m.expire_waiting(t0 + std::chrono::milliseconds{600}, errc::not_connected);
    BOOST_TEST((o3.ec == errc::not_connected));
}

BOOST_AUTO_TEST_SUITE_END()
