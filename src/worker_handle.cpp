#include "worker_impl.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <map>

namespace redstream::detail {

namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

// Reserves each idempotency key for `lease` ms unless it exists. Returns, per key, nil when
// reserved by us, else the current value ("done", or "processing:<consumer>").
constexpr std::string_view reserve_script = R"lua(
local out = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  if v then
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

asio::awaitable<void> worker_impl::handle_batch(std::string const& consumer, std::size_t consumer_index,
                                                read_reply& r, std::map<stream_id, std::uint64_t> const* deliveries) {
    for (auto const& batch : r.streams)
        co_await handle_entries(consumer, consumer_index, batch, deliveries);
}

asio::awaitable<void> worker_impl::handle_entries(std::string const& consumer, std::size_t consumer_index,
                                                  entry_batch const& batch,
                                                  std::map<stream_id, std::uint64_t> const* deliveries) {
    std::size_t const si = stream_index(batch.stream());
    if (si == SIZE_MAX) {
        release(consumer_index, batch.size());
        co_return;
    }
    batch_in_progress const busy{batches_handling_};
    auto delivery_of = [&](stream_id id) -> std::uint64_t {
        if (!deliveries)
            return 1; // read with ">": first delivery
        auto it = deliveries->find(id);
        return it == deliveries->end() ? 1 : it->second;
    };

    std::vector<std::optional<std::string>> reserved;
    std::vector<std::string> keys;
    if (opts_.idempotency.enabled) {
        for (std::size_t i = 0; i < batch.size(); ++i)
            if (!batch[i].deleted())
                keys.push_back(idempotency_key(message{batch, i, opts_.group, consumer, 1}));
        if (!keys.empty()) {
            try {
                reserved = co_await reserve_markers(keys, consumer);
            } catch (boost::system::system_error const& e) {
                // Cannot tell what was done: leave the batch pending, it is redelivered.
                client_.get_logger().log(log_level::warn, fmt::format("worker {}: idempotency check failed: {}",
                                                                      opts_.group, e.what()));
                release(consumer_index, batch.size());
                co_return;
            }
        }
    }

    std::size_t k = 0;
    std::string const own_lease = "processing:" + consumer;
    for (std::size_t i = 0; i < batch.size(); ++i) {
        auto const entry = batch[i];
        if (entry.deleted()) {
            // A pending id whose entry was deleted or trimmed: nothing to handle, drop it.
            queue_ack({si, entry.id(), consumer_index, {}});
            continue;
        }
        std::string marker;
        if (opts_.idempotency.enabled) {
            auto const& prev = reserved[k];
            marker = keys[k];
            ++k;
            if ((prev && *prev == "done") || unflushed_done_.count(marker)) {
                // Done already (possibly by us, with the "done" mark still in the ack batch).
                ++stats_.skipped_duplicates;
                queue_ack({si, entry.id(), consumer_index, {}});
                continue;
            }
            if (prev && *prev != own_lease) {
                // Another consumer is handling it right now: leave it pending.
                ++stats_.skipped_duplicates;
                release(consumer_index, 1);
                continue;
            }
            // Reserved by us now, or a lease this consumer name left behind (a restart).
        }
        std::uint64_t const deliveries_now = delivery_of(entry.id());
        co_await handle_one(consumer, consumer_index, batch, i, deliveries_now, std::move(marker));
    }
    // The last batch in hand is done and no read is travelling to carry the acks: nothing
    // would share the XACK, so waiting for the flush interval would only delay it (an ack
    // issued while idle reaches the server now). Otherwise the next read start takes them.
    if (batches_handling_ == 1 && reads_in_flight_ == 0)
        flush_acks();
}

asio::awaitable<void> worker_impl::handle_one(std::string const& consumer, std::size_t consumer_index,
                                              entry_batch const& batch, std::size_t i, std::uint64_t deliveries,
                                              std::string marker) {
    message const m{batch, i, opts_.group, consumer, deliveries};
    std::size_t const si = stream_index(batch.stream());
    if (deliveries > opts_.max_deliveries) {
        release_marker(marker, consumer);
        // Named, not a temporary inside co_await: GCC 12 may destroy such temporaries twice.
        std::string const why = fmt::format("delivered {} times (max_deliveries {})", deliveries, opts_.max_deliveries);
        co_await dead_letter(m, consumer_index, why);
        co_return;
    }
    outcome out;
    auto const started = clock::now();
    auto const now_ms = std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch());
    if (auto const now_u = static_cast<std::uint64_t>(now_ms.count()); now_u >= m.id().ms)
        histograms_.end_to_end_seconds.observe(static_cast<double>(now_u - m.id().ms) / 1000.0);
    try {
        out = co_await handler_(m);
    } catch (std::exception const& e) {
        out = retry(e.what());
    }
    histograms_.handler_seconds.observe(std::chrono::duration<double>(clock::now() - started).count());
    // Cancelled at the drain deadline: leave the message pending for others.
    if (auto cs = co_await asio::this_coro::cancellation_state; cs.cancelled() != asio::cancellation_type::none) {
        release(consumer_index, 1);
        throw boost::system::system_error(asio::error::operation_aborted);
    }
    ++stats_.handled;
    if (out.what == outcome::kind::ack) {
        queue_ack({si, m.id(), consumer_index, std::move(marker)});
        co_return;
    }
    if (out.what == outcome::kind::dead_letter) {
        release_marker(marker, consumer);
        std::string const why = out.reason.empty() ? std::string{"handler asked to dead-letter"} : out.reason;
        co_await dead_letter(m, consumer_index, why);
        co_return;
    }
    ++stats_.failed;
    release_marker(marker, consumer);
    if (deliveries >= opts_.max_deliveries) {
        std::string const why = out.reason.empty() ? std::string{"handler failed"} : out.reason;
        co_await dead_letter(m, consumer_index, why);
        co_return;
    }
    client_.get_logger().log(log_level::debug, fmt::format("worker {}: {} {} attempt {} failed: {}", opts_.group,
                                                           m.stream(), m.id().to_string(), deliveries, out.reason));
    if (out.delay.count() > 0) {
        ++stats_.retried;
        schedule_retry(si, m.id(), deliveries, out.delay);
    }
    release(consumer_index, 1);
}

// Adds the entry to the dead-letter stream and acknowledges it in one MULTI/EXEC: a crash
// between the two can neither lose it nor leave a copy behind still pending.
asio::awaitable<bool> worker_impl::dead_letter(message const& m, std::size_t consumer_index, std::string const& reason) {
    std::size_t const si = stream_index(m.stream());
    std::vector<std::pair<std::string_view, std::string_view>> fields;
    fields.reserve(m.field_count());
    for (std::size_t i = 0; i < m.field_count(); ++i) {
        auto f = m.field_at(i);
        fields.emplace_back(f.name, f.value);
    }
    auto const now_ms = std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch());
    request r;
    r.push("MULTI");
    r.push("XADD", dlq_streams_[si], "MAXLEN", "~", opts_.dead_letter_maxlen, "*", fields, "origin_stream", m.stream(),
           "origin_id", m.id(), "origin_group", opts_.group, "origin_consumer", m.consumer(), "deliveries",
           m.deliveries(), "last_error", reason, "dead_lettered_at_ms", now_ms);
    r.push("XACK", m.stream(), opts_.group, m.id());
    r.push("EXEC");
    result<std::string> multi, q1, q2;
    result<std::vector<std::string>> exec;
    auto [ec, n] = co_await conn_.async_exec(r, adapt(multi, q1, q2, exec), tuple_awaitable);
    release(consumer_index, 1);
    if (ec || !exec.has_value() || exec->size() != 2) {
        client_.get_logger().log(log_level::error,
                                 fmt::format("worker {}: dead-lettering {} {} failed ({}); it stays pending", opts_.group,
                                             m.stream(), m.id().to_string(),
                                             ec ? ec.message() : (exec.has_value() ? "EXEC aborted" : exec.error().message)));
        co_return false;
    }
    ++stats_.dead_lettered;
    client_.get_logger().log(log_level::warn, fmt::format("worker {}: {} {} moved to {} after {} deliveries: {}",
                                                          opts_.group, m.stream(), m.id().to_string(),
                                                          dlq_streams_[si], m.deliveries(), reason));
    co_return true;
}

} // namespace redstream::detail
