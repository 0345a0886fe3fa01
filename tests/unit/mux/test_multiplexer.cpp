#include "mux/multiplexer.hpp"

#include <redstream/protocol/stream_readers.hpp>

#include <boost/asio/error.hpp>
#include <boost/test/unit_test.hpp>

#include <functional>
#include <map>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

using namespace redstream;
using namespace redstream::detail;

namespace {

using std::chrono::milliseconds;
using lines = std::vector<std::string>;

template <class... Fs>
struct overloaded : Fs... {
    using Fs::operator()...;
};
template <class... Fs>
overloaded(Fs...) -> overloaded<Fs...>;

// Appended, not "#" + ...: GCC 12 at -O3 warns (-Wrestrict) on that concatenation.
std::string id_text(entry_id id) {
    std::string text{"#"};
    text += std::to_string(static_cast<std::uint64_t>(id));
    return text;
}

std::string ec_text(error_code ec) {
    return ec ? std::string{ec.category().name()} + ":" + std::to_string(ec.value()) : std::string{"ok"};
}

// What an action asked for, as one comparable line; the helpers below spell the expected ones.
std::string label(action const& a) {
    return std::visit(
        overloaded{
            [](completed const& c) {
                return "done " + id_text(c.id) + " " + ec_text(c.ec) + "/" + std::to_string(c.replies);
            },
            [](cancelled const& c) { return "cancelled " + id_text(c.id) + "/" + std::to_string(c.replies); },
            [](pushed const& p) {
                std::string s = "push " + p.message.kind;
                for (auto const& arg : p.message.args)
                    s += " " + arg;
                return s;
            },
            [](adapter_failed const& f) { return "adapter_failed " + id_text(f.id); },
        },
        a);
}

std::string done(entry_id id, std::size_t replies, error_code ec = {}) {
    return label(completed{id, ec, replies});
}
std::string was_cancelled(entry_id id, std::size_t replies) { return label(cancelled{id, replies}); }
std::string push_of(std::string_view channel, std::string_view payload) {
    return "push message " + std::string{channel} + " " + std::string{payload};
}
std::string push_wire(std::string_view channel, std::string_view payload) {
    auto bulk = [](std::string_view s) {
        return "$" + std::to_string(s.size()) + "\r\n" + std::string{s} + "\r\n";
    };
    return ">3\r\n" + bulk("message") + bulk(channel) + bulk(payload);
}

lines labels(action_list const& actions) {
    lines out;
    for (auto const& a : actions)
        out.push_back(label(a));
    return out;
}

struct recorded {
    entry_id id{};
    bool done = false;
    bool cancelled = false;
    error_code ec;
    std::size_t replies = 0;
};

// Drives a multiplexer the way connection.cpp does, with no socket: performs every action in
// order and records what it asked for.
class rig {
public:
    explicit rig(std::size_t max_write_batch = 1 << 20) : m{{}, max_write_batch} {}

    recorded& add(request const& r, any_adapter a, bool priority = false) {
        auto const id = m.add(r, std::move(a), priority);
        auto& o = outcomes_[id]; // std::map: the reference stays valid
        o.id = id;
        return o;
    }
    std::size_t feed(std::string_view wire, error_code& ec) {
        auto const used = m.consume(wire, ec, actions_);
        perform();
        return used;
    }
    void write_all() {
        (void)m.prepare_write(false);
        m.commit_write();
    }
    void cancel(recorded const& o, cancel_mode mode = cancel_mode::abandon_written) {
        m.cancel(o.id, mode, actions_);
        perform();
    }
    void on_disconnect(error_code ec, steady_time now) {
        m.on_disconnect(ec, now, actions_);
        perform();
    }
    steady_time expire_waiting(steady_time now, error_code ec) {
        auto const next = m.expire_waiting(now, ec, actions_);
        perform();
        return next;
    }

    multiplexer m;
    std::vector<push_message> pushes;
    std::size_t adapter_failures = 0;
    lines log; // every action's label, in the order performed

private:
    void perform() {
        for (auto& a : actions_) {
            log.push_back(label(a));
            std::visit(overloaded{
                           [&](completed& c) { complete(c.id, c.ec, c.replies, false); },
                           // The connection's mapping: a cancelled caller sees operation_aborted.
                           [&](cancelled& c) {
                               complete(c.id, boost::asio::error::operation_aborted, c.replies, true);
                           },
                           [&](pushed& p) { pushes.push_back(std::move(p.message)); },
                           [&](adapter_failed& f) { adapter_failures += f.error ? 1 : 0; },
                       },
                       a);
        }
        actions_.clear();
    }
    void complete(entry_id id, error_code ec, std::size_t replies, bool was_cancelled) {
        auto it = outcomes_.find(id);
        BOOST_TEST_REQUIRE((it != outcomes_.end()), "an action for an unknown entry " << id_text(id));
        BOOST_TEST(!it->second.done, "completed twice " << id_text(id));
        it->second = {id, true, was_cancelled, ec, replies};
    }

    std::map<entry_id, recorded> outcomes_;
    action_list actions_;
};

// An adapter that throws at the first element of reply `at` (or later): a user adapter with a
// bug, or a reader running out of memory.
struct throwing_adapter final : any_adapter::impl_base {
    explicit throwing_adapter(std::function<void()> t, std::size_t at = 0) : throw_(std::move(t)), at_(at) {}
    void on_node(std::size_t index, resp::node const&, error_code&) override {
        if (index >= at_)
            throw_();
    }
    std::function<void()> throw_;
    std::size_t at_;
};

} // namespace

BOOST_AUTO_TEST_SUITE(multiplexer_fsm)

BOOST_AUTO_TEST_CASE(coalesces_and_matches_in_order) {
    rig t;
    request r1, r2;
    r1.push("PING");
    r2.push("INCR", "a");
    r2.push("GET", "a");
    std::string pong, value;
    std::int64_t n = 0;
    auto& o1 = t.add(r1, adapt(pong));
    auto& o2 = t.add(r2, adapt(n, value));
    BOOST_TEST(t.m.prepare_write(false) == 2u);
    BOOST_TEST(t.m.write_buffer() == std::string{r1.payload()} + std::string{r2.payload()});
    t.m.commit_write();
    error_code ec;
    std::string_view wire = "+PONG\r\n:1\r\n$1\r\n1\r\n";
    BOOST_TEST(t.feed(wire, ec) == wire.size());
    BOOST_TEST(!ec);
    BOOST_TEST(o1.done);
    BOOST_TEST(pong == "PONG");
    BOOST_TEST(o2.done);
    BOOST_TEST(o2.replies == 2u);
    BOOST_TEST(n == 1);
    BOOST_TEST(value == "1");
    BOOST_TEST(t.log == (lines{done(o1.id, 1), done(o2.id, 2)}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(write_batch_is_bounded) {
    rig t{64};
    request r;
    r.push("SET", "k", std::string(40, 'x'));
    (void)t.add(r, adapt_ignore());
    (void)t.add(r, adapt_ignore());
    BOOST_TEST(t.m.prepare_write(false) == 1u);
    t.m.commit_write();
    BOOST_TEST(t.m.prepare_write(false) == 1u);
}

BOOST_AUTO_TEST_CASE(priority_entries_go_first_and_alone_while_handshaking) {
    rig t;
    request user, hello;
    user.push("GET", "k");
    hello.push("HELLO", "3");
    (void)t.add(user, adapt_ignore());
    (void)t.add(hello, adapt_ignore(), true);
    BOOST_TEST(t.m.prepare_write(true) == 1u);
    BOOST_TEST(t.m.write_buffer() == hello.payload());
}

BOOST_AUTO_TEST_CASE(cancel_waiting_removes_cancel_written_abandons) {
    rig t;
    request r1, r2, r3;
    r1.push("GET", "a");
    r2.push("GET", "b");
    r3.push("GET", "c");
    std::string v1 = "untouched", v3;
    auto& o1 = t.add(r1, adapt(v1));
    BOOST_TEST(t.m.prepare_write(false) == 1u);
    t.m.commit_write();
    auto& o2 = t.add(r2, adapt_ignore());
    auto& o3 = t.add(r3, adapt(v3));

    t.cancel(o2); // not written: removed
    BOOST_TEST(o2.done);
    BOOST_TEST(o2.cancelled);
    BOOST_TEST((o2.ec == boost::asio::error::operation_aborted));
    t.cancel(o1); // written: completed now, reply discarded later
    BOOST_TEST(o1.done);
    BOOST_TEST(o1.cancelled);
    BOOST_TEST((o1.ec == boost::asio::error::operation_aborted));

    BOOST_TEST(t.m.prepare_write(false) == 1u); // only r3
    BOOST_TEST(t.m.write_buffer() == r3.payload());
    t.m.commit_write();
    error_code ec;
    (void)t.feed("$5\r\nfirst\r\n$5\r\nthird\r\n", ec);
    BOOST_TEST(!ec);
    BOOST_TEST(v1 == "untouched"); // the abandoned reply never reached the caller's target
    BOOST_TEST(o3.done);
    BOOST_TEST(v3 == "third"); // the FIFO did not slip
}

BOOST_AUTO_TEST_CASE(pushes_are_routed_apart_from_replies) {
    rig t;
    request r;
    r.push("GET", "a");
    std::string v;
    auto& o = t.add(r, adapt(v));
    t.write_all();
    error_code ec;
    (void)t.feed(">3\r\n$7\r\nmessage\r\n$21\r\n__keyspace@0__:orders\r\n$4\r\nxadd\r\n$3\r\nval\r\n", ec);
    BOOST_TEST(!ec);
    BOOST_TEST_REQUIRE(t.pushes.size() == 1u);
    BOOST_TEST(t.pushes[0].kind == "message");
    BOOST_TEST(t.pushes[0].args.at(1) == "xadd");
    BOOST_TEST(v == "val");
    BOOST_TEST(o.done);
}

BOOST_AUTO_TEST_CASE(pushes_inside_replies_do_not_shift_the_fifo) {
    // The bytes Redis 7.0.15 sent for two pipelined XPENDING + XREADGROUP ... 0 requests on a
    // connection subscribed to keyspace events.
    rig t;
    request r;
    r.push("XPENDING", "s", "g", "-", "+", 128, "c");
    r.push("XREADGROUP", "GROUP", "g", "c", "COUNT", 128, "STREAMS", "s", "0");
    std::vector<pending_entry> rows1, rows2;
    read_reply read1, read2;
    auto& o1 = t.add(r, adapt(rows1, read1));
    auto& o2 = t.add(r, adapt(rows2, read2));
    t.write_all();
    std::string_view one = "*0\r\n%1\r\n$1\r\ns\r\n>3\r\n$7\r\nmessage\r\n$16\r\n__keyspace@0__:s\r\n"
                           "$21\r\nxgroup-createconsumer\r\n*0\r\n";
    std::string wire = std::string{one} + std::string{one};
    error_code ec;
    BOOST_TEST(t.feed(wire, ec) == wire.size());
    BOOST_TEST(!ec, ec.message());
    BOOST_TEST(o1.done);
    BOOST_TEST(!o1.ec);
    BOOST_TEST(o2.done);
    BOOST_TEST(!o2.ec);
    BOOST_TEST(read1.streams.size() == 1u);
    BOOST_TEST_REQUIRE(t.pushes.size() == 2u);
    BOOST_TEST(t.pushes[1].args.at(1) == "xgroup-createconsumer");
}

BOOST_AUTO_TEST_CASE(subscription_confirmations_and_errors) {
    rig t;
    request sub, get;
    sub.push("SUBSCRIBE", "a", "b");
    get.push("GET", "k");
    auto& os = t.add(sub, adapt_ignore());
    auto& og = t.add(get, adapt_ignore());
    t.write_all();
    error_code ec;
    (void)t.feed(">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n", ec);
    BOOST_TEST(!os.done);
    (void)t.feed(">3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n$1\r\nv\r\n", ec);
    BOOST_TEST(os.done);
    BOOST_TEST(!os.ec);
    BOOST_TEST(og.done);
    BOOST_TEST(t.m.channels().size() == 2u);
    BOOST_TEST(t.pushes.empty()); // confirmations are bookkeeping, not pushes

    request denied;
    denied.push("SUBSCRIBE", "secret");
    auto& od = t.add(denied, adapt_ignore());
    t.write_all();
    (void)t.feed("-NOPERM this user has no permissions to access the 'secret' channel\r\n", ec);
    BOOST_TEST(!ec);
    BOOST_TEST(od.done);
    BOOST_TEST((od.ec == server_errc::noperm));
}

BOOST_AUTO_TEST_CASE(a_refused_subscription_gives_the_server_text_to_a_result_target) {
    rig t;
    request denied;
    denied.push("SUBSCRIBE", "__keyspace@0__:orders");
    result<ignore_t> refusal;
    auto& od = t.add(denied, adapt(refusal));
    t.write_all();
    std::string const text = "NOPERM this user has no permissions to access one of the channels used as arguments";
    std::string const wire = "-" + text + "\r\n";
    error_code ec;
    BOOST_TEST(t.feed(wire, ec) == wire.size());
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
            rig t;
            request bad, good;
            bad.push("LRANGE", "l", 0, -1);
            bad.push("GET", "b"); // its reply must be skipped, not handed to the next request
            good.push("GET", "c");
            std::string value;
            auto& ob = t.add(bad, any_adapter{std::make_unique<throwing_adapter>(throwers[i])});
            auto& og = t.add(good, adapt(value));
            BOOST_TEST(t.m.prepare_write(false) == 2u);
            t.m.commit_write();
            // The adapter throws at the array's header: its elements must still be parsed away.
            std::string_view const wire = "*2\r\n$1\r\nx\r\n$1\r\ny\r\n$6\r\nsecond\r\n$5\r\nthird\r\n";
            error_code ec;
            std::size_t used = 0;
            BOOST_CHECK_NO_THROW(used = t.feed(wire, ec));
            BOOST_TEST(used == wire.size());
            BOOST_TEST(!ec, ec.message());
            BOOST_TEST(ob.done);
            BOOST_TEST((ob.ec == errc::adapter_failed), ob.ec.message());
            BOOST_TEST(ob.replies == 2u);
            BOOST_TEST(og.done);
            BOOST_TEST(!og.ec, og.ec.message());
            BOOST_TEST(value == "third"); // the FIFO did not slip
            BOOST_TEST(t.adapter_failures == 1u);
        }
    }
}

BOOST_AUTO_TEST_CASE(unexpected_reply_is_a_protocol_error) {
    rig t;
    error_code ec;
    (void)t.feed("+OK\r\n", ec);
    BOOST_TEST((ec == errc::unexpected_reply));
}

BOOST_AUTO_TEST_CASE(a_push_on_a_resp2_connection_is_a_protocol_error) {
    rig t;
    t.m.set_pushes_allowed(false);
    request r;
    r.push("GET", "a");
    std::string v;
    auto& o = t.add(r, adapt(v));
    t.write_all();
    error_code ec;
    (void)t.feed(">2\r\n$7\r\nmessage\r\n$1\r\nx\r\n$3\r\nval\r\n", ec);
    BOOST_TEST((ec == errc::unexpected_push));
    BOOST_TEST(!o.done); // the connection fails it when it resets
}

BOOST_AUTO_TEST_CASE(disconnect_fails_written_and_keeps_patient_waiters) {
    rig t;
    request sent, impatient, patient{request::options{milliseconds{500}}};
    sent.push("GET", "a");
    impatient.push("GET", "b");
    patient.push("GET", "c");
    auto& o1 = t.add(sent, adapt_ignore());
    t.write_all();
    auto& o2 = t.add(impatient, adapt_ignore());
    auto& o3 = t.add(patient, adapt_ignore());
    auto const t0 = std::chrono::steady_clock::now();
    t.on_disconnect(errc::connection_lost, t0);
    BOOST_TEST((o1.ec == errc::connection_lost));
    BOOST_TEST((o2.ec == errc::connection_lost));
    BOOST_TEST(!o3.done);
    BOOST_TEST((t.expire_waiting(t0 + milliseconds{100}, errc::not_connected) == t0 + milliseconds{500}));
    BOOST_TEST(!o3.done);
    (void)t.expire_waiting(t0 + milliseconds{600}, errc::not_connected);
    BOOST_TEST((o3.ec == errc::not_connected));
}

// The actions themselves, table by table: each row says what one event must yield.

BOOST_AUTO_TEST_CASE(a_cancelled_waiting_entry_yields_a_cancelled_action) {
    struct row {
        char const* name;
        cancel_mode mode;
        bool priority;
    };
    row const rows[] = {
        {"total", cancel_mode::waiting_only, false},
        {"terminal", cancel_mode::abandon_written, false},
        {"terminal, priority entry", cancel_mode::abandon_written, true},
    };
    for (auto const& r : rows) {
        BOOST_TEST_CONTEXT(r.name) {
            multiplexer m{{}, 1 << 20};
            request doomed, kept;
            doomed.push("GET", "a");
            kept.push("GET", "b");
            auto const id = m.add(doomed, adapt_ignore(), r.priority);
            auto const other = m.add(kept, adapt_ignore());
            action_list out;
            m.cancel(id, r.mode, out);
            BOOST_TEST(labels(out) == (lines{was_cancelled(id, 0)}), boost::test_tools::per_element());
            BOOST_TEST(m.get_stats().waiting == 1u);
            out.clear();
            m.cancel(id, r.mode, out); // a stale id: it is gone
            BOOST_TEST(out.empty());
            BOOST_TEST(m.prepare_write(false) == 1u);
            BOOST_TEST(m.write_buffer() == kept.payload()); // the cancelled one never hit the wire
            m.commit_write();
            error_code ec;
            BOOST_TEST(m.consume("+b\r\n", ec, out) == 4u);
            BOOST_TEST(!ec);
            BOOST_TEST(labels(out) == (lines{done(other, 1)}), boost::test_tools::per_element());
        }
    }
}

BOOST_AUTO_TEST_CASE(a_cancelled_written_entry_completes_at_once_and_its_reply_is_discarded) {
    struct row {
        char const* name;
        cancel_mode mode;
        std::size_t replies_before; // of the cancelled request's two, before the cancel
        lines at_cancel;
        lines after; // once every reply has arrived
        char const* first_value;        // what the cancelled request's targets end with
        char const* second_value;
    };
    entry_id const a{0}, b{1};
    row const rows[] = {
        {"terminal before any reply", cancel_mode::abandon_written, 0, {was_cancelled(a, 0)}, {done(b, 1)},
         "untouched", "untouched"},
        {"terminal between its replies", cancel_mode::abandon_written, 1, {was_cancelled(a, 1)}, {done(b, 1)},
         "r1", "untouched"},
        {"total leaves it on the wire", cancel_mode::waiting_only, 0, {}, {done(a, 2), done(b, 1)}, "r1", "r2"},
    };
    std::string_view const replies[] = {"$2\r\nr1\r\n", "$2\r\nr2\r\n", "$2\r\nr3\r\n"};
    for (auto const& r : rows) {
        BOOST_TEST_CONTEXT(r.name) {
            multiplexer m{{}, 1 << 20};
            request two, one;
            two.push("GET", "a");
            two.push("GET", "b");
            one.push("GET", "c");
            std::string v1 = "untouched", v2 = "untouched", v3;
            BOOST_TEST((m.add(two, adapt(v1, v2)) == a));
            BOOST_TEST((m.add(one, adapt(v3)) == b));
            BOOST_TEST(m.prepare_write(false) == 2u);
            m.commit_write();
            action_list out;
            error_code ec;
            for (std::size_t i = 0; i < r.replies_before; ++i)
                (void)m.consume(replies[i], ec, out);
            m.cancel(a, r.mode, out);
            BOOST_TEST(labels(out) == r.at_cancel, boost::test_tools::per_element());
            out.clear();
            m.cancel(a, r.mode, out); // abandoned already, or still left alone: nothing new
            BOOST_TEST(out.empty());
            BOOST_TEST(m.get_stats().in_flight == 2u); // never removed before its replies
            for (std::size_t i = r.replies_before; i < 3; ++i)
                (void)m.consume(replies[i], ec, out);
            BOOST_TEST(!ec);
            BOOST_TEST(labels(out) == r.after, boost::test_tools::per_element());
            BOOST_TEST(m.get_stats().in_flight == 0u);
            BOOST_TEST(v1 == r.first_value);
            BOOST_TEST(v2 == r.second_value);
            BOOST_TEST(v3 == "r3"); // the FIFO did not slip
        }
    }
}

BOOST_AUTO_TEST_CASE(pushes_and_completions_come_out_in_arrival_order) {
    struct row {
        char const* name;
        std::string wire; // replies to GET a, GET b (ids 0 and 1) with pushes about
        lines expected;
    };
    entry_id const a{0}, b{1};
    auto const p = [](char const* payload) { return push_wire("ch", payload); };
    row const rows[] = {
        {"push first", p("p1") + "+a\r\n+b\r\n", {push_of("ch", "p1"), done(a, 1), done(b, 1)}},
        {"push between", "+a\r\n" + p("p1") + "+b\r\n", {done(a, 1), push_of("ch", "p1"), done(b, 1)}},
        {"push last", "+a\r\n+b\r\n" + p("p1"), {done(a, 1), done(b, 1), push_of("ch", "p1")}},
        {"pushes all around", p("p1") + "+a\r\n" + p("p2") + p("p3") + "+b\r\n" + p("p4"),
         {push_of("ch", "p1"), done(a, 1), push_of("ch", "p2"), push_of("ch", "p3"), done(b, 1),
          push_of("ch", "p4")}},
        {"push inside a reply", "*2\r\n$1\r\nx\r\n" + p("p1") + "$1\r\ny\r\n+b\r\n",
         {push_of("ch", "p1"), done(a, 1), done(b, 1)}},
        {"push inside the last reply", "+a\r\n*1\r\n" + p("p1") + "$1\r\ny\r\n" + p("p2"),
         {done(a, 1), push_of("ch", "p1"), done(b, 1), push_of("ch", "p2")}},
    };
    for (auto const& r : rows) {
        // Wherever the bytes are split, the order must not change.
        for (std::size_t split = 0; split <= r.wire.size(); ++split) {
            BOOST_TEST_CONTEXT(r.name << ", split at " << split) {
                multiplexer m{{}, 1 << 20};
                request get_a, get_b;
                get_a.push("GET", "a");
                get_b.push("GET", "b");
                (void)m.add(get_a, adapt_ignore());
                (void)m.add(get_b, adapt_ignore());
                (void)m.prepare_write(false);
                m.commit_write();
                action_list out;
                error_code ec;
                std::size_t const used = m.consume(std::string_view{r.wire}.substr(0, split), ec, out);
                std::string const rest = r.wire.substr(used);
                BOOST_TEST(m.consume(rest, ec, out) == rest.size());
                BOOST_TEST(!ec, ec.message());
                BOOST_TEST(labels(out) == r.expected, boost::test_tools::per_element());
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(the_request_may_die_right_after_add) {
    struct row {
        char const* name;
        std::function<void(request&)> fill;
        std::string wire;  // what must be written, long after the request is gone
        std::string reply; // the server's answer
        lines expected;
    };
    entry_id const first{0};
    std::string const big(100, 'x'); // beyond any small-string buffer
    row const rows[] = {
        {"one command", [](request& r) { r.push("PING"); }, "*1\r\n$4\r\nPING\r\n", "+PONG\r\n", {done(first, 1)}},
        {"a pipeline: its reply count survives",
         [](request& r) {
             r.push("SET", "k", "v");
             r.push("GET", "k");
         },
         "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", "+OK\r\n$1\r\nv\r\n",
         {done(first, 2)}},
        {"a large payload", [&big](request& r) { r.push("SET", "k", big); },
         "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\n" + big + "\r\n", "+OK\r\n", {done(first, 1)}},
        {"a subscription: its confirmation counts survive", [](request& r) { r.push("SUBSCRIBE", "a", "b"); },
         "*3\r\n$9\r\nSUBSCRIBE\r\n$1\r\na\r\n$1\r\nb\r\n",
         ">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n>3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n", {done(first, 0)}},
    };
    for (auto const& r : rows) {
        BOOST_TEST_CONTEXT(r.name) {
            multiplexer m{{}, 1 << 20};
            {
                request doomed;
                r.fill(doomed);
                BOOST_TEST((m.add(doomed, adapt_ignore()) == first));
                // Reused, then destroyed: neither may reach the multiplexer.
                doomed.clear();
                doomed.push("FLUSHALL");
            }
            request noise; // likely to take the freed memory
            noise.push("DEL", std::string(100, 'y'));
            BOOST_TEST(m.prepare_write(false) == 1u);
            BOOST_TEST(m.write_buffer() == r.wire);
            m.commit_write();
            action_list out;
            error_code ec;
            BOOST_TEST(m.consume(r.reply, ec, out) == r.reply.size());
            BOOST_TEST(!ec, ec.message());
            BOOST_TEST(labels(out) == r.expected, boost::test_tools::per_element());
        }
    }
}

BOOST_AUTO_TEST_CASE(disconnect_fails_in_flight_entries_and_keeps_those_that_may_wait) {
    struct row {
        char const* name;
        bool written;
        bool priority;
        milliseconds wait;
        bool fails_at_once;
    };
    row const rows[] = {
        {"in flight", true, false, milliseconds{0}, true},
        // Its reply is lost with the connection: waiting cannot help.
        {"in flight, patient", true, false, milliseconds{500}, true},
        {"waiting, impatient", false, false, milliseconds{0}, true},
        {"waiting, patient", false, false, milliseconds{500}, false},
        // A handshake command belongs to the connection that died.
        {"waiting handshake, patient", false, true, milliseconds{500}, true},
    };
    auto const t0 = std::chrono::steady_clock::now();
    for (auto const& r : rows) {
        BOOST_TEST_CONTEXT(r.name) {
            multiplexer m{{}, 1 << 20};
            entry_id id{};
            {
                request req{request::options{r.wait}};
                req.push("GET", "a");
                id = m.add(req, adapt_ignore(), r.priority);
            }
            if (r.written) {
                BOOST_TEST(m.prepare_write(false) == 1u);
                m.commit_write();
            }
            action_list out;
            m.on_disconnect(errc::connection_lost, t0, out);
            auto const failed = lines{done(id, 0, errc::connection_lost)};
            BOOST_TEST(labels(out) == (r.fails_at_once ? failed : lines{}),
                       boost::test_tools::per_element());
            BOOST_TEST(m.get_stats().in_flight == 0u);
            BOOST_TEST(m.get_stats().waiting == (r.fails_at_once ? 0u : 1u));
            if (r.fails_at_once)
                continue;
            out.clear();
            // A second drop does not restart the wait.
            m.on_disconnect(errc::connection_lost, t0 + milliseconds{200}, out);
            BOOST_TEST((m.expire_waiting(t0 + milliseconds{499}, errc::not_connected, out) == t0 + r.wait));
            BOOST_TEST(out.empty());
            // Back in time: the kept entry is written whole.
            BOOST_TEST(m.prepare_write(false) == 1u);
            BOOST_TEST(m.write_buffer() == "*2\r\n$3\r\nGET\r\n$1\r\na\r\n");
        }
    }
}

BOOST_AUTO_TEST_CASE(adapter_exceptions_become_adapter_failed_actions) {
    struct row {
        char const* name;
        std::function<void()> thrower;
        std::size_t at; // the reply whose first element throws
    };
    row const rows[] = {
        {"runtime_error at the first reply", [] { throw std::runtime_error("adapter bug"); }, 0},
        {"bad_alloc at the second reply", [] { throw std::bad_alloc(); }, 1},
        {"an int at the second reply", [] { throw 42; }, 1},
    };
    entry_id const bad{0}, good{1};
    for (auto const& r : rows) {
        BOOST_TEST_CONTEXT(r.name) {
            multiplexer m{{}, 1 << 20};
            request two, one;
            two.push("LRANGE", "l", 0, -1);
            two.push("GET", "b");
            one.push("GET", "c");
            std::string value;
            (void)m.add(two, any_adapter{std::make_unique<throwing_adapter>(r.thrower, r.at)});
            (void)m.add(one, adapt(value));
            (void)m.prepare_write(false);
            m.commit_write();
            std::string_view const wire = "*2\r\n$1\r\nx\r\n$1\r\ny\r\n$6\r\nsecond\r\n$5\r\nthird\r\n";
            action_list out;
            error_code ec;
            std::size_t used = 0;
            BOOST_CHECK_NO_THROW(used = m.consume(wire, ec, out));
            BOOST_TEST(used == wire.size());
            BOOST_TEST(!ec, ec.message());
            // Reported once, before the failed request's completion and before the next one's.
            lines const expected{"adapter_failed #0", done(bad, 2, errc::adapter_failed), done(good, 1)};
            BOOST_TEST(labels(out) == expected, boost::test_tools::per_element());
            BOOST_TEST_REQUIRE(out.size() == 3u);
            auto const* failure = std::get_if<adapter_failed>(&out[0]);
            BOOST_TEST_REQUIRE(failure != nullptr);
            BOOST_TEST((failure->error != nullptr));
            BOOST_TEST(value == "third");
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
