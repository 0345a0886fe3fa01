// `redstream groups` and `redstream pending`: what kafka-consumer-groups --describe shows.

#include "cli_common.hpp"
#include "commands.hpp"

#include <redstream/scaling/group_sampler.hpp>
#include <redstream/protocol/stream_readers.hpp>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <csignal>
#include <map>
#include <optional>
#include <cstdio>

namespace redstream::cli {

namespace {

using namespace asio::experimental::awaitable_operators;

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

// What `groups` shows, and how often (0: once).
struct groups_view {
    std::string stream;
    std::optional<std::string> group;
    bool json = false;
    std::uint64_t watch_ms = 0;
    partition_targets const* partitions = nullptr; // set: every partition key of `stream`
};

// Per group over every partition: the figures an operator adds up by hand otherwise.
std::string render_partition_totals(std::vector<group_sample> const& samples, std::size_t partitions) {
    struct total {
        std::uint64_t pending = 0, lag = 0;
        std::size_t consumers = 0;
    };
    std::map<std::string, total> by_group;
    for (auto const& s : samples) {
        auto& t = by_group[s.group];
        t.pending += s.pending;
        t.lag += s.lag;
        t.consumers += s.consumers.size();
    }
    std::string out = fmt::format("totals over {} partitions\n{:<24} {:>9} {:>9} {:>10}\n", partitions, "GROUP",
                                  "CONSUMERS", "PENDING", "LAG");
    for (auto const& [group, t] : by_group)
        out += fmt::format("{:<24} {:>9} {:>9} {:>10}\n", group, t.consumers, t.pending, t.lag);
    return out;
}

asio::awaitable<void> print_groups(client& c, groups_view const& v) {
    std::vector<group_sample> samples;
    std::vector<std::string> tables; // one per partition, for the table view
    if (v.partitions) {
        for (auto const& [key, on] : v.partitions->keys) {
            auto part = co_await sample_groups(*on, key, v.group);
            tables.push_back(render_table(part));
            samples.insert(samples.end(), part.begin(), part.end());
        }
    } else {
        samples = co_await sample_groups(c, v.stream, v.group);
    }
    if (v.json) {
        std::string line = "[";
        for (std::size_t i = 0; i < samples.size(); ++i) {
            if (i > 0)
                line += ',';
            line += sample_json(samples[i]);
        }
        fmt::print("{}]\n", line);
    } else {
        if (v.watch_ms > 0)
            fmt::print("\x1b[H\x1b[J"); // redraw in place
        if (v.partitions) {
            for (auto const& t : tables)
                fmt::print("{}\n", t);
            fmt::print("{}", render_partition_totals(samples, v.partitions->keys.size()));
        } else {
            fmt::print("{}", render_table(samples));
        }
    }
    std::fflush(stdout);
}

// Redraws every watch_ms; never returns (a signal ends it).
asio::awaitable<void> watch_groups(client& c, groups_view const& v) {
    auto const ex = co_await asio::this_coro::executor;
    asio::steady_timer t{ex};
    for (;;) {
        co_await print_groups(c, v);
        t.expires_after(std::chrono::milliseconds(v.watch_ms));
        co_await t.async_wait(asio::use_awaitable);
    }
}

} // namespace

int cmd_groups(args& a) {
    if (a.help()) {
        fmt::print("usage: redstream groups STREAM [GROUP] [--url URL] [--json] [--watch MS] [--partitions N]\n"
                   "Per group: consumers, pending, lag (count and age), last-delivered id, entries-read;\n"
                   "per consumer: pending, idle, inactive. --watch redraws every MS milliseconds until SIGINT\n"
                   "(exit code 130) or SIGTERM (0). --partitions N shows each partition key of STREAM (asked on\n"
                   "its master on a Redis Cluster) and the totals per group; --json lists every partition's\n"
                   "groups in one array.\n");
        return exit_ok;
    }
    auto url = a.option_or("--url", "");
    groups_view v;
    v.json = a.flag("--json");
    v.watch_ms = a.number_or("--watch", 0);
    auto const partitions = a.number_or("--partitions", 0);
    auto pos = a.positionals();
    if (pos.empty() || pos.size() > 2)
        throw cli_error(exit_usage, "usage: redstream groups STREAM [GROUP] (see --help)");
    v.stream = pos[0];
    if (pos.size() == 2)
        v.group = pos[1];
    session s{url};
    int code = exit_ok;
    s.run([&]() -> asio::awaitable<void> {
        partition_targets targets;
        if (partitions > 0) {
            targets = co_await partition_clients(s, v.stream, partitions);
            v.partitions = &targets;
        }
        if (v.watch_ms == 0) {
            co_await print_groups(s.client(), v);
            co_return;
        }
        // A signal ends the watch at once, whether it is waiting or sampling.
        asio::signal_set signals{s.io(), SIGINT, SIGTERM};
        auto const r = co_await (watch_groups(s.client(), v) || signals.async_wait(asio::use_awaitable));
        if (r.index() == 1)
            code = exit_code_after(std::get<1>(r));
    });
    return code;
}

namespace {

struct pending_query {
    std::uint64_t idle = 0;
    std::optional<std::string> consumer;
    std::uint64_t count = 100;
    bool json = false;
};

asio::awaitable<std::vector<pending_entry>> pending_of(client& c, std::string const& stream, std::string const& group,
                                                       pending_query const& q) {
    request r;
    if (q.consumer)
        r.push("XPENDING", stream, group, "IDLE", q.idle, "-", "+", q.count, *q.consumer);
    else
        r.push("XPENDING", stream, group, "IDLE", q.idle, "-", "+", q.count);
    std::vector<pending_entry> rows;
    co_await c.connection().async_exec(r, adapt(rows), asio::use_awaitable);
    co_return rows;
}

// One row; `stream` is printed only for partitions (the plain command keeps its columns and keys).
void print_pending(pending_entry const& p, pending_query const& q, std::string const* stream) {
    if (q.json) {
        auto const where = stream ? fmt::format("\"stream\":{},", json_string(*stream)) : std::string{};
        fmt::print("{{{}\"id\":\"{}\",\"consumer\":{},\"idle_ms\":{},\"deliveries\":{}}}\n", where, p.id.to_string(),
                   json_string(p.consumer), p.idle_ms, p.deliveries);
    } else if (stream) {
        fmt::print("{:<28} {:<22} {:<40} {:>10} {:>10}\n", *stream, p.id.to_string(), p.consumer, p.idle_ms,
                   p.deliveries);
    } else {
        fmt::print("{:<22} {:<40} {:>10} {:>10}\n", p.id.to_string(), p.consumer, p.idle_ms, p.deliveries);
    }
}

} // namespace

int cmd_pending(args& a) {
    if (a.help()) {
        fmt::print("usage: redstream pending STREAM GROUP [--url URL] [--idle MS] [--consumer C] [--count N] [--json]\n"
                   "                         [--partitions N]\n"
                   "Pending entries, oldest first, with their consumer, idle time and delivery count.\n"
                   "--partitions N lists each partition key of STREAM (asked on its master on a Redis Cluster; up\n"
                   "to --count each) with a STREAM column (\"stream\" in --json), then the total.\n");
        return exit_ok;
    }
    auto url = a.option_or("--url", "");
    pending_query q;
    q.idle = a.number_or("--idle", 0);
    q.consumer = a.option("--consumer");
    q.count = a.number_or("--count", 100);
    q.json = a.flag("--json");
    auto const partitions = a.number_or("--partitions", 0);
    auto pos = a.positionals();
    if (pos.size() != 2)
        throw cli_error(exit_usage, "usage: redstream pending STREAM GROUP (see --help)");
    session s{url};
    s.run([&]() -> asio::awaitable<void> {
        if (partitions == 0) {
            co_await require_stream(s.client(), pos[0]);
            auto const rows = co_await pending_of(s.client(), pos[0], pos[1], q);
            if (!q.json)
                fmt::print("{:<22} {:<40} {:>10} {:>10}\n", "ID", "CONSUMER", "IDLE-MS", "DELIVERIES");
            for (auto const& p : rows)
                print_pending(p, q, nullptr);
            co_return;
        }
        auto targets = co_await partition_clients(s, pos[0], partitions);
        if (!q.json)
            fmt::print("{:<28} {:<22} {:<40} {:>10} {:>10}\n", "STREAM", "ID", "CONSUMER", "IDLE-MS", "DELIVERIES");
        std::size_t total = 0, present = 0, with_group = 0;
        for (auto const& [key, on] : targets.keys) {
            bool const present_here = co_await stream_present(*on, key);
            if (!present_here)
                continue; // a partition nothing was written to yet
            ++present;
            std::vector<pending_entry> rows;
            try {
                rows = co_await pending_of(*on, key, pos[1], q);
            } catch (boost::system::system_error const& e) {
                if (e.code() != server_errc::nogroup)
                    throw;
                continue; // the group reads other partitions only (created on first read)
            }
            ++with_group;
            total += rows.size();
            for (auto const& p : rows)
                print_pending(p, q, &key);
        }
        if (with_group == 0)
            throw cli_error(exit_missing, fmt::format("group '{}' exists on no partition of '{}'", pos[1], pos[0]));
        if (!q.json)
            fmt::print("{} pending listed over {} partitions ({} present, {} with the group)\n", total,
                       targets.keys.size(), present, with_group);
    });
    return exit_ok;
}

} // namespace redstream::cli
