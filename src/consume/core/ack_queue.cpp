#include "consume/core/ack_queue.hpp"

#include <redstream/protocol/error.hpp>

#include <algorithm>

namespace redstream::detail {

namespace {

bool ack_can_succeed_later(error_code const& ec) {
    return ec != server_errc::nogroup && ec != server_errc::wrongtype;
}

} // namespace

bool ack_queue::push(ack_record rec, clock::time_point now) {
    if (!rec.marker.empty())
        unflushed_done_.insert(rec.marker);
    if (queue_.empty())
        first_queued_ = now;
    queue_.push_back(std::move(rec));
    return queue_.size() >= limits_.ack_batch;
}

milliseconds ack_queue::timer_delay() const noexcept {
    return retry_backoff_.last().count() > 0 ? retry_backoff_.last() : limits_.flush_interval;
}

ack_flush ack_queue::take(std::size_t stream_count, clock::time_point now) {
    ack_flush f;
    if (!queue_.empty())
        f.oldest_wait = now - first_queued_;
    std::size_t const plain_chunk = std::max<std::size_t>(1, limits_.ack_batch);
    std::size_t const marked_chunk = std::min(plain_chunk, limits_.max_script_ids);
    f.records.reserve(queue_.size());
    for (std::size_t s = 0; s < stream_count; ++s) {
        for (bool marked : {false, true}) {
            std::size_t const begin = f.records.size();
            for (auto& r : queue_)
                if (r.stream == s && r.marker.empty() != marked)
                    f.records.push_back(std::move(r));
            std::size_t const chunk = marked ? marked_chunk : plain_chunk;
            for (std::size_t first = begin; first < f.records.size(); first += chunk)
                f.commands.push_back({s, first, std::min(chunk, f.records.size() - first), marked, false});
        }
    }
    queue_.clear();
    take_markers(f);
    in_flight_ += f.records.size();
    ++flushes_in_flight_;
    return f;
}

void ack_queue::take_markers(ack_flush& f) {
    if (markers_to_retry_.empty())
        return;
    auto const count = static_cast<std::ptrdiff_t>(std::min(markers_to_retry_.size(), limits_.max_script_ids));
    f.markers.assign(std::make_move_iterator(markers_to_retry_.begin()),
                     std::make_move_iterator(markers_to_retry_.begin() + count));
    markers_to_retry_.erase(markers_to_retry_.begin(), markers_to_retry_.begin() + count);
    f.commands.push_back({0, 0, 0, false, true});
}

ack_flush_report ack_queue::completed(ack_flush&& f, error_code transport,
                                      std::vector<result<std::int64_t>> const& replies, clock::time_point now) {
    in_flight_ -= std::min(in_flight_, f.records.size());
    --flushes_in_flight_;
    ack_flush_report out;
    if (transport == errc::closed) {
        for (auto& r : f.records)
            unflushed_done_.erase(r.marker);
        out.dropped = std::move(f.records);
        return out;
    }
    if (transport || replies.size() != f.commands.size()) {
        // Not known to have arrived: all of it again, ahead of newer acks.
        markers_to_retry_.insert(markers_to_retry_.end(), f.markers.begin(), f.markers.end());
        put_back(std::move(f.records), now);
        out.retry_later = true;
        return out;
    }
    std::vector<ack_record> again;
    bool refused = false;
    read_replies(f, replies, out, again, refused);
    if (!refused) {
        retry_backoff_.reset();
        failures_logged_ = 0;
    }
    if (!again.empty() || !markers_to_retry_.empty()) {
        put_back(std::move(again), now);
        out.retry_later = true;
    }
    return out;
}

void ack_queue::read_replies(ack_flush& f, std::vector<result<std::int64_t>> const& replies, ack_flush_report& out,
                             std::vector<ack_record>& again, bool& refused) {
    for (std::size_t k = 0; k < f.commands.size(); ++k) {
        auto const& cmd = f.commands[k];
        auto const& reply = replies[k];
        if (cmd.markers_only) {
            if (reply.has_value()) {
                for (auto const& m : f.markers)
                    unflushed_done_.erase(m);
            } else {
                markers_to_retry_.insert(markers_to_retry_.end(), f.markers.begin(), f.markers.end());
                refused = true;
            }
            continue;
        }
        auto const first = f.records.begin() + static_cast<std::ptrdiff_t>(cmd.first);
        auto const last = first + static_cast<std::ptrdiff_t>(cmd.count);
        bool const ok = reply.has_value();
        if (!ok && worth_logging())
            out.to_log.emplace_back(reply.error().message, cmd.count);
        if (ok || !ack_can_succeed_later(reply.error_code())) {
            auto& into = ok ? out.confirmed : out.dropped;
            into.reserve(into.size() + cmd.count);
            for (auto it = first; it != last; ++it) {
                if (cmd.marked)
                    unflushed_done_.erase(it->marker);
                into.push_back(std::move(*it));
            }
            continue;
        }
        refused = true;
        for (auto it = first; it != last; ++it) {
            if (cmd.marked && reply.error_code() == server_errc::oom) {
                markers_to_retry_.push_back(it->marker);
                it->marker.clear();
            }
            again.push_back(std::move(*it));
        }
    }
}

// Refused acks go back to the front and are retried with a backoff of 20 ms to 1 s.
void ack_queue::put_back(std::vector<ack_record>&& records, clock::time_point now) {
    if (queue_.empty())
        first_queued_ = now;
    queue_.insert(queue_.begin(), std::make_move_iterator(records.begin()), std::make_move_iterator(records.end()));
    retry_backoff_.next();
}

// Every failure is worth a line, but a server refusing acks for minutes must not flood the
// log: the first few, then one per 100.
bool ack_queue::worth_logging() {
    auto const n = failures_logged_++;
    return n < 3 || n % 100 == 0;
}

} // namespace redstream::detail
