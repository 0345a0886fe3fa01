// `redstream groups` and `redstream pending`: what kafka-consumer-groups --describe shows.

#include "cli_common.hpp"
#include "commands.hpp"

#include <redstream/group_sampler.hpp>
#include <redstream/stream_readers.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <csignal>

namespace redstream::cli {

namespace {

std::string lag_text(group_sample const& s) {
    if (s.lag_capped)
        return fmt::format(">={}", s.lag);
    return fmt::format("{}{}", s.lag, s.lag_counted ? "*" : "");
}

std::string sample_json(group_sample const& s) {
    std::string consumers;
    for (auto const& c : s.consumers) {
        if (!consumers.empty())
            consumers += ',';
        consumers += fmt::format("{{\"name\":{},\"pending\":{},\"idle_ms\":{},\"inactive_ms\":{}}}", json_string(c.name),
                                 c.pending, c.idle_ms, c.inactive_ms ? std::to_string(*c.inactive_ms) : "null");
    }
    return fmt::format("{{\"stream\":{},\"group\":{},\"consumers\":[{}],\"pending\":{},\"lag\":{},\"lag_counted\":{},"
                       "\"lag_capped\":{},\"age_lag_ms\":{},\"last_delivered_id\":\"{}\",\"entries_read\":{},"
                       "\"oldest_pending_id\":{},\"oldest_pending_age_ms\":{},\"length\":{}}}",
                       json_string(s.stream), json_string(s.group), consumers, s.pending, s.lag, s.lag_counted,
                       s.lag_capped, s.age_lag_ms, s.last_delivered_id.to_string(),
                       s.entries_read ? std::to_string(*s.entries_read) : "null",
                       s.oldest_pending_id ? json_string(s.oldest_pending_id->to_string()) : "null",
                       s.oldest_pending_age_ms, s.length);
}

std::string render_table(std::vector<group_sample> const& samples) {
    std::string out;
    if (samples.empty())
        return "no consumer groups\n";
    auto const& first = samples.front();
    out += fmt::format("stream {}: {} entries, last id {}\n\n", first.stream, first.length,
                       first.last_generated_id.to_string());
    out += fmt::format("{:<24} {:>9} {:>9} {:>10} {:>10} {:>22} {:>12}\n", "GROUP", "CONSUMERS", "PENDING", "LAG",
                       "AGE-LAG-MS", "LAST-DELIVERED", "ENTRIES-READ");
    for (auto const& s : samples)
        out += fmt::format("{:<24} {:>9} {:>9} {:>10} {:>10} {:>22} {:>12}\n", s.group, s.consumers.size(), s.pending,
                           lag_text(s), s.age_lag_ms, s.last_delivered_id.to_string(),
                           s.entries_read ? std::to_string(*s.entries_read) : "-");
    out += "\n";
    out += fmt::format("{:<24} {:<40} {:>9} {:>10} {:>12}\n", "GROUP", "CONSUMER", "PENDING", "IDLE-MS", "INACTIVE-MS");
    for (auto const& s : samples)
        for (auto const& c : s.consumers)
            out += fmt::format("{:<24} {:<40} {:>9} {:>10} {:>12}\n", s.group, c.name, c.pending, c.idle_ms,
                               c.inactive_ms ? std::to_string(*c.inactive_ms) : "-");
    bool const counted = std::any_of(samples.begin(), samples.end(), [](auto const& s) { return s.lag_counted; });
    if (counted)
        out += "\n* lag counted: Redis reports none for this group (created at an arbitrary id, or entries deleted)\n";
    return out;
}

asio::awaitable<std::vector<group_sample>> sample_groups(client& c, std::string const& stream,
                                                         std::optional<std::string> const& only) {
    co_await require_stream(c, stream);
    request r;
    r.push("XINFO", "GROUPS", stream);
    std::vector<group_info> groups;
    co_await c.connection().async_exec(r, adapt(groups), asio::use_awaitable);
    std::vector<group_sample> out;
    bool found = false;
    for (auto const& g : groups) {
        if (only && g.name != *only)
            continue;
        found = true;
        out.push_back(co_await sample_group(c, stream, g.name));
    }
    if (only && !found)
        throw cli_error(exit_missing, fmt::format("group '{}' does not exist on stream '{}'", *only, stream));
    co_return out;
}

volatile std::sig_atomic_t interrupted = 0;

} // namespace

int cmd_groups(args& a) {
    if (a.help()) {
        fmt::print("usage: redstream groups STREAM [GROUP] [--url URL] [--json] [--watch MS]\n"
                   "Per group: consumers, pending, lag (count and age), last-delivered id, entries-read;\n"
                   "per consumer: pending, idle, inactive. --watch redraws every MS milliseconds until Ctrl-C.\n");
        return exit_ok;
    }
    auto url = a.option_or("--url", "");
    bool const json = a.flag("--json");
    auto const watch = a.number_or("--watch", 0);
    auto pos = a.positionals();
    if (pos.empty() || pos.size() > 2)
        throw cli_error(exit_usage, "usage: redstream groups STREAM [GROUP] (see --help)");
    std::optional<std::string> group;
    if (pos.size() == 2)
        group = pos[1];
    session s{url};
    std::signal(SIGINT, [](int) { interrupted = 1; });
    s.run([&]() -> asio::awaitable<void> {
        asio::steady_timer t{s.io()};
        for (;;) {
            auto samples = co_await sample_groups(s.client(), pos[0], group);
            if (json) {
                std::string line = "[";
                for (std::size_t i = 0; i < samples.size(); ++i) {
                    if (i > 0)
                        line += ',';
                    line += sample_json(samples[i]);
                }
                fmt::print("{}]\n", line);
            } else {
                if (watch > 0)
                    fmt::print("\x1b[H\x1b[J"); // redraw in place
                fmt::print("{}", render_table(samples));
            }
            std::fflush(stdout);
            if (watch == 0 || interrupted)
                co_return;
            t.expires_after(std::chrono::milliseconds(watch));
            co_await t.async_wait(asio::use_awaitable);
            if (interrupted)
                co_return;
        }
    });
    return exit_ok;
}

int cmd_pending(args& a) {
    if (a.help()) {
        fmt::print("usage: redstream pending STREAM GROUP [--url URL] [--idle MS] [--consumer C] [--count N] [--json]\n"
                   "Pending entries, oldest first, with their consumer, idle time and delivery count.\n");
        return exit_ok;
    }
    auto url = a.option_or("--url", "");
    auto const idle = a.number_or("--idle", 0);
    auto consumer = a.option("--consumer");
    auto const count = a.number_or("--count", 100);
    bool const json = a.flag("--json");
    auto pos = a.positionals();
    if (pos.size() != 2)
        throw cli_error(exit_usage, "usage: redstream pending STREAM GROUP (see --help)");
    session s{url};
    s.run([&]() -> asio::awaitable<void> {
        co_await require_stream(s.client(), pos[0]);
        request r;
        if (consumer)
            r.push("XPENDING", pos[0], pos[1], "IDLE", idle, "-", "+", count, *consumer);
        else
            r.push("XPENDING", pos[0], pos[1], "IDLE", idle, "-", "+", count);
        std::vector<pending_entry> rows;
        co_await s.client().connection().async_exec(r, adapt(rows), asio::use_awaitable);
        if (!json)
            fmt::print("{:<22} {:<40} {:>10} {:>10}\n", "ID", "CONSUMER", "IDLE-MS", "DELIVERIES");
        for (auto const& p : rows) {
            if (json)
                fmt::print("{{\"id\":\"{}\",\"consumer\":{},\"idle_ms\":{},\"deliveries\":{}}}\n", p.id.to_string(),
                           json_string(p.consumer), p.idle_ms, p.deliveries);
            else
                fmt::print("{:<22} {:<40} {:>10} {:>10}\n", p.id.to_string(), p.consumer, p.idle_ms, p.deliveries);
        }
    });
    return exit_ok;
}

} // namespace redstream::cli
