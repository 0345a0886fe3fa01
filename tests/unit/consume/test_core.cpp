// The consumer core (src/consume/core/): flow control, the in-hand registry, the ack queue, the
// verdicts and the lifecycles. Plain objects fed events and times; no server, no Asio, no sleeps.

#include "consume/core/ack_queue.hpp"
#include "consume/core/flow_control.hpp"
#include "consume/core/hand_registry.hpp"
#include "consume/core/lifecycle.hpp"
#include "consume/core/read_depth.hpp"
#include "consume/core/verdict.hpp"

#include <redstream/consume/outcome.hpp>
#include <redstream/protocol/entry_batch.hpp>
#include <redstream/protocol/error.hpp>
#include <redstream/protocol/result.hpp>

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

using namespace redstream;
using namespace redstream::detail;
using namespace std::chrono_literals;
namespace tt = boost::test_tools;

namespace {

using strings = std::vector<std::string>;

// `clock` alone is ambiguous with ::clock() from <ctime>.
using time_point = redstream::detail::clock::time_point;
time_point const t0 = time_point{} + 1000s;

// Where a time point lies, in microseconds after t0: printable, unlike a time_point.
std::int64_t at_us(time_point tp) {
    return std::chrono::duration_cast<std::chrono::microseconds>(tp - t0).count();
}

// ---------------------------------------------------------------------------------------------
// Entry batches and ids. Every id is <ms>-0, so a list of ms numbers names a batch.

entry_batch batch_of(std::vector<std::uint64_t> const& ms) {
    entry_batch b;
    b.set_stream("orders");
    for (auto m : ms) {
        b.add_entry(stream_id{m, 0}, false);
        b.add_field("n", std::to_string(m));
    }
    return b;
}

std::vector<std::uint64_t> ms_of(std::vector<stream_id> ids) {
    std::sort(ids.begin(), ids.end());
    std::vector<std::uint64_t> out;
    for (auto id : ids)
        out.push_back(id.ms);
    return out;
}

stream_id sid(std::uint64_t ms) { return stream_id{ms, 0}; }

// ---------------------------------------------------------------------------------------------
// Acks.

ack_record rec(std::size_t stream, std::uint64_t ms, std::string marker = {}, holder_id holder = 0) {
    return ack_record{stream, stream_id{ms, 0}, holder, std::move(marker)};
}

// "s0:7" or, with a marker, "s0:7+k7".
std::vector<std::string> records_of(std::vector<ack_record> const& rs) {
    std::vector<std::string> out;
    // Appended piece by piece: GCC 12 at -O3 warns (-Wrestrict) on "s" + ... chains.
    for (auto const& r : rs) {
        std::string text{"s"};
        text += std::to_string(r.stream);
        text += ':';
        text += std::to_string(r.id.ms);
        if (!r.marker.empty()) {
            text += '+';
            text += r.marker;
        }
        out.push_back(std::move(text));
    }
    return out;
}

// "s0 [0,2) plain", "s1 [2,3) marked", "markers-only".
std::vector<std::string> commands_of(ack_flush const& f) {
    std::vector<std::string> out;
    for (auto const& c : f.commands) {
        if (c.markers_only) {
            out.push_back("markers-only");
            continue;
        }
        std::string text{"s"};
        text += std::to_string(c.stream);
        text += " [";
        text += std::to_string(c.first);
        text += ',';
        text += std::to_string(c.first + c.count);
        text += ") ";
        text += c.marked ? "marked" : "plain";
        out.push_back(std::move(text));
    }
    return out;
}

result<std::int64_t> ok_reply(std::int64_t n = 1) { return result<std::int64_t>{n}; }

result<std::int64_t> error_reply(server_errc e, std::string text) {
    return result<std::int64_t>{server_error{make_error_code(e), std::move(text)}};
}

std::vector<result<std::int64_t>> all_ok(ack_flush const& f) {
    return std::vector<result<std::int64_t>>(f.commands.size(), ok_reply());
}

// ---------------------------------------------------------------------------------------------
// Printable names for the enums (BOOST_TEST prints both sides when a check fails).

std::string_view name_of(next_step s) {
    switch (s) {
    case next_step::ack: return "ack";
    case next_step::move_to_dead_letters: return "move_to_dead_letters";
    case next_step::redeliver_later: return "redeliver_later";
    case next_step::leave_pending: return "leave_pending";
    }
    return "?";
}

std::string_view name_of(worker_lifecycle::phase p) {
    switch (p) {
    case worker_lifecycle::phase::idle: return "idle";
    case worker_lifecycle::phase::starting: return "starting";
    case worker_lifecycle::phase::running: return "running";
    case worker_lifecycle::phase::draining: return "draining";
    }
    return "?";
}

std::string_view name_of(task_lifecycle::phase p) {
    switch (p) {
    case task_lifecycle::phase::active: return "active";
    case task_lifecycle::phase::retiring: return "retiring";
    case task_lifecycle::phase::stopping: return "stopping";
    case task_lifecycle::phase::done: return "done";
    }
    return "?";
}

} // namespace

BOOST_AUTO_TEST_SUITE(consumer_core)

// =============================================================================================
BOOST_AUTO_TEST_SUITE(flow_control_tests)

BOOST_AUTO_TEST_CASE(threshold_is_half_the_smallest_bound_at_least_one) {
    struct test_case {
        char const* name;
        flow_limits limits;
        std::size_t expected;
    };
    std::vector<test_case> const cases{
        {"defaults: batch 100 is the smallest", {}, 50},
        {"batch 128", {128, 65536, 512}, 64},
        {"odd batch rounds down", {101, 65536, 512}, 50},
        {"per-consumer bound is the smallest", {100, 65536, 30}, 15},
        {"worker bound is the smallest", {100, 40, 512}, 20},
        {"batch 1: still 1", {1, 65536, 512}, 1},
        {"per-consumer bound 1: still 1", {100, 65536, 1}, 1},
    };
    for (auto const& c : cases) {
        BOOST_TEST_CONTEXT(c.name) {
            flow_control fc{c.limits};
            BOOST_TEST(fc.threshold() == c.expected);
            BOOST_TEST(fc.read_size() == c.limits.batch);
            BOOST_TEST(fc.in_flight() == 0u);
        }
    }
}

BOOST_AUTO_TEST_CASE(grant_is_capped_by_both_bounds_and_refused_below_threshold) {
    // batch 100, worker bound 1000, per-consumer bound 200: threshold 50. Holder 0 asks; holder
    // 1 fills the worker bound.
    flow_limits const limits{100, 1000, 200};
    struct test_case {
        char const* name;
        std::size_t own;    // holder 0 already has
        std::size_t others; // holder 1 has
        std::size_t want;
        std::size_t expected;
    };
    std::vector<test_case> const cases{
        {"empty: all it wants", 0, 0, 100, 100},
        {"wants less than the threshold: granted as asked", 0, 0, 10, 10},
        {"capped by the per-consumer room", 120, 0, 100, 80},
        {"per-consumer room exactly the threshold", 150, 0, 100, 50},
        {"per-consumer room below the threshold: nothing", 151, 0, 100, 0},
        {"capped by the worker room", 0, 920, 100, 80},
        {"worker room exactly the threshold", 0, 950, 100, 50},
        {"worker room below the threshold: nothing", 0, 951, 100, 0},
        {"both: the smaller room wins", 130, 810, 100, 60},
        {"at the per-consumer bound", 200, 0, 100, 0},
    };
    for (auto const& c : cases) {
        BOOST_TEST_CONTEXT(c.name) {
            flow_control fc{limits};
            fc.take(0, c.own);
            fc.take(1, c.others);
            BOOST_TEST(fc.may_read(0) == (c.expected > 0));
            BOOST_TEST(fc.grant(0, c.want) == c.expected);
            // What was granted is taken; a refusal takes nothing.
            BOOST_TEST(fc.in_flight_of(0) == c.own + c.expected);
            BOOST_TEST(fc.in_flight_of(1) == c.others);
            BOOST_TEST(fc.in_flight() == c.own + c.others + c.expected);
        }
    }
}

BOOST_AUTO_TEST_CASE(read_ahead_needs_threshold_room_and_is_capped_by_read_size) {
    flow_limits const limits{100, 1000, 200}; // threshold 50
    struct test_case {
        char const* name;
        std::size_t own;
        std::size_t others;
        int losses; // connections lost before (each halves the read size)
        std::size_t expected;
    };
    std::vector<test_case> const cases{
        {"room 200, read size 100: one read's worth", 0, 0, 0, 100},
        {"per-consumer room 80", 120, 0, 0, 80},
        {"per-consumer room exactly the threshold", 150, 0, 0, 50},
        {"per-consumer room below the threshold", 151, 0, 0, 0},
        {"worker room 80", 0, 920, 0, 80},
        {"worker room below the threshold", 0, 951, 0, 0},
        {"read size halved to 50: capped by it", 0, 0, 1, 50},
        // min(room, read size) must reach the threshold: while the read size is below it (25 <
        // 50) there is no read-ahead at all, as in the worker before the core was split out.
        {"read size 25 under threshold 50: none", 0, 0, 2, 0},
    };
    for (auto const& c : cases) {
        BOOST_TEST_CONTEXT(c.name) {
            flow_control fc{limits};
            for (int g = 0; g < c.losses; ++g)
                fc.connection_lost(static_cast<std::uint64_t>(g + 1));
            fc.take(0, c.own);
            fc.take(1, c.others);
            BOOST_TEST(fc.grant_read_ahead(0) == c.expected);
            BOOST_TEST(fc.in_flight_of(0) == c.own + c.expected);
            BOOST_TEST(fc.in_flight() == c.own + c.others + c.expected);
        }
    }
}

BOOST_AUTO_TEST_CASE(read_returned_gives_back_unused_slots) {
    struct test_case {
        char const* name;
        int losses;
        std::size_t granted;
        std::size_t got;
        bool full;
        std::size_t in_flight_after;
        std::size_t read_size_after;
    };
    std::vector<test_case> const cases{
        {"full at batch: read size stays", 0, 100, 100, true, 100, 100},
        {"short", 0, 100, 30, false, 30, 100},
        {"empty: every slot back", 0, 100, 0, false, 0, 100},
        {"more than granted (a claim): full, nothing back", 0, 100, 120, true, 100, 100},
        {"nothing granted, nothing got: not full", 0, 0, 0, false, 0, 100},
        {"full after a loss: grows by an eighth", 1, 50, 50, true, 50, 56},
        {"short after a loss: does not grow", 1, 50, 49, false, 49, 50},
    };
    for (auto const& c : cases) {
        BOOST_TEST_CONTEXT(c.name) {
            flow_control fc{flow_limits{100, 1000, 200}};
            for (int g = 0; g < c.losses; ++g)
                fc.connection_lost(static_cast<std::uint64_t>(g + 1));
            fc.take(0, c.granted);
            BOOST_TEST(fc.read_returned(0, c.granted, c.got) == c.full);
            BOOST_TEST(fc.in_flight() == c.in_flight_after);
            BOOST_TEST(fc.in_flight_of(0) == c.in_flight_after);
            BOOST_TEST(fc.read_size() == c.read_size_after);
        }
    }
}

BOOST_AUTO_TEST_CASE(read_size_halves_once_per_connection_generation_never_below_one) {
    flow_control fc{flow_limits{128, 65536, 512}};
    struct step {
        std::uint64_t generation;
        std::size_t read_size;
    };
    std::vector<step> const steps{
        {1, 64}, {1, 64}, // the same connection reported twice (reads and pending re-reads)
        {2, 32}, {3, 16}, {3, 16}, {4, 8}, {5, 4}, {6, 2}, {7, 1},
        {8, 1},  {9, 1}, // never below 1
    };
    for (std::size_t i = 0; i < steps.size(); ++i) {
        BOOST_TEST_CONTEXT("step " << i << ", generation " << steps[i].generation) {
            fc.connection_lost(steps[i].generation);
            BOOST_TEST(fc.read_size() == steps[i].read_size);
        }
    }
}

BOOST_AUTO_TEST_CASE(read_size_grows_back_by_an_eighth_per_full_read_up_to_batch) {
    // From 1 (max(1, size/8) per full read) and from 64 (one lost connection), batch 128.
    std::vector<std::size_t> const from_one{2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13,
                                            14, 15, 16, 18, 20, 22, 24, 27, 30, 33, 37, 41,
                                            46, 51, 57, 64, 72, 81, 91, 102, 114, 128, 128};
    std::vector<std::size_t> const from_half{72, 81, 91, 102, 114, 128, 128};
    struct test_case {
        char const* name;
        int losses;
        std::size_t start;
        std::vector<std::size_t> const* sizes;
    };
    std::vector<test_case> const cases{{"from 1", 8, 1, &from_one}, {"from 64", 1, 64, &from_half}};
    for (auto const& c : cases) {
        BOOST_TEST_CONTEXT(c.name) {
            flow_control fc{flow_limits{128, 65536, 512}};
            for (int g = 0; g < c.losses; ++g)
                fc.connection_lost(static_cast<std::uint64_t>(g + 1));
            BOOST_TEST(fc.read_size() == c.start);
            for (std::size_t i = 0; i < c.sizes->size(); ++i) {
                BOOST_TEST_CONTEXT("full read " << i) {
                    std::size_t const before = fc.read_size();
                    // A short read in between changes nothing.
                    fc.take(0, before);
                    BOOST_TEST(!fc.read_returned(0, before, before - 1));
                    BOOST_TEST(fc.read_size() == before);
                    fc.release(0, before - 1);
                    std::size_t const granted = fc.grant(0, before);
                    BOOST_TEST(granted == before);
                    BOOST_TEST(fc.read_returned(0, granted, granted));
                    BOOST_TEST(fc.read_size() == (*c.sizes)[i]);
                    fc.release(0, granted);
                }
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(release_never_underflows) {
    flow_control fc{flow_limits{}};
    fc.take(0, 5);
    fc.take(1, 4);
    fc.release(1, 3);
    BOOST_TEST(fc.in_flight() == 6u);
    BOOST_TEST(fc.in_flight_of(1) == 1u);
    fc.release(7, 2); // a holder without a counter (forgotten): only the worker's count
    BOOST_TEST(fc.in_flight() == 4u);
    BOOST_TEST(fc.in_flight_of(0) == 5u);
    BOOST_TEST(fc.in_flight_of(1) == 1u);
    fc.release(1, 0);
    BOOST_TEST(fc.in_flight_of(1) == 1u);
    // More than there is: both counts stop at zero instead of wrapping round (which would leave
    // no room at all). The worker's count is not capped by the holder's: a forgotten holder's
    // acks release it too.
    fc.release(0, 100);
    BOOST_TEST(fc.in_flight() == 0u);
    BOOST_TEST(fc.in_flight_of(0) == 0u);
    BOOST_TEST(fc.in_flight_of(1) == 1u);
    BOOST_TEST(fc.room(0) == 512u);
    fc.release(1, 100);
    BOOST_TEST(fc.in_flight_of(1) == 0u);
    BOOST_TEST(fc.in_flight() == 0u);
    BOOST_TEST(fc.room(1) == 512u);
}

BOOST_AUTO_TEST_CASE(waiters_wake_oldest_first_as_far_as_the_freed_budget_goes) {
    // Threshold 25, read size 50: each woken waiter is expected to read up to 50.
    flow_control fc{flow_limits{50, 200, 200}};
    fc.take(0, 200); // the worker is full
    for (holder_id h : {1u, 2u, 3u, 4u})
        fc.wait_for_room(h);
    std::vector<holder_id> woken{99}; // the answer replaces what was there
    fc.waiters_to_wake(woken);
    BOOST_TEST(woken.empty());
    BOOST_TEST(fc.has_waiters());

    fc.release(0, 100); // 100 free: two reads of 50
    fc.waiters_to_wake(woken);
    BOOST_TEST(woken == (std::vector<holder_id>{1, 2}), tt::per_element());
    BOOST_TEST(fc.has_waiters());
    // The woken ones read: the room is used up again, and no one else is woken.
    BOOST_TEST(fc.grant(1, fc.read_size()) == 50u);
    BOOST_TEST(fc.grant(2, fc.read_size()) == 50u);
    fc.waiters_to_wake(woken);
    BOOST_TEST(woken.empty());
    BOOST_TEST(fc.has_waiters());

    fc.release(0, 130); // 130 free: 3 and 4 (50 + 50), 30 left over
    fc.waiters_to_wake(woken);
    BOOST_TEST(woken == (std::vector<holder_id>{3, 4}), tt::per_element());
    BOOST_TEST(!fc.has_waiters());
}

BOOST_AUTO_TEST_CASE(waiters_budget_exactly_the_threshold_wakes_one) {
    flow_control fc{flow_limits{50, 200, 200}}; // threshold 25
    fc.take(0, 175);
    fc.wait_for_room(1);
    fc.wait_for_room(2);
    std::vector<holder_id> woken;
    fc.waiters_to_wake(woken);
    BOOST_TEST(woken == (std::vector<holder_id>{1}), tt::per_element());
    BOOST_TEST(fc.has_waiters());
}

BOOST_AUTO_TEST_CASE(waiters_at_their_own_bound_are_skipped_and_keep_waiting) {
    flow_control fc{flow_limits{100, 300, 100}}; // threshold 50, read size 100
    fc.take(0, 100); // at its own bound
    fc.take(1, 100);
    fc.take(2, 100); // worker full
    fc.wait_for_room(0);
    fc.wait_for_room(3);
    fc.wait_for_room(4);

    fc.release(1, 100); // 100 free: 0 cannot use it, 3 takes all of it, 4 waits
    std::vector<holder_id> woken;
    fc.waiters_to_wake(woken);
    BOOST_TEST(woken == (std::vector<holder_id>{3}), tt::per_element());

    fc.release(0, 60); // 160 free, 100 of it spoken for by 3 (woken, not run yet): 0 gets its 60, 4 waits
    fc.waiters_to_wake(woken);
    BOOST_TEST(woken == (std::vector<holder_id>{0}), tt::per_element());
    BOOST_TEST(fc.has_waiters());
    BOOST_TEST(fc.grant(3, 100) == 100u);
    BOOST_TEST(fc.grant(0, 100) == 60u);
    BOOST_TEST(fc.in_flight() == 300u);
}

BOOST_AUTO_TEST_CASE(stop_waiting_removes_a_waiter) {
    flow_control fc{flow_limits{100, 300, 300}};
    fc.take(0, 300);
    fc.wait_for_room(1);
    fc.wait_for_room(2);
    fc.stop_waiting(1);
    fc.release(0, 300);
    std::vector<holder_id> woken;
    fc.waiters_to_wake(woken);
    BOOST_TEST(woken == (std::vector<holder_id>{2}), tt::per_element());
    BOOST_TEST(!fc.has_waiters());
}

BOOST_AUTO_TEST_CASE(forget_drops_the_holder_counter_but_keeps_the_worker_count) {
    flow_control fc{flow_limits{100, 1000, 200}};
    fc.take(1, 30);
    fc.take(2, 10);
    fc.wait_for_room(1);
    fc.forget(1);
    BOOST_TEST(fc.in_flight_of(1) == 0u);
    BOOST_TEST(!fc.has_waiters());
    // Its 30 messages may still have acks queued or on the wire; the worker bound must keep
    // counting them until those acks complete and release them.
    BOOST_TEST(fc.in_flight() == 40u);
    fc.release(1, 30); // the old holder's acks complete
    BOOST_TEST(fc.in_flight() == 10u);
    BOOST_TEST(fc.in_flight_of(2) == 10u);
    // A holder started later under the same id begins at zero.
    fc.take(1, 5);
    BOOST_TEST(fc.in_flight_of(1) == 5u);
    BOOST_TEST(fc.room(1) == 195u);
}

BOOST_AUTO_TEST_CASE(a_new_holder_under_a_reused_id_is_not_charged_for_the_old_ones_acks) {
    flow_control fc{flow_limits{100, 1000, 200}};
    fc.take(1, 30);
    fc.forget(1);                       // the old holder ended with 30 acks under way
    BOOST_TEST(fc.grant(1, 200) == 200u); // a new holder under id 1 reads its full bound
    fc.release(1, 30);                  // the old holder's acks complete
    BOOST_TEST(fc.in_flight_of(1) == 200u);
    BOOST_TEST(fc.room(1) == 0u);
    BOOST_TEST(fc.in_flight() == 200u);
}

BOOST_AUTO_TEST_CASE(releases_before_the_woken_run_wake_no_one_else_for_the_same_room) {
    flow_control fc{flow_limits{100, 200, 200}};
    fc.take(0, 200);
    for (holder_id h = 1; h <= 100; ++h)
        fc.wait_for_room(h);
    std::vector<holder_id> woken;
    std::size_t total = 0;
    // One ack at a time frees room; none of the woken has run (granted) yet.
    for (int i = 0; i < 100; ++i) {
        fc.release(0, 1);
        fc.waiters_to_wake(woken);
        total += woken.size();
    }
    BOOST_TEST(total == 1u); // 100 free slots: one read of a batch
    // The woken holder runs and takes its read; the next 100 releases wake the next one.
    BOOST_TEST(fc.grant(1, 100) == 100u);
    for (int i = 0; i < 100; ++i) {
        fc.release(0, 1);
        fc.waiters_to_wake(woken);
        total += woken.size();
    }
    BOOST_TEST(total == 2u);
}

BOOST_AUTO_TEST_CASE(reset_empties_the_counts_and_keeps_the_read_size) {
    flow_control fc{flow_limits{100, 1000, 200}};
    fc.take(0, 150);
    fc.take(1, 20);
    fc.wait_for_room(0);
    fc.connection_lost(1);
    fc.reset();
    BOOST_TEST(fc.in_flight() == 0u);
    BOOST_TEST(fc.in_flight_of(0) == 0u);
    BOOST_TEST(fc.in_flight_of(1) == 0u);
    BOOST_TEST(!fc.has_waiters());
    BOOST_TEST(fc.read_size() == 50u);
    BOOST_TEST(fc.threshold() == 50u);
    BOOST_TEST(fc.room(0) == 200u);
}

BOOST_AUTO_TEST_SUITE_END() // flow_control_tests

// =============================================================================================
BOOST_AUTO_TEST_SUITE(hand_registry_tests)

BOOST_AUTO_TEST_CASE(take_read_puts_every_entry_in_hand) {
    hand_registry hr{1000ms};
    hr.take_read(3, 1, batch_of({1, 2, 3}), t0);
    BOOST_TEST(hr.size() == 3u);
    for (std::uint64_t m : {1u, 2u, 3u}) {
        BOOST_TEST_CONTEXT("id " << m) {
            auto const* info = hr.find(1, sid(m));
            BOOST_TEST_REQUIRE(info != nullptr);
            BOOST_TEST(info->holder == 3u);
            BOOST_TEST(at_us(info->since) == 0);
            BOOST_TEST(!info->handling);
            BOOST_TEST(!info->acking);
            BOOST_TEST(!info->lost);
        }
    }
    BOOST_TEST(hr.find(0, sid(1)) == nullptr); // the stream is part of the key
    BOOST_TEST(hr.find(1, sid(4)) == nullptr);
}

BOOST_AUTO_TEST_CASE(take_fresh_skips_held_ids_and_ids_not_planned) {
    struct test_case {
        char const* name;
        std::vector<std::uint64_t> held; // by holder 0 on stream 0
        std::vector<std::uint64_t> batch;
        delivery_plan plan;
        delivery_plan plan_after;
        std::size_t taken;
        std::vector<std::uint64_t> now_held_by_1;
    };
    std::vector<test_case> const cases{
        {"nothing held", {}, {1, 2, 3}, {1, 2, 3}, {1, 2, 3}, 3, {1, 2, 3}},
        {"held ids are zeroed", {2}, {1, 2, 3}, {1, 4, 1}, {1, 0, 1}, 2, {1, 3}},
        {"plan 0 left alone, not taken", {}, {1, 2, 3}, {1, 0, 2}, {1, 0, 2}, 2, {1, 3}},
        {"mixed", {2, 4}, {1, 2, 3, 4}, {1, 3, 0, 2}, {1, 0, 0, 0}, 1, {1}},
        {"all held", {1, 2}, {1, 2}, {5, 5}, {0, 0}, 0, {}},
    };
    for (auto const& c : cases) {
        BOOST_TEST_CONTEXT(c.name) {
            hand_registry hr{1000ms};
            hr.take_read(0, 0, batch_of(c.held), t0);
            delivery_plan plan = c.plan;
            BOOST_TEST(hr.take_fresh(1, 0, batch_of(c.batch), plan, t0 + 5ms) == c.taken);
            BOOST_TEST(plan == c.plan_after, tt::per_element());
            BOOST_TEST(hr.size() == c.held.size() + c.taken);
            for (auto m : c.held) {
                auto const* info = hr.find(0, sid(m));
                BOOST_TEST_REQUIRE(info != nullptr);
                BOOST_TEST(info->holder == 0u, "held id " << m << " changed holder");
                BOOST_TEST(at_us(info->since) == 0, "held id " << m << " was touched");
            }
            for (auto m : c.now_held_by_1) {
                auto const* info = hr.find(0, sid(m));
                BOOST_TEST_REQUIRE(info != nullptr);
                BOOST_TEST(info->holder == 1u);
                BOOST_TEST(at_us(info->since) == 5000);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(take_fresh_on_another_stream_is_not_held) {
    hand_registry hr{1000ms};
    hr.take_read(0, 0, batch_of({1}), t0);
    delivery_plan plan{2};
    BOOST_TEST(hr.take_fresh(1, 1, batch_of({1}), plan, t0) == 1u);
    BOOST_TEST(plan[0] == 2u);
    BOOST_TEST(hr.size() == 2u);
}

BOOST_AUTO_TEST_CASE(touch_resets_since_of_held_ids_only) {
    hand_registry hr{1000ms};
    hr.take_read(0, 0, batch_of({1, 2}), t0);
    hr.touch(0, batch_of({2, 3}), t0 + 300ms);
    BOOST_TEST(at_us(hr.find(0, sid(1))->since) == 0);
    BOOST_TEST(at_us(hr.find(0, sid(2))->since) == 300000);
    BOOST_TEST(hr.find(0, sid(3)) == nullptr); // touch never takes
    BOOST_TEST(hr.size() == 2u);
}

BOOST_AUTO_TEST_CASE(let_go_removes_once) {
    hand_registry hr{1000ms};
    hr.take_read(0, 0, batch_of({1, 2}), t0);
    BOOST_TEST(hr.let_go(0, sid(1)));
    BOOST_TEST(!hr.let_go(0, sid(1)));
    BOOST_TEST(!hr.let_go(1, sid(2))); // other stream
    BOOST_TEST(hr.size() == 1u);
    BOOST_TEST(hr.find(0, sid(1)) == nullptr);
    BOOST_TEST(hr.find(0, sid(2)) != nullptr);
    hr.clear();
    BOOST_TEST(hr.size() == 0u);
}

BOOST_AUTO_TEST_CASE(needs_check_only_after_three_quarters_of_min_idle_and_not_when_lost) {
    struct test_case {
        char const* name;
        bool held;
        bool lost;
        std::chrono::microseconds waited;
        bool expected;
    };
    std::vector<test_case> const cases{
        {"fresh", true, false, 0ms, false},
        {"half of min_idle", true, false, 500ms, false},
        {"exactly 3/4", true, false, 750ms, false},
        {"just past 3/4", true, false, 750001us, true},
        {"past min_idle", true, false, 2000ms, true},
        {"lost: nothing to check", true, true, 2000ms, false},
        {"not held", false, false, 2000ms, false},
    };
    for (auto const& c : cases) {
        BOOST_TEST_CONTEXT(c.name) {
            hand_registry hr{1000ms};
            if (c.held)
                hr.take_read(0, 0, batch_of({1}), t0);
            if (c.lost)
                hr.find(0, sid(1))->lost = true;
            BOOST_TEST(hr.needs_check(0, sid(1), t0 + c.waited) == c.expected);
            BOOST_TEST(hr.taken_over(0, sid(1)) == c.lost);
        }
    }
}

BOOST_AUTO_TEST_CASE(release_held_by_keeps_acking_entries_and_other_holders) {
    hand_registry hr{1000ms};
    hr.take_read(0, 0, batch_of({1, 2, 3}), t0);
    hr.take_read(0, 1, batch_of({1}), t0);
    hr.take_read(1, 0, batch_of({4}), t0);
    hr.find(0, sid(1))->acking = true;  // its ack's completion lets it go
    hr.find(0, sid(2))->handling = true; // handling but not acking: released
    BOOST_TEST(hr.release_held_by(0) == 3u);
    BOOST_TEST(hr.size() == 2u);
    BOOST_TEST(hr.find(0, sid(1)) != nullptr);
    BOOST_TEST(hr.find(0, sid(4)) != nullptr);
    BOOST_TEST(hr.find(0, sid(2)) == nullptr);
    BOOST_TEST(hr.find(0, sid(3)) == nullptr);
    BOOST_TEST(hr.find(1, sid(1)) == nullptr);
    BOOST_TEST(hr.release_held_by(0) == 0u); // only the acking one is left
    BOOST_TEST(hr.release_held_by(5) == 0u);
}

BOOST_AUTO_TEST_CASE(waiting_to_refresh_groups_by_holder_stream_and_since) {
    hand_registry hr{1000ms}; // refreshes past 250 ms
    hr.take_read(0, 0, batch_of({1, 2, 6, 7, 9}), t0);
    hr.take_read(0, 0, batch_of({3}), t0 + 100ms + 600us); // waited 299.4 ms: reported as 299
    hr.take_read(0, 0, batch_of({10}), t0 + 150ms);         // exactly 250 ms: not yet
    hr.take_read(0, 0, batch_of({8}), t0 + 200ms);          // 200 ms: too young
    hr.take_read(0, 1, batch_of({4}), t0);
    hr.take_read(1, 0, batch_of({5}), t0);
    hr.take_read(keeper_id, 0, batch_of({11}), t0);
    hr.find(0, sid(6))->handling = true; // a running handler is not waiting
    hr.find(0, sid(7))->lost = true;     // already taken over
    hr.find(0, sid(9))->acking = true;   // waiting for its ack: still kept from looking idle

    auto const groups = hr.waiting_to_refresh(t0 + 400ms);
    struct expected_group {
        holder_id holder;
        std::size_t stream;
        std::int64_t waited_ms;
        std::vector<std::uint64_t> ids;
    };
    std::vector<expected_group> const expected{
        {0, 0, 400, {1, 2, 9}}, {0, 0, 299, {3}}, {0, 1, 400, {4}},
        {1, 0, 400, {5}},       {keeper_id, 0, 400, {11}},
    };
    BOOST_TEST_REQUIRE(groups.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        BOOST_TEST_CONTEXT("group " << i) {
            BOOST_TEST(groups[i].holder == expected[i].holder);
            BOOST_TEST(groups[i].stream == expected[i].stream);
            BOOST_TEST(groups[i].waited.count() == expected[i].waited_ms);
            BOOST_TEST(ms_of(groups[i].ids) == expected[i].ids, tt::per_element());
        }
    }
    BOOST_TEST(hr.waiting_to_refresh(t0 + 250ms).empty());
}

BOOST_AUTO_TEST_CASE(refreshed_resets_kept_ids_and_marks_missing_ones_lost) {
    struct test_case {
        char const* name;
        bool in_reply;
        bool handling;       // started its handler while the XCLAIM travelled
        bool touched_after;  // our own re-read delivered it again after sent_at
        bool let_go;         // acked meanwhile
        bool at_sent_at;     // since == sent_at exactly (still ours to judge)
        bool lost_after;
        std::int64_t since_after_us; // -1: not held
    };
    // sent_at = t0 + 400 ms, reset_at = t0 + 405 ms, touched at t0 + 402 ms.
    std::vector<test_case> const cases{
        {"kept: idle reset", true, false, false, false, false, false, 405000},
        {"missing: taken over", false, false, false, false, false, true, 0},
        {"missing but handling: left alone", false, true, false, false, false, false, 0},
        {"kept but handling: left alone", true, true, false, false, false, false, 0},
        {"missing but touched after sent_at: left alone", false, false, true, false, false, false, 402000},
        {"kept and touched after sent_at: left alone", true, false, true, false, false, false, 402000},
        {"let go meanwhile: not taken back", false, false, false, true, false, false, -1},
        {"since exactly sent_at, missing: lost", false, false, false, false, true, true, 400000},
    };
    for (auto const& c : cases) {
        BOOST_TEST_CONTEXT(c.name) {
            hand_registry hr{1000ms};
            time_point const sent_at = t0 + 400ms;
            time_point const reset_at = t0 + 405ms;
            hr.take_read(2, 1, batch_of({1, 50}), c.at_sent_at ? sent_at : t0);
            refresh_group const group{2, 1, 400ms, {sid(1), sid(50)}};
            if (c.handling)
                hr.find(1, sid(1))->handling = true;
            if (c.touched_after)
                hr.touch(1, batch_of({1}), t0 + 402ms);
            if (c.let_go)
                hr.let_go(1, sid(1));
            // Id 50 is always kept: a control that the reply is read at all.
            std::vector<stream_id> const kept = c.in_reply ? std::vector<stream_id>{sid(1), sid(50)}
                                                           : std::vector<stream_id>{sid(50)};
            hr.refreshed(group, kept, sent_at, reset_at);
            auto const* info = hr.find(1, sid(1));
            if (c.since_after_us < 0) {
                BOOST_TEST(info == nullptr);
            } else {
                BOOST_TEST_REQUIRE(info != nullptr);
                BOOST_TEST(info->lost == c.lost_after);
                BOOST_TEST(hr.taken_over(1, sid(1)) == c.lost_after);
                BOOST_TEST(at_us(info->since) == c.since_after_us);
            }
            auto const* control = hr.find(1, sid(50));
            BOOST_TEST_REQUIRE(control != nullptr);
            BOOST_TEST(!control->lost);
            BOOST_TEST(at_us(control->since) == 405000);
        }
    }
}

BOOST_AUTO_TEST_CASE(refreshed_entries_stop_looking_idle_and_lost_ones_are_not_refreshed_again) {
    hand_registry hr{1000ms};
    hr.take_read(0, 0, batch_of({1, 2}), t0);
    auto groups = hr.waiting_to_refresh(t0 + 300ms);
    BOOST_TEST_REQUIRE(groups.size() == 1u);
    hr.refreshed(groups[0], {sid(1)}, t0 + 300ms, t0 + 301ms);
    BOOST_TEST(hr.taken_over(0, sid(2)));
    BOOST_TEST(!hr.needs_check(0, sid(2), t0 + 5s)); // lost: handled by no one, checked by no one
    BOOST_TEST(hr.waiting_to_refresh(t0 + 500ms).empty());
    groups = hr.waiting_to_refresh(t0 + 600ms); // 299 ms after the reset
    BOOST_TEST_REQUIRE(groups.size() == 1u);
    BOOST_TEST(ms_of(groups[0].ids) == (std::vector<std::uint64_t>{1}), tt::per_element());
    BOOST_TEST(groups[0].waited.count() == 299);
}

BOOST_AUTO_TEST_CASE(refresh_period_is_an_eighth_of_min_idle_at_least_10ms) {
    struct test_case {
        milliseconds min_idle;
        std::int64_t expected_ms;
    };
    std::vector<test_case> const cases{{60000ms, 7500}, {1000ms, 125}, {88ms, 11}, {80ms, 10},
                                       {79ms, 10},      {8ms, 10},     {0ms, 10}};
    for (auto const& c : cases) {
        BOOST_TEST_CONTEXT("min_idle " << c.min_idle.count() << " ms") {
            BOOST_TEST(hand_registry{c.min_idle}.refresh_period().count() == c.expected_ms);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END() // hand_registry_tests

// =============================================================================================
BOOST_AUTO_TEST_SUITE(ack_queue_tests)

BOOST_AUTO_TEST_CASE(push_reports_a_full_batch) {
    ack_queue q{ack_limits{3, 5ms, 1000}};
    BOOST_TEST(q.idle());
    BOOST_TEST(!q.push(rec(0, 1), t0));
    BOOST_TEST(!q.idle());
    BOOST_TEST(!q.push(rec(0, 2, "k2"), t0));
    BOOST_TEST(q.done_unconfirmed("k2")); // from the push on: a redelivery is a duplicate
    BOOST_TEST(q.push(rec(1, 3), t0));
    BOOST_TEST(q.queued() == 3u);
    BOOST_TEST(q.in_flight() == 0u);
    BOOST_TEST(q.timer_delay().count() == 5);
}

BOOST_AUTO_TEST_CASE(take_groups_per_stream_and_kind_in_bounded_commands) {
    struct test_case {
        char const* name;
        ack_limits limits;
        std::size_t streams;
        std::vector<ack_record> pushes;
        std::vector<std::string> records;
        std::vector<std::string> commands;
    };
    std::vector<test_case> const cases{
        {"streams in order, plain before marked, queue order within",
         {2, 5ms, 1000},
         3,
         {rec(1, 1), rec(0, 2, "k2"), rec(0, 3), rec(0, 4), rec(0, 5), rec(0, 6, "k6"), rec(2, 7, "k7"),
          rec(1, 8)},
         {"s0:3", "s0:4", "s0:5", "s0:2+k2", "s0:6+k6", "s1:1", "s1:8", "s2:7+k7"},
         {"s0 [0,2) plain", "s0 [2,3) plain", "s0 [3,5) marked", "s1 [5,7) plain", "s2 [7,8) marked"}},
        {"scripts capped by max_script_ids",
         {3, 5ms, 2},
         1,
         {rec(0, 1, "a"), rec(0, 2, "b"), rec(0, 3, "c"), rec(0, 4, "d"), rec(0, 5, "e"), rec(0, 6),
          rec(0, 7), rec(0, 8), rec(0, 9)},
         {"s0:6", "s0:7", "s0:8", "s0:9", "s0:1+a", "s0:2+b", "s0:3+c", "s0:4+d", "s0:5+e"},
         {"s0 [0,3) plain", "s0 [3,4) plain", "s0 [4,6) marked", "s0 [6,8) marked", "s0 [8,9) marked"}},
        {"scripts capped by ack_batch when it is smaller",
         {2, 5ms, 1000},
         1,
         {rec(0, 1, "a"), rec(0, 2, "b"), rec(0, 3, "c")},
         {"s0:1+a", "s0:2+b", "s0:3+c"},
         {"s0 [0,2) marked", "s0 [2,3) marked"}},
        {"ack_batch 0 still sends one id per command",
         {0, 5ms, 1000},
         1,
         {rec(0, 1), rec(0, 2)},
         {"s0:1", "s0:2"},
         {"s0 [0,1) plain", "s0 [1,2) plain"}},
        {"nothing queued", {2, 5ms, 1000}, 2, {}, {}, {}},
    };
    for (auto const& c : cases) {
        BOOST_TEST_CONTEXT(c.name) {
            ack_queue q{c.limits};
            for (auto const& r : c.pushes)
                (void)q.push(r, t0);
            auto const f = q.take(c.streams, t0 + 7ms);
            BOOST_TEST(records_of(f.records) == c.records, tt::per_element());
            BOOST_TEST(commands_of(f) == c.commands, tt::per_element());
            BOOST_TEST(f.markers.empty());
            BOOST_TEST(q.queued() == 0u);
            BOOST_TEST(q.in_flight() == c.records.size());
            BOOST_TEST(q.flushes_in_flight() == 1u);
            auto const wait_ms = std::chrono::duration_cast<milliseconds>(f.oldest_wait).count();
            BOOST_TEST(wait_ms == (c.pushes.empty() ? 0 : 7));
        }
    }
}

BOOST_AUTO_TEST_CASE(oldest_wait_counts_from_the_first_queued_ack) {
    ack_queue q{ack_limits{10, 5ms, 1000}};
    (void)q.push(rec(0, 1), t0 + 2ms);
    (void)q.push(rec(0, 2), t0 + 6ms);
    auto f = q.take(1, t0 + 10ms);
    BOOST_TEST(std::chrono::duration_cast<milliseconds>(f.oldest_wait).count() == 8);
    (void)q.completed(std::move(f), {}, {ok_reply(2)}, t0 + 11ms);
    (void)q.push(rec(0, 3), t0 + 20ms); // the queue emptied: a new first
    f = q.take(1, t0 + 21ms);
    BOOST_TEST(std::chrono::duration_cast<milliseconds>(f.oldest_wait).count() == 1);
}

BOOST_AUTO_TEST_CASE(in_flight_accounting_over_overlapping_flushes) {
    ack_queue q{ack_limits{10, 5ms, 1000}};
    (void)q.push(rec(0, 1), t0);
    (void)q.push(rec(0, 2), t0);
    auto first = q.take(1, t0);
    (void)q.push(rec(0, 3), t0);
    auto second = q.take(1, t0);
    BOOST_TEST(q.in_flight() == 3u);
    BOOST_TEST(q.flushes_in_flight() == 2u);
    BOOST_TEST(q.queued() == 0u);
    auto r1 = q.completed(std::move(first), {}, {ok_reply(2)}, t0 + 1ms);
    BOOST_TEST(records_of(r1.confirmed) == (strings{"s0:1", "s0:2"}),
               tt::per_element());
    BOOST_TEST(q.in_flight() == 1u);
    BOOST_TEST(q.flushes_in_flight() == 1u);
    auto r2 = q.completed(std::move(second), {}, {ok_reply(1)}, t0 + 1ms);
    BOOST_TEST(records_of(r2.confirmed) == (strings{"s0:3"}), tt::per_element());
    BOOST_TEST(q.in_flight() == 0u);
    BOOST_TEST(q.flushes_in_flight() == 0u);
    BOOST_TEST(q.idle());
}

BOOST_AUTO_TEST_CASE(success_confirms_and_clears_markers) {
    ack_queue q{ack_limits{10, 5ms, 1000}};
    (void)q.push(rec(0, 1, "k1", 4), t0);
    (void)q.push(rec(1, 2), t0);
    auto f = q.take(2, t0);
    auto const report = q.completed(std::move(f), {}, {ok_reply(), ok_reply()}, t0);
    BOOST_TEST(records_of(report.confirmed) == (strings{"s0:1+k1", "s1:2"}),
               tt::per_element());
    BOOST_TEST(report.confirmed[0].holder == 4u); // the holder travels with the record
    BOOST_TEST(report.dropped.empty());
    BOOST_TEST(report.to_log.empty());
    BOOST_TEST(!report.retry_later);
    BOOST_TEST(!q.done_unconfirmed("k1"));
    BOOST_TEST(q.idle());
}

BOOST_AUTO_TEST_CASE(closed_drops_everything_and_clears_markers) {
    ack_queue q{ack_limits{10, 5ms, 1000}};
    (void)q.push(rec(0, 1, "k1"), t0);
    (void)q.push(rec(0, 2), t0);
    (void)q.push(rec(1, 3, "k3"), t0);
    auto f = q.take(2, t0);
    BOOST_TEST(f.commands.size() == 3u);
    auto const report = q.completed(std::move(f), make_error_code(errc::closed), {}, t0 + 1ms);
    BOOST_TEST(records_of(report.dropped) == (strings{"s0:2", "s0:1+k1", "s1:3+k3"}),
               tt::per_element());
    BOOST_TEST(report.confirmed.empty());
    BOOST_TEST(!report.retry_later);
    BOOST_TEST(!q.done_unconfirmed("k1"));
    BOOST_TEST(!q.done_unconfirmed("k3"));
    BOOST_TEST(q.queued() == 0u);
    BOOST_TEST(q.in_flight() == 0u);
    BOOST_TEST(q.flushes_in_flight() == 0u);
    BOOST_TEST(q.idle());
    BOOST_TEST(q.timer_delay().count() == 5); // no backoff
}

BOOST_AUTO_TEST_CASE(unclear_flush_goes_back_ahead_of_newer_acks) {
    struct test_case {
        char const* name;
        error_code transport;
        std::size_t replies; // how many ok replies arrived
    };
    // Three commands go out (plain s0, marked s0, plain s1).
    std::vector<test_case> const cases{
        {"connection lost", make_error_code(errc::connection_lost), 0},
        {"connection lost after some replies", make_error_code(errc::connection_lost), 3},
        {"fewer replies than commands", {}, 2},
        {"more replies than commands", {}, 4},
    };
    for (auto const& c : cases) {
        BOOST_TEST_CONTEXT(c.name) {
            ack_queue q{ack_limits{10, 5ms, 1000}};
            (void)q.push(rec(0, 1), t0);
            (void)q.push(rec(0, 2, "k2"), t0);
            (void)q.push(rec(1, 3), t0);
            auto f = q.take(2, t0);
            BOOST_TEST_REQUIRE(f.commands.size() == 3u);
            (void)q.push(rec(0, 4), t0 + 1ms); // newer, queued while the flush travelled
            std::vector<result<std::int64_t>> const replies(c.replies, ok_reply());
            auto const report = q.completed(std::move(f), c.transport, replies, t0 + 2ms);
            BOOST_TEST(report.confirmed.empty());
            BOOST_TEST(report.dropped.empty());
            BOOST_TEST(report.to_log.empty());
            BOOST_TEST(report.retry_later);
            BOOST_TEST(q.queued() == 4u);
            BOOST_TEST(q.in_flight() == 0u);
            BOOST_TEST(q.done_unconfirmed("k2")); // its marker is still unknown to be written
            BOOST_TEST(q.timer_delay().count() == 20);
            auto const again = q.take(2, t0 + 30ms);
            BOOST_TEST(records_of(again.records) == (strings{"s0:1", "s0:4", "s0:2+k2", "s1:3"}),
                       tt::per_element());
        }
    }
}

BOOST_AUTO_TEST_CASE(put_back_records_precede_newer_acks_in_queue_order) {
    ack_queue q{ack_limits{10, 5ms, 1000}};
    (void)q.push(rec(0, 1), t0);
    (void)q.push(rec(0, 2), t0);
    auto f = q.take(1, t0);
    (void)q.push(rec(0, 3), t0 + 1ms);
    (void)q.completed(std::move(f), make_error_code(errc::connection_lost), {}, t0 + 2ms);
    auto const again = q.take(1, t0 + 25ms);
    BOOST_TEST(records_of(again.records) == (strings{"s0:1", "s0:2", "s0:3"}),
               tt::per_element());
    BOOST_TEST(commands_of(again) == (strings{"s0 [0,3) plain"}), tt::per_element());
}

BOOST_AUTO_TEST_CASE(backoff_doubles_to_one_second_and_resets_after_a_successful_flush) {
    ack_queue q{ack_limits{10, 5ms, 1000}};
    BOOST_TEST(q.timer_delay().count() == 5);
    (void)q.push(rec(0, 1), t0);
    std::vector<std::int64_t> const delays{20, 40, 80, 160, 320, 640, 1000, 1000};
    time_point now = t0;
    for (std::size_t i = 0; i < delays.size(); ++i) {
        BOOST_TEST_CONTEXT("failure " << i + 1) {
            auto const report = q.completed(q.take(1, now), make_error_code(errc::connection_lost), {}, now);
            BOOST_TEST(report.retry_later);
            BOOST_TEST(q.timer_delay().count() == delays[i]);
            now += q.timer_delay();
        }
    }
    // A refused command backs off too.
    auto f = q.take(1, now);
    auto const refused = q.completed(std::move(f), {}, {error_reply(server_errc::loading, "LOADING")}, now);
    BOOST_TEST(refused.retry_later);
    BOOST_TEST(q.timer_delay().count() == 1000);
    auto const report = q.completed(q.take(1, now), {}, {ok_reply()}, now);
    BOOST_TEST(!report.retry_later);
    BOOST_TEST(records_of(report.confirmed) == (strings{"s0:1"}), tt::per_element());
    BOOST_TEST(q.timer_delay().count() == 5);
    // And the next failure starts at 20 ms again.
    (void)q.push(rec(0, 2), now);
    (void)q.completed(q.take(1, now), make_error_code(errc::connection_lost), {}, now);
    BOOST_TEST(q.timer_delay().count() == 20);
}

BOOST_AUTO_TEST_CASE(error_replies_drop_or_requeue_per_command) {
    struct test_case {
        char const* name;
        server_errc code;
        char const* text;
        bool dropped;
    };
    std::vector<test_case> const cases{
        {"NOGROUP: group gone, never to be acked", server_errc::nogroup, "NOGROUP No such key", true},
        {"WRONGTYPE: stream gone, never to be acked", server_errc::wrongtype,
         "WRONGTYPE Operation against a key holding the wrong kind of value", true},
        {"NOPERM: may be granted later", server_errc::noperm, "NOPERM this user has no permissions", false},
        {"generic ERR", server_errc::other, "ERR something", false},
        {"LOADING", server_errc::loading, "LOADING Redis is loading", false},
        {"READONLY", server_errc::readonly, "READONLY You can't write against a read only replica.", false},
        {"BUSY", server_errc::busy, "BUSY Redis is busy running a script", false},
    };
    for (auto const& c : cases) {
        BOOST_TEST_CONTEXT(c.name) {
            ack_queue q{ack_limits{10, 5ms, 1000}};
            (void)q.push(rec(0, 1), t0);
            (void)q.push(rec(0, 2, "k2"), t0);
            (void)q.push(rec(1, 3), t0); // its command succeeds: one refusal fails only its own
            auto f = q.take(2, t0);
            BOOST_TEST_REQUIRE(commands_of(f) == (strings{"s0 [0,1) plain", "s0 [1,2) marked",
                                                                           "s1 [2,3) plain"}),
                               tt::per_element());
            std::vector<result<std::int64_t>> const replies{error_reply(c.code, c.text),
                                                            error_reply(c.code, c.text), ok_reply()};
            auto const report = q.completed(std::move(f), {}, replies, t0 + 1ms);
            BOOST_TEST(records_of(report.confirmed) == (strings{"s1:3"}),
                       tt::per_element());
            BOOST_TEST_REQUIRE(report.to_log.size() == 2u);
            BOOST_TEST(report.to_log[0].first == c.text);
            BOOST_TEST(report.to_log[0].second == 1u);
            if (c.dropped) {
                BOOST_TEST(records_of(report.dropped) == (strings{"s0:1", "s0:2+k2"}),
                           tt::per_element());
                BOOST_TEST(!report.retry_later);
                BOOST_TEST(q.queued() == 0u);
                BOOST_TEST(!q.done_unconfirmed("k2"));
                BOOST_TEST(q.timer_delay().count() == 5);
                BOOST_TEST(q.idle());
            } else {
                BOOST_TEST(report.dropped.empty());
                BOOST_TEST(report.retry_later);
                BOOST_TEST(q.queued() == 2u);
                BOOST_TEST(q.done_unconfirmed("k2"));
                BOOST_TEST(q.timer_delay().count() == 20);
                // Back as they were: the marked one still marked, no markers-only command.
                auto const again = q.take(2, t0 + 25ms);
                BOOST_TEST(records_of(again.records) == (strings{"s0:1", "s0:2+k2"}),
                           tt::per_element());
                BOOST_TEST(commands_of(again) == (strings{"s0 [0,1) plain", "s0 [1,2) marked"}),
                           tt::per_element());
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(oom_on_a_marked_command_acks_plain_and_rewrites_the_markers_later) {
    ack_queue q{ack_limits{10, 5ms, 1000}};
    (void)q.push(rec(0, 1, "k1"), t0);
    (void)q.push(rec(0, 2, "k2"), t0);
    (void)q.push(rec(0, 3), t0);
    auto f = q.take(1, t0);
    BOOST_TEST_REQUIRE(commands_of(f) == (strings{"s0 [0,1) plain", "s0 [1,3) marked"}),
                       tt::per_element());
    auto const report = q.completed(
        std::move(f), {}, {ok_reply(), error_reply(server_errc::oom, "OOM command not allowed")}, t0 + 1ms);
    BOOST_TEST(records_of(report.confirmed) == (strings{"s0:3"}), tt::per_element());
    BOOST_TEST(report.dropped.empty());
    BOOST_TEST(report.retry_later);
    BOOST_TEST_REQUIRE(report.to_log.size() == 1u);
    BOOST_TEST(report.to_log[0].second == 2u);
    BOOST_TEST(q.done_unconfirmed("k1")); // the markers are not written yet
    BOOST_TEST(q.done_unconfirmed("k2"));
    BOOST_TEST(q.queued() == 2u);

    // The next flush acks them plain, then writes their markers alone.
    auto next = q.take(1, t0 + 25ms);
    BOOST_TEST(records_of(next.records) == (strings{"s0:1", "s0:2"}),
               tt::per_element());
    BOOST_TEST(commands_of(next) == (strings{"s0 [0,2) plain", "markers-only"}),
               tt::per_element());
    BOOST_TEST(next.markers == (strings{"k1", "k2"}), tt::per_element());
    BOOST_TEST(q.idle()); // everything is in the flush

    // The plain XACK goes through, the markers are refused again: only they come back.
    auto const partly =
        q.completed(std::move(next), {}, {ok_reply(2), error_reply(server_errc::oom, "OOM")}, t0 + 26ms);
    BOOST_TEST(records_of(partly.confirmed) == (strings{"s0:1", "s0:2"}),
               tt::per_element());
    BOOST_TEST(partly.retry_later);
    BOOST_TEST(q.done_unconfirmed("k1"));
    BOOST_TEST(q.queued() == 0u);
    BOOST_TEST(!q.idle());

    auto markers = q.take(1, t0 + 70ms);
    BOOST_TEST(markers.records.empty());
    BOOST_TEST(commands_of(markers) == (strings{"markers-only"}), tt::per_element());
    BOOST_TEST(markers.markers == (strings{"k1", "k2"}), tt::per_element());
    auto const done = q.completed(std::move(markers), {}, {ok_reply()}, t0 + 71ms);
    BOOST_TEST(!done.retry_later);
    BOOST_TEST(!q.done_unconfirmed("k1"));
    BOOST_TEST(!q.done_unconfirmed("k2"));
    BOOST_TEST(q.idle());
    BOOST_TEST(q.timer_delay().count() == 5);
}

BOOST_AUTO_TEST_CASE(oom_on_a_plain_command_keeps_it_plain_and_writes_no_markers) {
    ack_queue q{ack_limits{10, 5ms, 1000}};
    (void)q.push(rec(0, 1), t0);
    auto const report = q.completed(q.take(1, t0), {}, {error_reply(server_errc::oom, "OOM")}, t0);
    BOOST_TEST(report.retry_later);
    auto const next = q.take(1, t0 + 25ms);
    BOOST_TEST(commands_of(next) == (strings{"s0 [0,1) plain"}), tt::per_element());
    BOOST_TEST(next.markers.empty());
}

BOOST_AUTO_TEST_CASE(markers_lost_with_the_connection_are_sent_again) {
    ack_queue q{ack_limits{10, 5ms, 1000}};
    (void)q.push(rec(0, 1, "k1"), t0);
    (void)q.completed(q.take(1, t0), {}, {error_reply(server_errc::oom, "OOM")}, t0);
    auto f = q.take(1, t0 + 25ms);
    BOOST_TEST_REQUIRE(f.markers.size() == 1u);
    (void)q.completed(std::move(f), make_error_code(errc::connection_lost), {}, t0 + 26ms);
    auto const again = q.take(1, t0 + 70ms);
    BOOST_TEST(commands_of(again) == (strings{"s0 [0,1) plain", "markers-only"}),
               tt::per_element());
    BOOST_TEST(again.markers == (strings{"k1"}), tt::per_element());
    BOOST_TEST(q.done_unconfirmed("k1"));
}

BOOST_AUTO_TEST_CASE(markers_only_command_is_capped_by_max_script_ids) {
    ack_queue q{ack_limits{10, 5ms, 2}};
    (void)q.push(rec(0, 1, "a"), t0);
    (void)q.push(rec(0, 2, "b"), t0);
    (void)q.push(rec(0, 3, "c"), t0);
    auto f = q.take(1, t0);
    BOOST_TEST_REQUIRE(f.commands.size() == 2u); // scripts of 2 and 1
    std::vector<result<std::int64_t>> const refused(2, error_reply(server_errc::oom, "OOM"));
    (void)q.completed(std::move(f), {}, refused, t0);
    auto next = q.take(1, t0 + 25ms);
    BOOST_TEST(commands_of(next) == (strings{"s0 [0,3) plain", "markers-only"}),
               tt::per_element());
    BOOST_TEST(next.markers == (strings{"a", "b"}), tt::per_element());
    auto const replies = all_ok(next);
    auto const report = q.completed(std::move(next), {}, replies, t0 + 26ms);
    BOOST_TEST(report.retry_later); // "c" still waits
    BOOST_TEST(!q.done_unconfirmed("a"));
    BOOST_TEST(q.done_unconfirmed("c"));
    auto last = q.take(1, t0 + 50ms);
    BOOST_TEST(last.markers == (strings{"c"}), tt::per_element());
    BOOST_TEST(!q.completed(std::move(last), {}, {ok_reply()}, t0 + 51ms).retry_later);
    BOOST_TEST(!q.done_unconfirmed("c"));
    BOOST_TEST(q.idle());
}

BOOST_AUTO_TEST_CASE(to_log_keeps_the_first_three_failures_then_one_per_hundred) {
    ack_queue q{ack_limits{1, 5ms, 1000}}; // one id per command: 250 commands
    for (std::uint64_t m = 0; m < 250; ++m)
        (void)q.push(rec(0, m), t0);
    auto f = q.take(1, t0);
    BOOST_TEST_REQUIRE(f.commands.size() == 250u);
    std::vector<result<std::int64_t>> replies;
    for (std::size_t k = 0; k < 250; ++k)
        replies.push_back(error_reply(server_errc::noperm, "NOPERM #" + std::to_string(k)));
    auto const report = q.completed(std::move(f), {}, replies, t0);
    std::vector<std::string> logged;
    for (auto const& [text, ids] : report.to_log) {
        logged.push_back(text);
        BOOST_TEST(ids == 1u);
    }
    BOOST_TEST(logged == (strings{"NOPERM #0", "NOPERM #1", "NOPERM #2", "NOPERM #100", "NOPERM #200"}),
               tt::per_element());
    BOOST_TEST(q.queued() == 250u);

    // The count goes on across flushes: failure 251 is not logged...
    auto f2 = q.take(1, t0 + 25ms);
    std::vector<result<std::int64_t>> replies2(f2.commands.size(), ok_reply());
    replies2[0] = error_reply(server_errc::noperm, "NOPERM again");
    auto const report2 = q.completed(std::move(f2), {}, replies2, t0 + 25ms);
    BOOST_TEST(report2.to_log.empty());
    BOOST_TEST(q.queued() == 1u);
    // ...and starts over after a flush without refusals.
    (void)q.completed(q.take(1, t0 + 70ms), {}, {ok_reply()}, t0 + 70ms);
    (void)q.push(rec(0, 999), t0 + 80ms);
    auto const report3 =
        q.completed(q.take(1, t0 + 80ms), {}, {error_reply(server_errc::noperm, "NOPERM later")}, t0 + 80ms);
    BOOST_TEST_REQUIRE(report3.to_log.size() == 1u);
    BOOST_TEST(report3.to_log[0].first == "NOPERM later");
}

BOOST_AUTO_TEST_SUITE_END() // ack_queue_tests

// =============================================================================================
BOOST_AUTO_TEST_SUITE(verdict_tests)

BOOST_AUTO_TEST_CASE(before_handling_dead_letters_only_past_max_deliveries) {
    struct test_case {
        std::uint64_t deliveries;
        std::uint64_t max_deliveries;
        std::optional<std::string> reason; // nullopt: handle it
    };
    std::vector<test_case> const cases{
        {1, 5, std::nullopt},
        {5, 5, std::nullopt}, // the last allowed delivery is handled
        {6, 5, "delivered 6 times (max_deliveries 5)"},
        {1000, 3, "delivered 1000 times (max_deliveries 3)"},
        {1, 0, "delivered 1 times (max_deliveries 0)"},
    };
    for (auto const& c : cases) {
        BOOST_TEST_CONTEXT("deliveries " << c.deliveries << ", max " << c.max_deliveries) {
            auto const v = before_handling(c.deliveries, c.max_deliveries);
            BOOST_TEST(v.has_value() == c.reason.has_value());
            if (v && c.reason) {
                BOOST_TEST(name_of(v->step) == name_of(next_step::move_to_dead_letters));
                BOOST_TEST(v->reason == *c.reason);
                BOOST_TEST(v->delay.count() == 0);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(after_handling_maps_outcomes_to_steps) {
    struct test_case {
        char const* name;
        outcome out;
        std::uint64_t deliveries;
        std::uint64_t max_deliveries;
        next_step step;
        std::string reason;
        std::int64_t delay_ms;
        bool failed;
    };
    std::vector<test_case> const cases{
        {"ack", ack, 1, 5, next_step::ack, "", 0, false},
        {"ack at the last delivery", ack, 5, 5, next_step::ack, "", 0, false},
        {"dead_letter with a reason", dead_letter("poison"), 1, 5, next_step::move_to_dead_letters, "poison",
         0, false},
        {"dead_letter without a reason", dead_letter(""), 1, 5, next_step::move_to_dead_letters,
         "handler asked to dead-letter", 0, false},
        {"retry at the last delivery", retry(), 5, 5, next_step::move_to_dead_letters, "handler failed", 0,
         true},
        {"retry past the last delivery", retry(), 7, 5, next_step::move_to_dead_letters, "handler failed", 0,
         true},
        {"retry with a reason at the last delivery", retry("db down"), 5, 5, next_step::move_to_dead_letters,
         "db down", 0, true},
        {"retry_after at the last delivery: no delay", retry_after(2000ms, "slow"), 5, 5,
         next_step::move_to_dead_letters, "slow", 0, true},
        {"retry_after with a delay", retry_after(250ms), 2, 5, next_step::redeliver_later, "", 250, true},
        {"retry_after with a delay and a reason", retry_after(1ms, "busy"), 4, 5, next_step::redeliver_later,
         "busy", 1, true},
        {"retry_after without delay", retry_after(0ms, "again"), 2, 5, next_step::leave_pending, "again", 0,
         true},
        {"retry without delay", retry(), 1, 5, next_step::leave_pending, "", 0, true},
        {"retry with a reason", retry("flaky"), 4, 5, next_step::leave_pending, "flaky", 0, true},
    };
    for (auto const& c : cases) {
        BOOST_TEST_CONTEXT(c.name) {
            auto const v = after_handling(c.out, c.deliveries, c.max_deliveries);
            BOOST_TEST(name_of(v.step) == name_of(c.step));
            BOOST_TEST(v.reason == c.reason);
            BOOST_TEST(v.delay.count() == c.delay_ms);
            BOOST_TEST(v.failed == c.failed);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END() // verdict_tests

// =============================================================================================
BOOST_AUTO_TEST_SUITE(lifecycle_tests)

BOOST_AUTO_TEST_CASE(worker_lifecycle_transitions) {
    using phase = worker_lifecycle::phase;
    enum class op { begin_run, started, begin_drain, finished, request_stop };
    struct step {
        op what;
        bool throws;
        phase after;
        bool stop_requested;
        bool takes_consumers;
    };
    struct test_case {
        char const* name;
        std::vector<step> steps;
    };
    std::vector<test_case> const cases{
        {"a whole run",
         {{op::begin_run, false, phase::starting, false, true},
          {op::started, false, phase::running, false, true},
          {op::begin_drain, false, phase::draining, false, false},
          {op::finished, false, phase::idle, false, false}}},
        {"run() while running throws in every phase and changes nothing",
         {{op::begin_run, false, phase::starting, false, true},
          {op::begin_run, true, phase::starting, false, true},
          {op::started, false, phase::running, false, true},
          {op::begin_run, true, phase::running, false, true},
          {op::begin_drain, false, phase::draining, false, false},
          {op::begin_run, true, phase::draining, false, false},
          {op::finished, false, phase::idle, false, false},
          {op::begin_run, false, phase::starting, false, true}}},
        {"a stop requested before run() is kept until finished()",
         {{op::request_stop, false, phase::idle, true, false},
          {op::begin_run, false, phase::starting, true, true},
          {op::started, false, phase::running, true, true},
          {op::begin_drain, false, phase::draining, true, false},
          {op::finished, false, phase::idle, false, false},
          {op::begin_run, false, phase::starting, false, true}}},
        {"a stop while starting",
         {{op::begin_run, false, phase::starting, false, true},
          {op::request_stop, false, phase::starting, true, true},
          {op::begin_drain, false, phase::draining, true, false},
          {op::finished, false, phase::idle, false, false}}},
        {"a stop while running, twice",
         {{op::begin_run, false, phase::starting, false, true},
          {op::started, false, phase::running, false, true},
          {op::request_stop, false, phase::running, true, true},
          {op::request_stop, false, phase::running, true, true},
          {op::begin_drain, false, phase::draining, true, false},
          {op::finished, false, phase::idle, false, false}}},
        {"run() throwing while starting: the next run starts afresh",
         {{op::begin_run, false, phase::starting, false, true},
          {op::request_stop, false, phase::starting, true, true},
          {op::finished, false, phase::idle, false, false},
          {op::begin_run, false, phase::starting, false, true},
          {op::started, false, phase::running, false, true}}},
    };
    for (auto const& c : cases) {
        BOOST_TEST_CONTEXT(c.name) {
            worker_lifecycle w;
            BOOST_TEST(name_of(w.current()) == name_of(phase::idle));
            BOOST_TEST(!w.running());
            BOOST_TEST(!w.stop_requested());
            BOOST_TEST(!w.takes_consumers());
            for (std::size_t i = 0; i < c.steps.size(); ++i) {
                auto const& s = c.steps[i];
                BOOST_TEST_CONTEXT("step " << i) {
                    switch (s.what) {
                    case op::begin_run:
                        if (s.throws) {
                            BOOST_CHECK_THROW(w.begin_run(), std::logic_error);
                        } else {
                            BOOST_CHECK_NO_THROW(w.begin_run());
                        }
                        break;
                    case op::started: w.started(); break;
                    case op::begin_drain: w.begin_drain(); break;
                    case op::finished: w.finished(); break;
                    case op::request_stop: w.request_stop(); break;
                    }
                    BOOST_TEST(name_of(w.current()) == name_of(s.after));
                    BOOST_TEST(w.running() == (s.after != phase::idle));
                    BOOST_TEST(w.stop_requested() == s.stop_requested);
                    BOOST_TEST(w.takes_consumers() == s.takes_consumers);
                }
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(task_lifecycle_transitions) {
    using phase = task_lifecycle::phase;
    enum class op { retire, stop, finish };
    struct step {
        op what;
        phase after;
    };
    struct test_case {
        char const* name;
        std::vector<step> steps;
    };
    std::vector<test_case> const cases{
        {"retire, then finish", {{op::retire, phase::retiring}, {op::finish, phase::done}}},
        {"stop, then finish", {{op::stop, phase::stopping}, {op::finish, phase::done}}},
        {"a stop does not turn a retirement into a stop",
         {{op::retire, phase::retiring}, {op::stop, phase::retiring}, {op::retire, phase::retiring}}},
        {"a retirement does not turn a stop into a retirement",
         {{op::stop, phase::stopping}, {op::retire, phase::stopping}, {op::stop, phase::stopping}}},
        {"finished without a request (a crash)", {{op::finish, phase::done}}},
        {"nothing leaves done",
         {{op::finish, phase::done},
          {op::retire, phase::done},
          {op::stop, phase::done},
          {op::finish, phase::done}}},
    };
    for (auto const& c : cases) {
        BOOST_TEST_CONTEXT(c.name) {
            task_lifecycle t;
            BOOST_TEST(name_of(t.current()) == name_of(phase::active));
            BOOST_TEST(!t.should_stop());
            BOOST_TEST(!t.retiring());
            BOOST_TEST(!t.done());
            for (std::size_t i = 0; i < c.steps.size(); ++i) {
                auto const& s = c.steps[i];
                BOOST_TEST_CONTEXT("step " << i) {
                    switch (s.what) {
                    case op::retire: t.retire(); break;
                    case op::stop: t.stop(); break;
                    case op::finish: t.finish(); break;
                    }
                    BOOST_TEST(name_of(t.current()) == name_of(s.after));
                    BOOST_TEST(t.should_stop()); // every step leaves active
                    BOOST_TEST(t.retiring() == (s.after == phase::retiring));
                    BOOST_TEST(t.done() == (s.after == phase::done));
                }
            }
        }
    }
}

BOOST_AUTO_TEST_SUITE_END() // lifecycle_tests

// ---------------------------------------------------------------------------------------------
// read_depth
// ---------------------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(read_depth_tests)

BOOST_AUTO_TEST_CASE(each_observation_moves_the_target_as_the_table_says) {
    // From a target of 4 (min 2, max 6, patience 3): what one observation does.
    struct row {
        bool waited;
        bool full;
        std::size_t target_after;
    };
    for (auto const& r : {row{true, true, 5},    // waited for a full read: too few travelling
                          row{true, false, 4},   // waited, the stream ran dry: says nothing
                          row{false, true, 4},   // already there: once is not enough to shrink
                          row{false, false, 4}}) {
        read_depth d{2, 6, 3};
        d.next_read(true, true);
        d.next_read(true, true);
        BOOST_TEST_REQUIRE(d.target() == 4u);
        d.next_read(r.waited, r.full);
        BOOST_TEST(d.target() == r.target_after, "waited " << r.waited << " full " << r.full);
    }
}

BOOST_AUTO_TEST_CASE(grows_to_max_and_shrinks_after_patience_ready_reads_in_a_row) {
    read_depth d{2, 4, 3};
    BOOST_TEST(d.target() == 2u); // starts at the minimum
    for (int i = 0; i < 10; ++i)
        d.next_read(true, true);
    BOOST_TEST(d.target() == 4u); // never above max
    d.next_read(false, true);
    d.next_read(false, true);
    BOOST_TEST(d.target() == 4u);
    d.next_read(true, true); // a wait resets the run of ready reads (already at max)
    d.next_read(false, true);
    d.next_read(false, true);
    BOOST_TEST(d.target() == 4u);
    d.next_read(false, true);
    BOOST_TEST(d.target() == 3u); // three ready in a row: one fewer
    for (int i = 0; i < 30; ++i)
        d.next_read(false, false);
    BOOST_TEST(d.target() == 2u); // never below min
}

BOOST_AUTO_TEST_CASE(reset_returns_to_the_minimum_and_bad_bounds_are_made_sane) {
    read_depth d{2, 8, 8};
    for (int i = 0; i < 5; ++i)
        d.next_read(true, true);
    BOOST_TEST(d.target() == 7u);
    d.reset();
    BOOST_TEST(d.target() == 2u);
    read_depth odd{0, 0, 0}; // min at least 1, max at least min, patience at least 1
    BOOST_TEST(odd.target() == 1u);
    odd.next_read(true, true);
    BOOST_TEST(odd.target() == 1u);
}

BOOST_AUTO_TEST_SUITE_END() // read_depth_tests

BOOST_AUTO_TEST_SUITE_END() // consumer_core
