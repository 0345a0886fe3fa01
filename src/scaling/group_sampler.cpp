#include <redstream/scaling/group_sampler.hpp>
#include <redstream/protocol/stream_readers.hpp>

#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <charconv>

namespace redstream {

namespace {

namespace asio = boost::asio;

// Counts entries after the group's cursor, up to a bound, without sending them back.
constexpr std::string_view count_after_script = R"lua(
return #redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])
)lua";

std::uint64_t to_ms(std::string const& seconds, std::string const& micros) {
    std::uint64_t s = 0, us = 0;
    std::from_chars(seconds.data(), seconds.data() + seconds.size(), s);
    std::from_chars(micros.data(), micros.data() + micros.size(), us);
    return s * 1000 + us / 1000;
}

std::uint64_t age(std::uint64_t now_ms, std::uint64_t then_ms) { return now_ms > then_ms ? now_ms - then_ms : 0; }

// "ERR no such key" is how XINFO says the stream does not exist.
bool is_missing_key(server_error const& e) { return e.message.find("no such key") != std::string::npos; }

[[noreturn]] void fail(server_error const& e, std::string_view what, std::string_view stream) {
    throw boost::system::system_error(e.code, fmt::format("{} on '{}': {}", what, stream, e.message));
}

// The stream's part of the sample. False when the stream does not exist.
bool fill_stream(group_sample& s, result<stream_info> const& info, std::string_view stream) {
    if (!info.has_value()) {
        if (is_missing_key(info.error()))
            return false;
        fail(info.error(), "XINFO STREAM", stream);
    }
    s.stream_exists = true;
    s.length = info->length;
    s.last_generated_id = info->last_generated_id;
    return true;
}

// The group's part of the sample, from its XINFO GROUPS row. False when the group does not exist.
bool fill_group(group_sample& s, result<std::vector<group_info>> const& groups, std::string_view stream,
                std::string_view group) {
    if (!groups.has_value())
        fail(groups.error(), "XINFO GROUPS", stream);
    group_info const* g = nullptr;
    for (auto const& candidate : *groups)
        if (candidate.name == group)
            g = &candidate;
    if (!g)
        return false;
    s.group_exists = true;
    s.last_delivered_id = g->last_delivered_id;
    s.entries_read = g->entries_read;
    s.reported_lag = g->lag;
    s.pending = g->pending;
    return true;
}

// Consumers and the oldest pending entry are best effort: an error reply leaves them out.
void fill_consumers(group_sample& s, result<std::vector<consumer_info>> const& consumers) {
    if (consumers.has_value())
        for (auto const& ci : *consumers)
            s.consumers.push_back({ci.name, ci.pending, ci.idle_ms, ci.inactive_ms});
}

void fill_oldest_pending(group_sample& s, result<std::vector<pending_entry>> const& oldest) {
    if (oldest.has_value() && !oldest->empty()) {
        auto const& p = oldest->front();
        s.oldest_pending_id = p.id;
        s.oldest_pending_age_ms = age(s.server_time_ms, p.id.ms);
        s.oldest_pending_idle_ms = p.idle_ms;
        s.oldest_pending_deliveries = p.deliveries;
    }
}

// Redis reported no lag: counts the entries after the group's cursor, up to `bound`, in a
// second round trip.
asio::awaitable<void> count_lag(client& c, group_sample& s, std::string_view stream, std::size_t bound) {
    request count;
    count.push("EVAL", count_after_script, 1, stream, s.last_delivered_id, bound);
    result<std::uint64_t> n;
    co_await c.connection().async_exec(count, adapt(n), asio::use_awaitable);
    if (!n.has_value())
        fail(n.error(), "counting the lag", stream);
    s.lag = *n;
    s.lag_counted = true;
    s.lag_capped = *n >= bound;
}

} // namespace

asio::awaitable<group_sample> sample_group(client& c, std::string_view stream, std::string_view group,
                                           sample_options opts) {
    group_sample s;
    s.stream = std::string{stream};
    s.group = std::string{group};

    request r;
    r.push("TIME");
    r.push("XINFO", "STREAM", stream);
    r.push("XINFO", "GROUPS", stream);
    r.push("XINFO", "CONSUMERS", stream, group);
    r.push("XPENDING", stream, group, "-", "+", 1);
    std::vector<std::string> time;
    result<stream_info> info;
    result<std::vector<group_info>> groups;
    result<std::vector<consumer_info>> consumers;
    result<std::vector<pending_entry>> oldest;
    co_await c.connection().async_exec(r, adapt(time, info, groups, consumers, oldest), asio::use_awaitable);
    if (time.size() == 2)
        s.server_time_ms = to_ms(time[0], time[1]);

    if (!fill_stream(s, info, stream) || !fill_group(s, groups, stream, group))
        co_return s;
    fill_consumers(s, consumers);
    fill_oldest_pending(s, oldest);

    if (s.reported_lag)
        s.lag = *s.reported_lag;
    else if (s.last_generated_id > s.last_delivered_id && opts.count_bound > 0)
        co_await count_lag(c, s, stream, opts.count_bound);
    if (s.lag > 0 || s.last_generated_id > s.last_delivered_id)
        s.age_lag_ms = age(s.last_generated_id.ms, s.last_delivered_id.ms);
    co_return s;
}

} // namespace redstream
