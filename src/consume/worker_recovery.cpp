#include "consume/worker_impl.hpp"

#include "io/use_tuple.hpp"

#include <fmt/format.h>

#include <map>

namespace redstream::detail {

// Reads and handles this consumer's own pending list (entries delivered before a crash, a
// restart or a lost connection). XPENDING and XREADGROUP ... <id> go in one request: XPENDING
// gives each entry's delivery count, which the read then increments. Acks not yet confirmed
// go first in the same write, and entries this process holds are skipped: neither is handed
// out twice.
asio::awaitable<read_failure> worker_impl::drain_own_pending(consumer_state& c) {
    for (std::size_t si = 0; si < streams_.size() && !c.stopping(); ++si) {
        std::optional<stream_id> after;
        bool more = true;
        while (more && !c.stopping())
            if (auto failure = co_await drain_pending_page(c, si, after, more))
                co_return failure;
    }
    co_return read_failure{};
}

// One page of the pending list after `after`; `more` is false once it came back empty.
asio::awaitable<read_failure> worker_impl::drain_pending_page(consumer_state& c, std::size_t si,
                                                              std::optional<stream_id>& after, bool& more) {
    flush_acks();
    request r;
    // fmt, not "(" + ...: GCC 12 at -O3 warns (-Wrestrict) on that concatenation here.
    std::string const start = after ? fmt::format("({}", after->to_string()) : std::string{"-"};
    std::string const from = after ? after->to_string() : std::string{"0"};
    std::size_t const count = flow_.read_size();
    r.push("XPENDING", streams_[si], opts_.group, start, "+", count, c.name);
    r.push("XREADGROUP", "GROUP", opts_.group, c.name, "COUNT", count, "STREAMS", streams_[si], from);
    result<std::vector<pending_entry>> rows;
    result<read_reply> entries;
    auto [ec, n] = co_await conn_.async_exec(r, adapt(rows, entries), use_tuple);
    if (ec)
        co_return read_failure{ec};
    if (!rows.has_value())
        co_return read_failure{rows.error_code(), rows.error().message};
    if (!entries.has_value())
        co_return read_failure{entries.error_code(), entries.error().message};
    std::size_t const got = entries->entry_count();
    more = got > 0;
    if (!more)
        co_return read_failure{};
    auto const& batch = entries->streams.front();
    after = batch[batch.size() - 1].id();
    touch_held(si, batch);
    stats_.messages_read += got;
    std::map<stream_id, std::uint64_t> counted;
    for (auto const& row : *rows)
        counted[row.id] = row.deliveries + 1;
    delivery_plan plan(batch.size(), 0);
    bool all_known = true;
    for (std::size_t i = 0; i < batch.size(); ++i) {
        auto it = counted.find(batch[i].id());
        all_known = all_known && it != counted.end();
        plan[i] = it == counted.end() ? 0 : it->second;
    }
    // Another client changed the list between the two commands: ask for exactly these.
    if (!all_known)
        plan = co_await exact_deliveries(si, c.name, batch);
    if (take_fresh(c, si, batch, plan) > 0)
        co_await handle_entries(c, batch, plan);
    co_return read_failure{};
}

asio::awaitable<delivery_plan> worker_impl::exact_deliveries(std::size_t stream, std::string const& consumer,
                                                             entry_batch const& batch) {
    request r;
    for (std::size_t i = 0; i < batch.size(); ++i)
        r.push("XPENDING", streams_[stream], opts_.group, batch[i].id(), batch[i].id(), 1, consumer);
    std::vector<result<std::vector<pending_entry>>> rows;
    auto [ec, n] = co_await conn_.async_exec(r, adapt_each(rows), use_tuple);
    delivery_plan plan(batch.size(), 0); // unknown: not handled now (it stays in our list)
    if (ec || rows.size() != batch.size())
        co_return plan;
    for (std::size_t i = 0; i < batch.size(); ++i)
        if (rows[i].has_value() && !rows[i]->empty() && rows[i]->front().id == batch[i].id())
            plan[i] = rows[i]->front().deliveries;
    co_return plan;
}

} // namespace redstream::detail
