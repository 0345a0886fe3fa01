#include "consume/partition_leases.hpp"

#include "io/use_tuple.hpp"

#include <redstream/protocol/adapter.hpp>
#include <redstream/protocol/result.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <fmt/format.h>

#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <utility>

namespace redstream::detail {

namespace asio = boost::asio;

namespace {

// Server time, so members agree whatever their own clocks say.
constexpr char const* heartbeat_script = R"(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl * 2)
return redis.call('ZRANGE', KEYS[1], 0, -1)
)";

constexpr char const* hold_script = R"(
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
)";

constexpr char const* release_script = R"(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
)";

// Pages of 1,000, at most 10 per call so one call never holds the server long; the caller
// goes on from the cursor returned, in a later round.
constexpr char const* take_pending_script = R"(
local cursor = ARGV[3]
for i = 1, 10 do
  local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, cursor, 'COUNT', 1000, 'JUSTID')
  cursor = r[1]
  if cursor == '0-0' then
    return cursor
  end
end
return cursor
)";

std::string random_token() {
    std::random_device rd;
    std::uint64_t const v = (std::uint64_t{rd()} << 32) ^ rd();
    return fmt::format("{:016x}", v);
}

// One round of hold(): the per-master requests write here, even after the caller has gone.
struct hold_round {
    explicit hold_round(asio::any_io_executor ex, std::size_t keys) : all_back(std::move(ex)), held(keys) {
        all_back.expires_at(asio::steady_timer::time_point::max());
    }
    asio::steady_timer all_back;
    std::vector<std::optional<bool>> held;
    std::string error;
    std::size_t outstanding = 0;
};

} // namespace

partition_leases::partition_leases(connection* conn, cluster_connection* routed, std::string members_key,
                                   std::string member, std::chrono::milliseconds ttl)
    : conn_(conn), routed_(routed), members_key_(std::move(members_key)), member_(std::move(member)),
      holder_(member_ + "#" + random_token()), ttl_(ttl) {}

std::vector<std::vector<std::size_t>> partition_leases::by_master(std::vector<std::string> const& keys) const {
    if (!routed_) {
        std::vector<std::size_t> all(keys.size());
        std::iota(all.begin(), all.end(), std::size_t{0});
        return {std::move(all)};
    }
    std::map<std::size_t, std::vector<std::size_t>> groups; // master index (SIZE_MAX: unknown yet) → keys
    auto const& map = routed_->slots();
    for (std::size_t i = 0; i < keys.size(); ++i)
        groups[map.master_of_key(keys[i]).value_or(SIZE_MAX)].push_back(i);
    std::vector<std::vector<std::size_t>> out;
    for (auto& [master, members] : groups)
        out.push_back(std::move(members));
    return out;
}

asio::awaitable<boost::system::error_code> partition_leases::exec(request const& r, any_adapter a) {
    if (routed_) {
        auto [ec, n] = co_await routed_->async_exec(r, std::move(a), use_tuple);
        co_return ec;
    }
    auto [ec, n] = co_await conn_->async_exec(r, std::move(a), use_tuple);
    co_return ec;
}

asio::awaitable<std::optional<std::vector<std::string>>> partition_leases::heartbeat(std::string& error) {
    request r;
    r.push("EVAL", heartbeat_script, 1, members_key_, member_, ttl_.count());
    result<std::vector<std::string>> live;
    auto ec = co_await exec(r, adapt(live));
    if (ec) {
        error = ec.message();
        co_return std::nullopt;
    }
    if (!live.has_value()) {
        error = live.error().message;
        co_return std::nullopt;
    }
    co_return std::move(*live);
}

asio::awaitable<std::vector<std::optional<bool>>> partition_leases::hold(std::vector<std::string> const& lease_keys,
                                                                         std::string& error) {
    auto round = std::make_shared<hold_round>(co_await asio::this_coro::executor, lease_keys.size());
    auto const groups = by_master(lease_keys);
    for (auto const& group : groups) {
        if (group.empty())
            continue;
        auto r = std::make_shared<request>();
        for (auto i : group)
            r->push("EVAL", hold_script, 1, lease_keys[i], holder_, ttl_.count());
        ++round->outstanding;
        asio::co_spawn(
            round->all_back.get_executor(),
            [this, r, round, group]() -> asio::awaitable<void> {
                std::vector<result<std::int64_t>> replies;
                auto const ec = co_await exec(*r, adapt_each(replies));
                if (ec)
                    round->error = ec.message();
                for (std::size_t j = 0; !ec && j < replies.size() && j < group.size(); ++j) {
                    if (replies[j].has_value())
                        round->held[group[j]] = *replies[j] == 1;
                    else
                        round->error = replies[j].error().message;
                }
            },
            [round](std::exception_ptr) {
                if (--round->outstanding == 0)
                    round->all_back.cancel();
            });
    }
    if (round->outstanding > 0)
        co_await round->all_back.async_wait(use_tuple);
    error = round->error;
    co_return round->held;
}

asio::awaitable<void> partition_leases::release(std::vector<std::string> const& lease_keys) {
    if (lease_keys.empty())
        co_return;
    request r;
    for (auto const& k : lease_keys)
        r.push("EVAL", release_script, 1, k, holder_);
    // A release that fails leaves the lease to expire: the next owner waits out its TTL.
    co_await exec(r, adapt_ignore());
}

asio::awaitable<void> partition_leases::leave() {
    request r;
    r.push("ZREM", members_key_, member_);
    co_await exec(r, adapt_ignore());
}

asio::awaitable<std::optional<std::string>> partition_leases::take_pending(std::string const& stream,
                                                                           std::string const& group,
                                                                           std::string const& consumer,
                                                                           std::string& cursor) {
    request r;
    r.push("EVAL", take_pending_script, 1, stream, group, consumer, cursor.empty() ? std::string{"0-0"} : cursor);
    result<std::string> next;
    auto ec = co_await exec(r, adapt(next));
    if (ec)
        co_return ec.message();
    if (!next.has_value()) {
        // No group yet (a partition never read): nothing pending to take.
        if (next.error_code() != server_errc::nogroup)
            co_return next.error().message;
        cursor = "0-0";
        co_return std::nullopt;
    }
    cursor = std::move(*next);
    co_return std::nullopt;
}

} // namespace redstream::detail
