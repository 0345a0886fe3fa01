#include "mux/multiplexer.hpp"

#include <boost/asio/error.hpp>

#include <algorithm>

namespace redstream::detail {

namespace {

bool is_subscription_kind(std::string_view k) noexcept {
    return k == "subscribe" || k == "psubscribe" || k == "ssubscribe" || k == "unsubscribe" ||
           k == "punsubscribe" || k == "sunsubscribe";
}

} // namespace

multiplexer::multiplexer(resp::parser_limits limits, std::size_t max_write_batch)
    : parser_(limits), max_write_batch_(max_write_batch) {}

multiplexer::~multiplexer() = default;

void multiplexer::finish(exec_entry& e, error_code ec) {
    if (!e.abandoned_)
        e.complete(ec, e.replies_done_);
}

void multiplexer::add(std::unique_ptr<exec_entry> e) {
    if (e->priority_) {
        auto it = std::find_if(waiting_.begin(), waiting_.end(), [](auto const& w) { return !w->priority_; });
        waiting_.insert(it, std::move(e));
    } else {
        waiting_.push_back(std::move(e));
    }
}

std::size_t multiplexer::prepare_write(bool priority_only) {
    std::size_t moved = 0;
    while (!waiting_.empty()) {
        auto& e = waiting_.front();
        if (priority_only && !e->priority_)
            break;
        if (moved > 0 && write_buffer_.size() + e->req_->payload().size() > max_write_batch_)
            break;
        write_buffer_.append(e->req_->payload());
        e->req_ = nullptr; // the caller's request is no longer needed
        e->written_ = true;
        written_.push_back(std::move(e));
        waiting_.pop_front();
        ++moved;
    }
    return moved;
}

std::size_t multiplexer::consume(std::string_view in, error_code& ec) {
    std::size_t used = 0;
    for (;;) {
        resp::node n;
        std::size_t consumed = 0;
        auto st = parser_.next(in.substr(used), n, consumed, ec);
        used += consumed;
        if (st == resp::parser::status::need_more)
            return used;
        if (st == resp::parser::status::failed)
            return used;
        if (n.out_of_band) {
            collect_push(oob_push_, n);
            if (parser_.out_of_band_complete())
                finish_push(oob_push_);
            continue;
        }
        if (n.depth == 0) {
            start_reply(n, ec);
            if (ec)
                return used;
        }
        on_element(n);
        if (parser_.reply_complete()) {
            if (route_ == route::push)
                finish_push(push_);
            else
                finish_reply();
            route_ = route::none;
        }
    }
}

void multiplexer::start_reply(resp::node const& n, error_code& ec) {
    skip_reply_ = false;
    if (n.data_type == resp::type::push) {
        if (!pushes_allowed_) {
            ec = errc::unexpected_push;
            error_detail_ = "push '" + std::string{n.value.substr(0, 64)} + "'";
            return;
        }
        route_ = route::push;
        return;
    }
    if (written_.empty()) {
        ec = errc::unexpected_reply;
        error_detail_ = std::string{resp::to_string(n.data_type)} + " '" + std::string{n.value.substr(0, 64)} + "'";
        return;
    }
    route_ = written_.front()->is_subscription() ? route::subscription_error : route::reply;
}

void multiplexer::on_element(resp::node const& n) {
    switch (route_) {
    case route::push:
        collect_push(push_, n);
        return;
    case route::reply: {
        auto& e = *written_.front();
        if (skip_reply_)
            return;
        if (auto ec = feed_adapter(e, e.replies_done_, n)) {
            if (!e.ec_)
                e.ec_ = ec;
            skip_reply_ = true;
        }
        return;
    }
    case route::subscription_error: {
        // Under RESP3 a subscription command answers with pushes; a reply means it failed.
        // The error also goes to the adapter, so that a result<T> target keeps the server's text.
        auto& e = *written_.front();
        if (n.depth == 0) {
            if (resp::is_error(n.data_type)) {
                (void)feed_adapter(e, e.confirm_index_, n);
                if (!e.ec_)
                    e.ec_ = classify_server_error(n.value);
            } else if (!e.ec_) {
                e.ec_ = errc::unexpected_reply;
            }
        }
        return;
    }
    case route::none:
        return;
    }
}

// Adapters are user code, and reading into the caller's values allocates: either may throw.
// The element has been parsed already, so the reply FIFO is intact: only this request fails.
// Its adapter may be half-way through a value, so it sees nothing more; the rest of the
// request's replies are still parsed and dropped.
error_code multiplexer::feed_adapter(exec_entry& e, std::size_t index, resp::node const& n) {
    error_code ec;
    try {
        if (n.depth == 0 && resp::is_error(n.data_type))
            e.adapter_.note_error(n.value);
        e.adapter_.on_node(index, n, ec);
    } catch (...) {
        e.adapter_ = any_adapter{};
        e.ec_ = errc::adapter_failed; // over an earlier error: the targets cannot be trusted
        if (adapter_failure_sink_)
            adapter_failure_sink_(std::current_exception());
        return e.ec_;
    }
    return ec;
}

void multiplexer::finish_reply() {
    auto& e = *written_.front();
    if (route_ == route::subscription_error) {
        e.confirmations_[e.confirm_index_] = 0;
        confirm_subscription();
        return;
    }
    ++e.replies_done_;
    if (e.replies_done_ >= e.replies_expected_)
        pop_front_and_complete();
}

void multiplexer::confirm_subscription() {
    auto& e = *written_.front();
    while (e.confirm_index_ < e.confirmations_.size() && e.confirmations_[e.confirm_index_] == 0)
        ++e.confirm_index_;
    if (e.confirm_index_ == e.confirmations_.size())
        pop_front_and_complete();
}

void multiplexer::collect_push(push_message& p, resp::node const& n) {
    if (n.depth == 0) {
        p.kind.clear();
        p.args.clear();
        return;
    }
    if (resp::is_aggregate(n.data_type))
        return;
    if (p.kind.empty() && p.args.empty())
        p.kind.assign(n.value);
    else
        p.args.emplace_back(n.value);
}

void multiplexer::finish_push(push_message& push) {
    if (is_subscription_kind(push.kind) && !push.args.empty()) {
        auto const& name = push.args.front();
        if (push.kind == "subscribe")
            channels_.insert(name);
        else if (push.kind == "psubscribe")
            patterns_.insert(name);
        else if (push.kind == "unsubscribe")
            channels_.erase(name);
        else if (push.kind == "punsubscribe")
            patterns_.erase(name);
        if (!written_.empty() && written_.front()->is_subscription()) {
            auto& e = *written_.front();
            --e.confirmations_[e.confirm_index_];
            confirm_subscription();
        }
        return; // confirmations are bookkeeping, not events
    }
    if (push_sink_)
        push_sink_(std::move(push));
}

void multiplexer::pop_front_and_complete() {
    auto e = std::move(written_.front());
    written_.pop_front();
    finish(*e, e->ec_);
}

void multiplexer::cancel(exec_entry* e) {
    if (!e->written_) {
        auto it = std::find_if(waiting_.begin(), waiting_.end(), [e](auto const& w) { return w.get() == e; });
        if (it == waiting_.end())
            return;
        auto owned = std::move(*it);
        waiting_.erase(it);
        finish(*owned, boost::asio::error::operation_aborted);
        return;
    }
    if (e->abandoned_)
        return;
    // Its bytes are on the wire: the reply will come and must be consumed in order, but the
    // caller's adapter may be gone, so read into nothing from now on.
    e->adapter_ = any_adapter{};
    e->complete(boost::asio::error::operation_aborted, e->replies_done_);
    e->abandoned_ = true;
}

void multiplexer::on_disconnect(error_code ec, steady_time now) {
    parser_.reset();
    route_ = route::none;
    write_buffer_.clear();
    auto written = std::move(written_);
    written_.clear();
    for (auto& e : written)
        finish(*e, ec);
    std::deque<std::unique_ptr<exec_entry>> keep;
    auto waiting = std::move(waiting_);
    waiting_.clear();
    for (auto& e : waiting) {
        if (e->priority_ || e->wait_.count() <= 0) {
            finish(*e, ec);
        } else {
            if (e->deadline_ == steady_time::max())
                e->deadline_ = now + e->wait_;
            keep.push_back(std::move(e));
        }
    }
    waiting_ = std::move(keep);
}

steady_time multiplexer::expire_waiting(steady_time now, error_code ec) {
    steady_time next = steady_time::max();
    for (auto it = waiting_.begin(); it != waiting_.end();) {
        if ((*it)->deadline_ <= now) {
            auto owned = std::move(*it);
            it = waiting_.erase(it);
            finish(*owned, ec);
        } else {
            next = std::min(next, (*it)->deadline_);
            ++it;
        }
    }
    return next;
}

void multiplexer::fail_all(error_code ec) {
    on_disconnect(ec, steady_time::min());
    auto waiting = std::move(waiting_);
    waiting_.clear();
    for (auto& e : waiting)
        finish(*e, ec);
}

} // namespace redstream::detail
