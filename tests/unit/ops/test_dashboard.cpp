// The Grafana dashboard (examples/deploy/grafana-dashboard.json) asks only for metrics redstream
// exports, covers what an operator needs, and every query is valid PromQL (promtool).

#include <redstream/io/client.hpp>
#include <redstream/ops/metrics.hpp>
#include <redstream/scaling/autoscaler.hpp>

#include "shell.hpp"

#include <boost/asio/io_context.hpp>
// Boost.JSON header-only, compiled into this test alone.
#include <boost/json/src.hpp>
#include <boost/test/unit_test.hpp>

#include <fmt/format.h>

#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

using namespace redstream;
namespace json = boost::json;

namespace {

json::value read_dashboard() {
    std::ifstream in{REDSTREAM_SOURCE_DIR "/examples/deploy/grafana-dashboard.json"};
    BOOST_TEST_REQUIRE(static_cast<bool>(in));
    std::stringstream text;
    text << in.rdbuf();
    return json::parse(text.str());
}

// Every `expr` of every panel target, rows' nested panels included.
void collect_exprs(json::value const& v, std::vector<std::string>& out) {
    if (auto const* o = v.if_object()) {
        if (auto const* e = o->if_contains("expr"); e && e->is_string())
            out.emplace_back(e->as_string());
        for (auto const& [k, child] : *o)
            collect_exprs(child, out);
    } else if (auto const* a = v.if_array()) {
        for (auto const& child : *a)
            collect_exprs(child, out);
    }
}

// The series names a scrape can hold: each family's, plus a histogram's _bucket/_sum/_count.
std::set<std::string> exported_series_names() {
    boost::asio::io_context ioc;
    client cl{ioc.get_executor(), config::from_url("redis://127.0.0.1:1")};
    worker w{cl, {.stream = "s", .group = "g"}};
    autoscaler a{cl, w};
    metrics_registry registry;
    registry.add(cl);
    registry.add(w);
    registry.add(a);
    std::set<std::string> names;
    for (auto const& f : registry.collect({})) {
        if (f.type == metric_type::histogram) {
            for (auto suffix : {"_bucket", "_sum", "_count"})
                names.insert(f.name + suffix);
        } else {
            names.insert(f.name);
        }
    }
    return names;
}

// Identifiers starting with redstream_ (std::regex would do, but GCC 12 warns inside it).
std::set<std::string> metric_names_in(std::string const& expr) {
    auto is_name_char = [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == ':'; };
    std::set<std::string> out;
    for (auto at = expr.find("redstream_"); at != std::string::npos; at = expr.find("redstream_", at + 1)) {
        if (at > 0 && is_name_char(expr[at - 1]))
            continue;
        auto end = at;
        while (end < expr.size() && is_name_char(expr[end]))
            ++end;
        out.insert(expr.substr(at, end - at));
        at = end - 1;
    }
    return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(grafana_dashboard)

BOOST_AUTO_TEST_CASE(every_query_names_an_exported_metric_and_the_operator_rows_are_there) {
    auto const dashboard = read_dashboard();
    BOOST_TEST(dashboard.at("uid").as_string() == "redstream");
    std::vector<std::string> exprs;
    collect_exprs(dashboard, exprs);
    BOOST_TEST_REQUIRE(exprs.size() >= 10u);

    auto const exported = exported_series_names();
    std::set<std::string> used;
    for (auto const& e : exprs) {
        auto const names = metric_names_in(e);
        BOOST_TEST(!names.empty(), "a query names no redstream metric: " << e);
        for (auto const& n : names) {
            BOOST_TEST(exported.count(n) == 1, "the dashboard asks for " << n << ", which redstream does not export: " << e);
            used.insert(n);
        }
    }
    // What the issue asks the dashboard to show.
    for (auto const* needed : {"redstream_messages_handled_total",            // throughput
                               "redstream_group_lag", "redstream_group_age_lag_seconds", // lag, count and age
                               "redstream_consumers", "redstream_autoscaler_desired_consumers", // consumers vs desired
                               "redstream_handler_duration_seconds_bucket",    // handler latency
                               "redstream_messages_dead_lettered_total",       // dead letters
                               "redstream_connected"})                         // connection state
        BOOST_TEST(used.count(needed) == 1, "no panel shows " << needed);
}

BOOST_AUTO_TEST_CASE(every_query_is_valid_promql) {
    if (!test::have_promtool()) {
        BOOST_WARN_MESSAGE(false, "promtool not installed (Debian package prometheus): PromQL not validated");
        return;
    }
    std::vector<std::string> exprs;
    collect_exprs(read_dashboard(), exprs);
    // Grafana's variables, as Grafana would substitute them.
    auto substitute = [](std::string e) {
        for (auto const& [var, value] : {std::pair{std::string{"$__rate_interval"}, std::string{"1m"}},
                                         std::pair{std::string{"$__interval"}, std::string{"1m"}},
                                         std::pair{std::string{"$stream"}, std::string{".*"}},
                                         std::pair{std::string{"$group"}, std::string{".*"}}})
            for (auto at = e.find(var); at != std::string::npos; at = e.find(var, at))
                e.replace(at, var.size(), value);
        return e;
    };
    std::string rules = "groups:\n  - name: dashboard\n    rules:\n";
    for (std::size_t i = 0; i < exprs.size(); ++i) {
        std::string indented;
        for (char ch : substitute(exprs[i]))
            indented += ch == '\n' ? std::string{"\n          "} : std::string(1, ch);
        rules += fmt::format("      - record: dashboard_query_{}\n        expr: |-\n          {}\n", i, indented);
    }
    auto [status, out] = test::promtool_check("rules", rules);
    BOOST_TEST(status == 0, "promtool: " << out);
}

BOOST_AUTO_TEST_SUITE_END()
