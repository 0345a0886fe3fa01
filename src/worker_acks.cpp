#include "worker_impl.hpp"

#include <fmt/format.h>

namespace redstream::detail {

namespace {

// Marks each idempotency key done (with its TTL) and acknowledges the ids, atomically.
constexpr std::string_view ack_and_mark_script = R"lua(
local n = #KEYS - 1
for i = 1, n do
  redis.call('SET', KEYS[i + 1], 'done', 'PX', ARGV[2])
end
return redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 3, 2 + n))
)lua";

struct flush_op {
    std::vector<ack_record> records;
    request req;
    std::vector<result<std::int64_t>> replies;
};

} // namespace

void worker_impl::queue_ack(ack_record rec) {
    if (!rec.marker.empty())
        unflushed_done_.insert(rec.marker);
    if (ack_queue_.empty())
        first_ack_queued_ = clock::now();
    ack_queue_.push_back(std::move(rec));
    if (ack_queue_.size() >= opts_.ack_batch)
        flush_acks();
    else
        arm_ack_timer();
}

void worker_impl::arm_ack_timer() {
    if (ack_timer_armed_)
        return;
    ack_timer_armed_ = true;
    ack_timer_.expires_after(ack_retry_delay_.count() > 0 ? ack_retry_delay_ : opts_.ack_flush_interval);
    ack_timer_.async_wait([w = weak_from_this()](error_code ec) {
        auto self = w.lock();
        if (!self)
            return;
        self->ack_timer_armed_ = false;
        if (ec != asio::error::operation_aborted)
            self->flush_acks();
    });
}

// Sends every queued ack now: one XACK per stream (one script per stream for idempotency
// markers), pipelined behind whatever is in flight. Transport failures put the acks back and
// retry with backoff; XACK is idempotent, so a re-send after an unclear failure is harmless.
void worker_impl::flush_acks() {
    if (ack_queue_.empty())
        return;
    if (ack_timer_armed_) {
        ack_timer_.cancel();
        ack_timer_armed_ = false;
    }
    histograms_.ack_flush_delay_seconds.observe(std::chrono::duration<double>(clock::now() - first_ack_queued_).count());
    auto op = std::make_shared<flush_op>();
    op->records = std::move(ack_queue_);
    ack_queue_.clear();
    op->req.get_options().wait_for_connection = milliseconds{1000};

    std::vector<std::string_view> plain_ids_text;
    std::vector<std::vector<stream_id>> plain(streams_.size());
    std::vector<std::vector<std::pair<std::string_view, stream_id>>> marked(streams_.size());
    for (auto const& r : op->records) {
        if (r.marker.empty())
            plain[r.stream].push_back(r.id);
        else
            marked[r.stream].emplace_back(r.marker, r.id);
    }
    for (std::size_t s = 0; s < streams_.size(); ++s) {
        if (!plain[s].empty())
            op->req.push("XACK", streams_[s], opts_.group, plain[s]);
        if (!marked[s].empty()) {
            std::vector<std::string_view> keys;
            std::vector<stream_id> ids;
            for (auto const& [k, id] : marked[s]) {
                keys.push_back(k);
                ids.push_back(id);
            }
            op->req.push("EVAL", ack_and_mark_script, keys.size() + 1, streams_[s], keys, opts_.group,
                         opts_.idempotency.ttl, ids);
        }
    }
    acks_in_flight_ += op->records.size();
    ++ack_flushes_in_flight_;
    ++stats_.ack_batches;
    conn_.async_exec(op->req, adapt_each(op->replies), [w = weak_from_this(), op](error_code ec, std::size_t) {
        auto self = w.lock();
        if (!self)
            return;
        self->acks_in_flight_ -= op->records.size();
        --self->ack_flushes_in_flight_;
        if (ec && ec != errc::closed && is_fatal(ec)) {
            // Not known to have arrived: queue them again, ahead of newer ones.
            self->ack_queue_.insert(self->ack_queue_.begin(), std::make_move_iterator(op->records.begin()),
                                    std::make_move_iterator(op->records.end()));
            self->ack_retry_delay_ = std::clamp(self->ack_retry_delay_ * 2, milliseconds{20}, milliseconds{1000});
            self->arm_ack_timer();
            self->acks_signal_->notify_all();
            return;
        }
        self->ack_retry_delay_ = milliseconds{0};
        for (auto const& r : op->replies)
            if (!r.has_value())
                self->client_.get_logger().log(log_level::error, fmt::format("worker {}: XACK failed: {}",
                                                                            self->opts_.group, r.error().message));
        if (!ec)
            self->stats_.acked += op->records.size();
        for (auto const& r : op->records)
            if (!r.marker.empty())
                self->unflushed_done_.erase(r.marker);
        std::map<std::size_t, std::size_t> per_consumer;
        for (auto const& r : op->records)
            ++per_consumer[r.consumer];
        for (auto const& [c, n] : per_consumer)
            self->release(c, n);
        self->acks_signal_->notify_all();
    });
}

asio::awaitable<void> worker_impl::wait_acks_drained(milliseconds limit) {
    auto const end = clock::now() + limit;
    while ((!ack_queue_.empty() || acks_in_flight_ > 0) && clock::now() < end) {
        if (!ack_queue_.empty() && ack_flushes_in_flight_ == 0 && !ack_timer_armed_)
            flush_acks();
        co_await acks_signal_->wait(std::min(milliseconds{100},
                                             std::chrono::duration_cast<milliseconds>(end - clock::now()) + milliseconds{1}));
    }
}

} // namespace redstream::detail
