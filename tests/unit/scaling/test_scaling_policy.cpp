#include <redstream/scaling/scaling_policy.hpp>

#include <boost/test/unit_test.hpp>

#include <vector>

using namespace redstream;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

scaling_config test_config() {
    scaling_config c;
    c.min_consumers = 1;
    c.max_consumers = 32;
    c.lag_high = 1000;
    c.lag_low = 100;
    c.growth_samples = 3;
    c.drain_target = 10s;
    c.up_cooldown = 2s;
    c.down_cooldown = 10s;
    c.max_step_up = 8;
    return c;
}

// One sample of a scenario: what the policy sees `at` seconds in, and the count it must want.
struct step {
    double at;
    std::uint64_t lag;
    double handled_per_s;
    double latency_s;
    std::size_t expected;
};

// Feeds the steps in order, applying each decision (the count follows the policy).
void run_scenario(std::size_t start_consumers, std::vector<step> const& steps, scaling_config const& cfg = test_config()) {
    scaling_memory mem;
    auto const t0 = steady::time_point{} + 1000s;
    std::size_t consumers = start_consumers;
    for (std::size_t i = 0; i < steps.size(); ++i) {
        auto const& s = steps[i];
        scaling_input in;
        in.now = t0 + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(s.at));
        in.lag = s.lag;
        in.handled_per_s = s.handled_per_s;
        in.handler_latency_s = s.latency_s;
        in.consumers = consumers;
        auto d = decide_scale(cfg, in, mem);
        BOOST_TEST(d.desired == s.expected, "step " << i << " (t=" << s.at << " s, lag " << s.lag << "): wanted "
                                                   << s.expected << ", got " << d.desired << ": " << d.reason);
        BOOST_TEST(!d.reason.empty());
        consumers = d.desired;
    }
}

} // namespace

BOOST_AUTO_TEST_SUITE(scaling_policy)

BOOST_AUTO_TEST_CASE(below_min_and_above_max_are_corrected_first) {
    run_scenario(0, {{0, 0, 0, 0, 1}});
    run_scenario(40, {{0, 5000, 0, 0, 32}});
}

BOOST_AUTO_TEST_CASE(high_lag_step_drains_the_backlog_within_the_target) {
    // 2 consumers at 200 msg/s each (5 ms handlers); lag 5,000. Needed: 400 handled + 500/s to
    // drain 5,000 in 10 s = 900 msg/s = 4.5 consumers -> 5.
    run_scenario(2, {{0, 5000, 400, 0.005, 5}});
    // Lag grew by 6,500 in the last second: the arrival rate counts too. 400 + 6500 + 700 =
    // 7600 msg/s at 200 each = 38, capped by max_step_up 8: 2 + 8 = 10.
    run_scenario(2, {{0, 500, 400, 0.005, 2}, {1, 7000, 400, 0.005, 10}});
}

BOOST_AUTO_TEST_CASE(scale_ups_respect_the_cooldown_and_the_maximum) {
    run_scenario(2, {
                        {0.0, 5000, 400, 0.005, 5},   // up
                        {1.0, 5200, 1000, 0.005, 5},  // still high, inside up_cooldown: hold
                        {2.5, 5400, 1000, 0.005, 9},  // 1000 + 133 growth + 540 backlog = 1673 msg/s at 200
                        {5.0, 90000, 2600, 0.005, 17}, // 228 wanted, step capped at +8
                        {7.5, 90000, 4200, 0.005, 25},
                        {10.0, 90000, 5800, 0.005, 32}, // clamped to max
                        {12.5, 90000, 6400, 0.005, 32}, // at max: hold
                    });
}

BOOST_AUTO_TEST_CASE(lag_growing_for_n_samples_scales_up_before_it_is_high) {
    run_scenario(1, {
                        {0, 200, 100, 0.01, 1},
                        {1, 300, 100, 0.01, 1}, // grew once
                        {2, 400, 100, 0.01, 1}, // twice
                        {3, 500, 100, 0.01, 3}, // three times: 100 + 100 + 50 = 250 msg/s at 100 each -> 3
                    });
}

BOOST_AUTO_TEST_CASE(hysteresis_band_never_flaps) {
    // Lag wandering between the marks for 10 minutes: no decision at all.
    std::vector<step> steps;
    for (int i = 0; i < 600; ++i)
        steps.push_back({double(i), std::uint64_t(i % 2 ? 900 : 150), 500, 0.005, 4});
    run_scenario(4, steps);
}

BOOST_AUTO_TEST_CASE(scale_down_waits_for_the_cooldown_then_follows_littles_law_halving_at_most) {
    run_scenario(16, {
                         {0, 50, 300, 0.005, 16},  // low since now
                         {5, 20, 300, 0.005, 16},  // not long enough
                         {10, 0, 300, 0.005, 8},   // 300 msg/s x 5 ms x 1.25 = 2 needed; halve at most
                         {15, 0, 300, 0.005, 8},   // next step waits another cooldown
                         {20, 0, 300, 0.005, 4},
                         {30, 0, 300, 0.005, 2},
                         {40, 0, 300, 0.005, 2},   // 2 needed: stays
                         {50, 500, 300, 0.005, 2}, // band: hold, and the low period restarts
                         {55, 0, 300, 0.005, 2},
                     });
}

BOOST_AUTO_TEST_CASE(load_gone_returns_to_min) {
    run_scenario(10, {{0, 0, 0, 0.005, 10}, {10, 0, 0, 0.005, 5}, {20, 0, 0, 0.005, 3}, {30, 0, 0, 0.005, 2},
                      {40, 0, 0, 0.005, 1}, {50, 0, 0, 0.005, 1}});
}

BOOST_AUTO_TEST_CASE(no_scale_down_soon_after_a_scale_up) {
    run_scenario(2, {
                        {0, 5000, 400, 0.005, 5}, // up at t=0
                        {1, 0, 900, 0.005, 5},    // drained at once
                        {9, 0, 100, 0.005, 5},    // lag low 8 s, last up 9 s ago: hold
                        {11, 0, 100, 0.005, 3},   // both 10 s: down (need 1, halve at most)
                    });
}

BOOST_AUTO_TEST_CASE(unknown_capacity_doubles) {
    run_scenario(3, {{0, 5000, 0, 0, 6}});
}

BOOST_AUTO_TEST_CASE(decisions_are_counted) {
    scaling_memory mem;
    auto cfg = test_config();
    scaling_input in;
    in.now = steady::time_point{} + 100s;
    in.lag = 5000;
    in.handled_per_s = 400;
    in.handler_latency_s = 0.005;
    in.consumers = 2;
    auto d = decide_scale(cfg, in, mem);
    BOOST_TEST(d.changes(2));
    BOOST_TEST(mem.decisions == 1u);
    in.consumers = d.desired;
    in.now += 1s;
    d = decide_scale(cfg, in, mem);
    BOOST_TEST(!d.changes(in.consumers));
    BOOST_TEST(mem.decisions == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
