// `redstream dlq` (list, replay, purge) and `redstream trim --safe`.

#include "cli_common.hpp"
#include "commands.hpp"

#include <redstream/cluster/partitions.hpp>
#include <redstream/ops/admin.hpp>
#include <redstream/protocol/stream_readers.hpp>

#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

namespace redstream::cli {

namespace {

// Moves up to ARGV[1] entries of the dead-letter stream KEYS[1] whose origin is KEYS[2] back
// to KEYS[2], without the metadata dead-lettering added, and deletes them from the dead-letter
// stream, atomically: an entry is never in both or in neither.
// The metadata is exactly the block the worker appends after the message's own fields, in this
// order (worker_impl::move_to_dead_letter_stream, which carries out the `dead_letter` outcome):
// only that trailing block is stripped, so a message's own field named like one (`last_error`,
// `deliveries`...) is kept. An entry that does not end with the block was not written by a worker:
// it is replayed as it is.
constexpr std::string_view replay_script = R"lua(
local meta = {'origin_stream', 'origin_id', 'origin_group', 'origin_consumer', 'deliveries', 'last_error',
              'dead_lettered_at_ms'}
-- How many items of f are the message's own, and the origin stream the block names (nil: no block).
local function own_fields(f)
  local n = #f - 2 * #meta
  if n < 0 then return #f, nil end
  for i, name in ipairs(meta) do
    if f[n + 2 * i - 1] ~= name then return #f, nil end
  end
  return n, f[n + 2]
end
local moved = 0
local entries = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', ARGV[1])
for _, e in ipairs(entries) do
  local n, origin = own_fields(e[2])
  if (origin or KEYS[2]) == KEYS[2] and n > 0 then
    redis.call('XADD', KEYS[2], '*', unpack(e[2], 1, n))
    redis.call('XDEL', KEYS[1], e[1])
    moved = moved + 1
  end
end
return moved
)lua";

} // namespace

namespace {

// One dead-letter stream: list, replay to its origin `stream`, or purge.
asio::awaitable<void> dlq_action(client& c, std::string const& action, std::string const& stream,
                                 std::string const& dead, std::uint64_t count) {
    auto& conn = c.connection();
    if (action == "list") {
        request r;
        r.push("XRANGE", dead, "-", "+", "COUNT", count);
        entry_batch entries;
        co_await conn.async_exec(r, adapt(entries), asio::use_awaitable);
        for (std::size_t i = 0; i < entries.size(); ++i)
            fmt::print("{}\n", entry_json(dead, entries[i]));
    } else if (action == "replay") {
        request r;
        r.push("EVAL", replay_script, 2, dead, stream, count);
        std::uint64_t moved = 0;
        co_await conn.async_exec(r, adapt(moved), asio::use_awaitable);
        fmt::print("replayed {} entries from {} to {}\n", moved, dead, stream);
    } else {
        request r;
        r.push("XLEN", dead);
        r.push("DEL", dead);
        std::uint64_t len = 0, deleted = 0;
        co_await conn.async_exec(r, adapt(len, deleted), asio::use_awaitable);
        fmt::print("purged {} entries from {}\n", len, dead);
    }
}

} // namespace

int cmd_dlq(args& a) {
    if (a.help()) {
        fmt::print("usage: redstream dlq STREAM list|replay|purge [--url URL] [--dlq NAME] [--count N] [--yes]\n"
                   "                         [--partitions N]\n"
                   "  list    prints dead-lettered entries as JSON lines (with their origin and last error)\n"
                   "  replay  moves up to --count entries back to STREAM (original fields only) and deletes them\n"
                   "          from the dead-letter stream, atomically, oldest first. Only the metadata block the\n"
                   "          worker appended is dropped: the message's own fields keep even names like last_error\n"
                   "  purge   deletes the dead-letter stream (needs --yes)\n"
                   "The dead-letter stream is STREAM:dlq unless --dlq says otherwise.\n"
                   "--partitions N acts on each partition's dead-letter stream, as partitioned_worker names them:\n"
                   "<partition key>:dlq, or with --dlq NAME the partition's key of NAME on a Redis Cluster (NAME\n"
                   "itself on one server); replay sends entries back to their own partition.\n");
        return exit_ok;
    }
    auto url = a.option_or("--url", "");
    auto dlq = a.option("--dlq");
    auto const count = a.number_or("--count", 1000);
    bool const yes = a.flag("--yes");
    auto const partitions = a.number_or("--partitions", 0);
    auto pos = a.positionals();
    if (pos.size() != 2 || (pos[1] != "list" && pos[1] != "replay" && pos[1] != "purge"))
        throw cli_error(exit_usage, "usage: redstream dlq STREAM list|replay|purge (see --help)");
    if (pos[1] == "purge" && !yes)
        throw cli_error(exit_usage, "purge deletes every dead-lettered entry: add --yes");
    std::string const stream = pos[0];
    session s{url};
    s.run([&]() -> asio::awaitable<void> {
        if (partitions == 0) {
            std::string const dead = dlq ? *dlq : stream + ":dlq";
            co_await require_stream(s.client(), dead);
            co_await dlq_action(s.client(), pos[1], stream, dead, count);
            co_return;
        }
        auto targets = co_await partition_clients(s, stream, partitions);
        std::size_t present = 0;
        for (std::size_t i = 0; i < targets.keys.size(); ++i) {
            auto const& [key, on] = targets.keys[i];
            std::string dead = key + ":dlq";
            if (dlq)
                dead = targets.cluster ? cluster::partition_key(*dlq, i, partitions) : *dlq;
            bool const present_here = co_await stream_present(*on, dead);
            if (!present_here)
                continue;
            ++present;
            co_await dlq_action(*on, pos[1], key, dead, count);
        }
        if (pos[1] != "list")
            fmt::print("{} of {} partitions had a dead-letter stream\n", present, partitions);
    });
    return exit_ok;
}

namespace {

void print_trim(std::string const& stream, trim_plan const& plan, bool dry) {
    for (auto const& [group, floor] : plan.group_floors)
        fmt::print("group {}: needs entries of {} from {}\n", group, stream, floor.to_string());
    if (!plan.min_id) {
        fmt::print("nothing to trim in {}: {}\n", stream,
                   plan.group_floors.empty() ? "the stream has no consumer group"
                                             : "no entry is acknowledged by every group");
        return;
    }
    if (dry)
        fmt::print("would trim {} (length {}) with MINID {}\n", stream, plan.length_before, plan.min_id->to_string());
    else
        fmt::print("trimmed {} entries from {} (MINID {}, length {} -> {})\n", plan.deleted, stream,
                   plan.min_id->to_string(), plan.length_before, plan.length_before - plan.deleted);
}

} // namespace

int cmd_trim(args& a) {
    if (a.help()) {
        fmt::print("usage: redstream trim STREAM --safe [--dry-run] [--approximate] [--url URL] [--partitions N]\n"
                   "Deletes only entries every consumer group has acknowledged: MINID is the minimum over all\n"
                   "groups of (oldest pending id, or last-delivered id + 1). --dry-run prints the plan only.\n"
                   "--partitions N trims each partition key of STREAM with its own MINID (on its master on a\n"
                   "Redis Cluster), then prints the total.\n");
        return exit_ok;
    }
    auto url = a.option_or("--url", "");
    bool const safe = a.flag("--safe");
    bool const dry = a.flag("--dry-run");
    bool const approximate = a.flag("--approximate");
    auto const partitions = a.number_or("--partitions", 0);
    auto pos = a.positionals();
    if (pos.size() != 1)
        throw cli_error(exit_usage, "usage: redstream trim STREAM --safe (see --help)");
    if (!safe)
        throw cli_error(exit_usage, "only --safe trimming is offered (it never deletes unacknowledged entries); "
                                    "use XTRIM directly for anything else");
    session s{url};
    s.run([&]() -> asio::awaitable<void> {
        if (partitions == 0) {
            co_await require_stream(s.client(), pos[0]);
            print_trim(pos[0], co_await safe_trim(s.client(), pos[0], dry, approximate), dry);
            co_return;
        }
        auto targets = co_await partition_clients(s, pos[0], partitions);
        std::uint64_t deleted = 0;
        std::size_t present = 0;
        for (auto const& [key, on] : targets.keys) {
            bool const present_here = co_await stream_present(*on, key);
            if (!present_here)
                continue;
            ++present;
            auto const plan = co_await safe_trim(*on, key, dry, approximate);
            deleted += plan.deleted;
            print_trim(key, plan, dry);
        }
        if (dry)
            fmt::print("planned {} partitions ({} present)\n", partitions, present);
        else
            fmt::print("trimmed {} entries over {} partitions ({} present)\n", deleted, partitions, present);
    });
    return exit_ok;
}

} // namespace redstream::cli
