#include <redstream/cluster/partitions.hpp>
#include <redstream/ops/admin.hpp>
#include <redstream/protocol/stream_readers.hpp>

#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <fmt/core.h>

namespace redstream {

namespace asio = boost::asio;

namespace {

template <class T>
asio::awaitable<result<T>> run_one(client& c, request const& r) {
    result<T> out;
    co_await c.connection().async_exec(r, adapt(out), asio::use_awaitable);
    co_return out;
}

// The partition's key exists (TYPE; a key of another type is left to safe_trim()'s error).
asio::awaitable<bool> key_exists(client& c, std::string const& key) {
    request r;
    r.push("EXISTS", key);
    auto const n = co_await run_one<std::int64_t>(c, r);
    co_return n.has_value() && *n == 1;
}

asio::awaitable<partition_trim> trim_one(client& c, std::string key, bool dry_run, bool approximate) {
    partition_trim t{std::move(key), false, {}};
    bool const exists = co_await key_exists(c, t.key);
    if (!exists)
        co_return t;
    t.present = true;
    t.plan = co_await safe_trim(c, t.key, dry_run, approximate);
    co_return t;
}

[[noreturn]] void fail(server_error const& e, std::string const& what) {
    throw boost::system::system_error(e.code, fmt::format("{}: {}", what, e.message));
}

} // namespace

asio::awaitable<bool> ensure_group(client& c, std::string_view stream, std::string_view group, std::string_view start_id,
                                   std::optional<std::uint64_t> entries_read) {
    request r;
    if (entries_read)
        r.push("XGROUP", "CREATE", stream, group, start_id, "MKSTREAM", "ENTRIESREAD", *entries_read);
    else
        r.push("XGROUP", "CREATE", stream, group, start_id, "MKSTREAM");
    auto out = co_await run_one<std::string>(c, r);
    if (out.has_value())
        co_return true;
    if (out.error_code() == server_errc::busygroup)
        co_return false;
    fail(out.error(), fmt::format("creating group '{}' on '{}'", group, stream));
}

asio::awaitable<bool> destroy_group(client& c, std::string_view stream, std::string_view group) {
    request r;
    r.push("XGROUP", "DESTROY", stream, group);
    auto out = co_await run_one<std::int64_t>(c, r);
    if (!out.has_value())
        fail(out.error(), fmt::format("destroying group '{}' on '{}'", group, stream));
    co_return *out == 1;
}

asio::awaitable<void> set_group_id(client& c, std::string_view stream, std::string_view group, std::string_view id) {
    request r;
    r.push("XGROUP", "SETID", stream, group, id);
    auto out = co_await run_one<std::string>(c, r);
    if (!out.has_value())
        fail(out.error(), fmt::format("XGROUP SETID '{}' on '{}'", group, stream));
}

asio::awaitable<std::int64_t> delete_consumer(client& c, std::string_view stream, std::string_view group,
                                              std::string_view consumer) {
    request r;
    r.push("XGROUP", "DELCONSUMER", stream, group, consumer);
    auto out = co_await run_one<std::int64_t>(c, r);
    if (!out.has_value())
        fail(out.error(), fmt::format("deleting consumer '{}' of '{}' on '{}'", consumer, group, stream));
    co_return *out;
}

asio::awaitable<trim_plan> safe_trim(client& c, std::string_view stream, bool dry_run, bool approximate) {
    trim_plan plan;
    request info;
    info.push("XINFO", "GROUPS", stream);
    info.push("XLEN", stream);
    result<std::vector<group_info>> groups;
    std::uint64_t length = 0;
    co_await c.connection().async_exec(info, adapt(groups, length), asio::use_awaitable);
    if (!groups.has_value())
        fail(groups.error(), fmt::format("reading groups of '{}'", stream));
    plan.length_before = length;
    if (groups->empty())
        co_return plan; // nobody has said what they still need: keep everything

    request pend;
    for (auto const& g : *groups)
        pend.push("XPENDING", stream, g.name);
    std::vector<result<pending_summary>> summaries;
    co_await c.connection().async_exec(pend, adapt_each(summaries), asio::use_awaitable);
    std::optional<stream_id> floor;
    for (std::size_t i = 0; i < groups->size(); ++i) {
        auto const& g = (*groups)[i];
        if (!summaries[i].has_value())
            fail(summaries[i].error(), fmt::format("XPENDING of group '{}'", g.name));
        // Oldest pending, else everything up to last-delivered is acknowledged.
        stream_id need = summaries[i]->smallest ? *summaries[i]->smallest : g.last_delivered_id.next();
        plan.group_floors.emplace_back(g.name, need);
        if (!floor || need < *floor)
            floor = need;
    }
    plan.min_id = floor;
    if (dry_run)
        co_return plan;
    request trim;
    if (approximate)
        trim.push("XTRIM", stream, "MINID", "~", *floor);
    else
        trim.push("XTRIM", stream, "MINID", *floor);
    auto out = co_await run_one<std::uint64_t>(c, trim);
    if (!out.has_value())
        fail(out.error(), fmt::format("trimming '{}'", stream));
    plan.deleted = *out;
    co_return plan;
}

asio::awaitable<std::vector<partition_trim>> safe_trim_partitions(client& c, std::string_view stream,
                                                                  std::size_t partitions, bool dry_run, bool approximate) {
    std::vector<partition_trim> out;
    for (auto& key : cluster::partition_keys(stream, partitions))
        out.push_back(co_await trim_one(c, std::move(key), dry_run, approximate));
    co_return out;
}

asio::awaitable<std::vector<partition_trim>> safe_trim_partitions(cluster_client& c, std::string_view stream,
                                                                  std::size_t partitions, bool dry_run, bool approximate) {
    std::vector<partition_trim> out;
    for (auto& key : cluster::partition_keys(stream, partitions)) {
        client* owner = co_await c.owner_of(key);
        out.push_back(co_await trim_one(*owner, std::move(key), dry_run, approximate));
    }
    co_return out;
}

} // namespace redstream
