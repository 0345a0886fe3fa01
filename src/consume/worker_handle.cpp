#include "consume/worker_impl.hpp"

#include "io/use_tuple.hpp"

#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <unordered_set>

namespace redstream::detail {

namespace {

// Reserves each idempotency key for `lease` ms unless it exists, and extends a reservation this
// owner holds already. Returns, per key, nil when reserved by us, else the current value
// ("done", or "processing:<other consumer>").
constexpr std::string_view reserve_script = R"lua(
local out = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  if v == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    out[i] = false
  elseif v then
    out[i] = v
  else
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
    out[i] = false
  end
end
return out
)lua";

// Releases a reservation we hold (the handler failed), so a redelivery can run.
constexpr std::string_view release_script = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
)lua";

// Moves an entry to the dead-letter stream and acknowledges it, acking only if the XADD
// succeeded (MULTI/EXEC would run the XACK after a failed XADD: a wrong-type dead-letter key
// or OOM would lose the message). An XADD error is returned as the script's error reply.
// KEYS: stream, dead-letter stream. ARGV: group, id, maxlen, then the fields to add.
constexpr std::string_view dead_letter_script = R"lua(
local added = redis.pcall('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', unpack(ARGV, 4))
if type(added) == 'table' and added.err then return added end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return added
)lua";

// Lua's C stack takes about 8,000 values: unpack() of more fails the script. The dead-letter
// script unpacks the entry's fields plus 14 of metadata.
constexpr std::size_t max_dead_letter_fields = 3900;

} // namespace

std::string worker_impl::idempotency_key(message const& m) const {
    auto const& o = opts_.idempotency;
    if (!o.key_field.empty())
        if (auto v = m.field(o.key_field))
            return fmt::format("{}{}", o.key_prefix, *v);
    return fmt::format("{}{}:{}", o.key_prefix, m.stream(), m.id().to_string());
}

asio::awaitable<std::vector<std::optional<std::string>>>
worker_impl::reserve_markers(std::vector<std::string> const& keys, std::string const& owner) {
    request r;
    r.push("EVAL", reserve_script, keys.size(), keys, "processing:" + owner, opts_.idempotency.lease);
    result<std::vector<std::optional<std::string>>> out;
    co_await conn_.async_exec(r, adapt(out), asio::use_awaitable);
    if (!out.has_value()) // keep the server's words: NOPERM on a key, OOM, a script error
        throw boost::system::system_error(out.error_code(), out.error().message);
    out->resize(keys.size());
    co_return std::move(*out);
}

void worker_impl::release_marker(std::string const& marker, std::string const& consumer) {
    if (marker.empty())
        return;
    auto req = std::make_shared<request>();
    req->push("EVAL", release_script, 1, marker, "processing:" + consumer);
    conn_.async_exec(*req, adapt_ignore(), [req](error_code, std::size_t) {});
}

asio::awaitable<void> worker_impl::handle_batch(consumer_state& c, read_reply& r) {
    for (auto const& batch : r.streams)
        co_await handle_entries(c, batch, {});
}

asio::awaitable<void> worker_impl::handle_entries(consumer_state& c, entry_batch const& batch,
                                                  delivery_plan const& given) {
    std::size_t const si = stream_index(batch.stream());
    delivery_plan plan = given.empty() ? delivery_plan(batch.size(), 1) : given; // read with ">": first delivery
    if (si == SIZE_MAX) {
        release(c.index, static_cast<std::size_t>(std::count_if(plan.begin(), plan.end(), [](auto d) { return d != 0; })));
        co_return;
    }
    batch_in_progress const busy{batches_handling_};
    bool const idempotent = opts_.idempotency.enabled;
    batch_markers markers{std::vector<std::optional<std::string>>(batch.size()), std::vector<std::string>(batch.size())};
    for (std::size_t i = 0; i < batch.size(); ++i) {
        if (plan[i] == 0)
            continue;
        auto const entry = batch[i];
        if (!co_await still_ours(si, entry.id())) {
            // Taken over by another process while it waited here (the keeper saw it go).
            ++stats_.skipped_duplicates;
            let_go(c.index, si, entry.id());
            continue;
        }
        if (entry.deleted()) {
            // A pending id whose entry was deleted or trimmed: nothing to handle, drop it.
            queue_ack({si, entry.id(), c.index, {}});
            continue;
        }
        // Reserved (or extended) for the entries still to come, so every message's lease
        // covers its own handling, not just the start of the batch.
        if (idempotent &&
            (markers.reserved_at == clock::time_point{} || clock::now() - markers.reserved_at > opts_.idempotency.lease / 2) &&
            !co_await reserve_rest(c, si, batch, plan, i, markers))
            co_return;
        if (idempotent && skip_by_marker(c, si, entry.id(), markers, i))
            continue;
        std::string marker = idempotent ? markers.keys[i] : std::string{}; // named: see handle_one
        co_await handle_one(c, batch, i, plan[i], std::move(marker));
    }
    // The last batch in hand is done and no read is travelling to carry the acks: nothing
    // would share the XACK, so waiting for the flush interval would only delay it (an ack
    // issued while idle reaches the server now). Otherwise the next read start takes them,
    // as does this consumer's own next read when it starts one at once (a blocking read after
    // a drained stream: the acks go in front of it, in one write), or the blocking read handed
    // to another consumer that has not sent it yet.
    if (batches_handling_ == 1 && reads_in_flight_ == 0 && !c.reads_after_batch && !block_handed_over_)
        flush_acks();
}

asio::awaitable<bool> worker_impl::reserve_rest(consumer_state& c, std::size_t si, entry_batch const& batch,
                                                delivery_plan const& plan, std::size_t from, batch_markers& m) {
    std::vector<std::string> wanted;
    std::vector<std::size_t> at;
    for (std::size_t j = from; j < batch.size(); ++j) {
        if (plan[j] == 0 || batch[j].deleted())
            continue;
        m.keys[j] = idempotency_key(message{batch, j, opts_.group, c.name, 1});
        wanted.push_back(m.keys[j]);
        at.push_back(j);
    }
    try {
        auto got = co_await reserve_markers(wanted, c.name);
        for (std::size_t k = 0; k < at.size(); ++k)
            m.reserved[at[k]] = std::move(got[k]);
        m.reserved_at = clock::now();
        co_return true;
    } catch (boost::system::system_error const& e) {
        // Cannot tell what was done: leave the rest pending, it is redelivered.
        client_.get_logger().log(log_level::warn,
                                 fmt::format("worker {}: idempotency check failed: {}", opts_.group, e.what()));
    }
    for (std::size_t j = from; j < batch.size(); ++j)
        if (plan[j] != 0)
            let_go(c.index, si, batch[j].id());
    co_return false;
}

bool worker_impl::skip_by_marker(consumer_state& c, std::size_t si, stream_id id, batch_markers const& m,
                                 std::size_t i) {
    auto const& prev = m.reserved[i];
    if ((prev && *prev == "done") || acks_.done_unconfirmed(m.keys[i])) {
        // Done already (possibly by us, with the "done" mark still in the ack batch).
        ++stats_.skipped_duplicates;
        queue_ack({si, id, c.index, {}});
        return true;
    }
    if (prev && *prev != "processing:" + c.name) {
        // Another consumer is handling it right now: leave it pending.
        ++stats_.skipped_duplicates;
        let_go(c.index, si, id);
        return true;
    }
    return false;
}

asio::awaitable<void> worker_impl::handle_one(consumer_state& c, entry_batch const& batch, std::size_t i,
                                              std::uint64_t deliveries, std::string marker) {
    message const m{batch, i, opts_.group, c.name, deliveries};
    std::size_t const si = stream_index(batch.stream());
    if (auto const early = before_handling(deliveries, opts_.max_deliveries)) {
        co_await carry_out(c, m, si, *early, std::move(marker));
        co_return;
    }
    // The handler is awaited here, not in a helper coroutine: one frame per message, not three.
    auto const started = clock::now();
    hand_info* const h = begin_handling(m, si);
    outcome out;
    try {
        out = co_await handler_(m);
    } catch (std::exception const& e) {
        out = retry(e.what());
    } catch (...) {
        // Not a std::exception (a thrown int, a foreign library's type): still only a failure.
        out = retry("the handler threw a non-standard exception");
    }
    end_handling(h, started);
    // Cancelled at the drain deadline: leave the message pending for others.
    if (auto cs = co_await asio::this_coro::cancellation_state; cs.cancelled() != asio::cancellation_type::none) {
        let_go(c.index, si, m.id());
        throw boost::system::system_error(asio::error::operation_aborted);
    }
    ++stats_.handled;
    if (out.what == outcome::kind::ack) { // the common case, without another coroutine
        queue_ack({si, m.id(), c.index, std::move(marker)}, h);
        co_return;
    }
    // Named, not a temporary inside co_await: GCC 12 may destroy such temporaries twice.
    verdict const v = after_handling(out, deliveries, opts_.max_deliveries);
    co_await carry_out(c, m, si, v, std::move(marker));
}

// While its handler runs, a message is not kept from looking idle: one whose handler is stuck is
// claimed by others after min_idle, as documented. Only its holder (this coroutine) erases the
// record, so the pointer outlives the handler.
hand_info* worker_impl::begin_handling(message const& m, std::size_t si) {
    auto const now_ms = std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch());
    if (auto const now_u = static_cast<std::uint64_t>(now_ms.count()); now_u >= m.id().ms)
        histograms_.end_to_end_seconds.observe(static_cast<double>(now_u - m.id().ms) / 1000.0);
    hand_info* const h = hand_.find(si, m.id());
    if (h)
        h->handling = true;
    return h;
}

void worker_impl::end_handling(hand_info* h, clock::time_point started) {
    histograms_.handler_seconds.observe(std::chrono::duration<double>(clock::now() - started).count());
    if (h)
        h->handling = false; // awaiting its ack (or let go)
}

asio::awaitable<void> worker_impl::carry_out(consumer_state& c, message const& m, std::size_t si, verdict const& v,
                                             std::string marker) {
    stats_.failed += v.failed;
    if (v.step == next_step::ack) {
        queue_ack({si, m.id(), c.index, std::move(marker)});
        co_return;
    }
    release_marker(marker, c.name);
    if (v.step == next_step::move_to_dead_letters) {
        co_await move_to_dead_letter_stream(m, c, v.reason);
        co_return;
    }
    client_.get_logger().log(log_level::debug, fmt::format("worker {}: {} {} attempt {} failed: {}", opts_.group,
                                                           m.stream(), m.id().to_string(), m.deliveries(), v.reason));
    if (v.step == next_step::redeliver_later) {
        // Counted only when scheduled: beyond max_in_flight waiting retries the message stays
        // pending and the claim loop redelivers it after min_idle (stats().claimed counts that).
        if (retrier_->schedule(si, m.id(), v.delay))
            ++stats_.retried;
    }
    let_go(c.index, si, m.id());
}

// Adds the entry to the dead-letter stream and acknowledges it in one script that acks only
// if the add succeeded: a crash between the two can neither lose it nor leave a copy behind
// still pending, and a refused add (wrong type, OOM, NOPERM) leaves it pending.
asio::awaitable<bool> worker_impl::move_to_dead_letter_stream(message const& m, consumer_state& c,
                                                             std::string const& reason) {
    std::size_t const si = stream_index(m.stream());
    auto& log = client_.get_logger();
    if (m.field_count() > max_dead_letter_fields) {
        log.log(log_level::error, fmt::format("worker {}: cannot dead-letter {} {}: {} fields, more than a script takes "
                                              "({}); it stays pending",
                                              opts_.group, m.stream(), m.id().to_string(), m.field_count(),
                                              max_dead_letter_fields));
        let_go(c.index, si, m.id());
        co_return false;
    }
    std::vector<std::pair<std::string_view, std::string_view>> fields;
    fields.reserve(m.field_count());
    for (std::size_t i = 0; i < m.field_count(); ++i) {
        auto f = m.field_at(i);
        fields.emplace_back(f.name, f.value);
    }
    auto const now_ms = std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch());
    request r;
    r.push("EVAL", dead_letter_script, 2, m.stream(), dlq_streams_[si], opts_.group, m.id(), opts_.dead_letter_maxlen,
           fields, "origin_stream", m.stream(), "origin_id", m.id(), "origin_group", opts_.group, "origin_consumer",
           m.consumer(), "deliveries", m.deliveries(), "last_error", reason, "dead_lettered_at_ms", now_ms);
    result<std::string> added;
    auto [ec, n] = co_await conn_.async_exec(r, adapt(added), use_tuple);
    let_go(c.index, si, m.id());
    if (ec || !added.has_value()) {
        log.log(log_level::error, fmt::format("worker {}: dead-lettering {} {} to {} failed ({}); it stays pending",
                                              opts_.group, m.stream(), m.id().to_string(), dlq_streams_[si],
                                              ec ? ec.message() : added.error().message));
        co_return false;
    }
    ++stats_.dead_lettered;
    log.log(log_level::warn, fmt::format("worker {}: {} {} moved to {} after {} deliveries: {}", opts_.group, m.stream(),
                                         m.id().to_string(), dlq_streams_[si], m.deliveries(), reason));
    co_return true;
}

} // namespace redstream::detail
