#include "mux/multiplexer.hpp"

#include <algorithm>

namespace redstream::detail {

namespace {

bool is_subscription_kind(std::string_view k) noexcept {
    return k == "subscribe" || k == "psubscribe" || k == "ssubscribe" || k == "unsubscribe" ||
           k == "punsubscribe" || k == "sunsubscribe";
}

} // namespace

// The one copy of the payload a request costs us (std::string sizes it exactly): after it the
// caller's request is free to go.
multiplexer::entry::entry(entry_id key, request const& req, any_adapter a, bool goes_first)
    : id(key), payload(req.payload()), adapter(std::move(a)), replies_expected(req.expected_replies()),
      confirmations(req.subscriptions()), wait(req.get_options().wait_for_connection), priority(goes_first) {}

multiplexer::multiplexer(resp::parser_limits limits, std::size_t max_write_batch)
    : parser_(limits), max_write_batch_(max_write_batch) {}

multiplexer::~multiplexer() = default;

void multiplexer::finish(entry const& e, error_code ec, action_list& out) {
    if (!e.abandoned) // its caller had its `cancelled` already
        out.emplace_back(completed{e.id, ec, e.replies_done});
}

entry_id multiplexer::add(request const& req, any_adapter adapter, bool priority) {
    auto const id = entry_id{next_id_++};
    auto at = waiting_.end();
    if (priority)
        at = std::find_if(waiting_.begin(), waiting_.end(), [](entry const& w) { return !w.priority; });
    waiting_.emplace(at, id, req, std::move(adapter), priority);
    return id;
}

std::size_t multiplexer::prepare_write(bool priority_only) {
    std::size_t moved = 0;
    while (!waiting_.empty()) {
        auto& e = waiting_.front();
        if (priority_only && !e.priority)
            break;
        // A tail left by a partial write counts too: the batch stays bounded.
        if ((moved > 0 || !write_buffer_.empty()) && write_buffer_.size() + e.payload.size() > max_write_batch_)
            break;
        write_buffer_.append(e.payload);
        // Free it now: a long pipeline in flight should not hold its bytes twice.
        e.payload = std::string{};
        written_.push_back(std::move(e));
        waiting_.pop_front();
        ++moved;
    }
    return moved;
}

inline void multiplexer::on_element(resp::node const& n, action_list& out) {
    switch (route_) {
    case route::push:
        collect_push(push_, n);
        return;
    case route::reply: {
        auto& e = written_.front();
        if (skip_reply_)
            return;
        if (auto ec = feed_adapter(e, e.replies_done, n, out)) {
            if (!e.ec)
                e.ec = ec;
            skip_reply_ = true;
        }
        return;
    }
    case route::subscription_error: {
        // Under RESP3 a subscription command answers with pushes; a reply means it failed.
        // The error also goes to the adapter, so that a result<T> target keeps the server's text.
        auto& e = written_.front();
        if (n.depth == 0) {
            if (resp::is_error(n.data_type)) {
                (void)feed_adapter(e, e.confirm_index, n, out);
                if (!e.ec)
                    e.ec = classify_server_error(n.value);
            } else if (!e.ec) {
                e.ec = errc::unexpected_reply;
            }
        }
        return;
    }
    case route::none:
        return;
    }
}

std::size_t multiplexer::consume(std::string_view in, error_code& ec, action_list& out) {
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
                finish_push(oob_push_, out);
            continue;
        }
        if (n.depth == 0) {
            start_reply(n, ec);
            if (ec)
                return used;
        }
        on_element(n, out);
        if (parser_.reply_complete()) {
            if (route_ == route::push)
                finish_push(push_, out);
            else
                finish_reply(out);
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
    route_ = written_.front().is_subscription() ? route::subscription_error : route::reply;
}

// Adapters are user code, and reading into the caller's values allocates: either may throw.
// The element has been parsed already, so the reply FIFO is intact: only this request fails.
// Its adapter may be half-way through a value, so it sees nothing more; the rest of the
// request's replies are still parsed and dropped.
error_code multiplexer::feed_adapter(entry& e, std::size_t index, resp::node const& n, action_list& out) {
    error_code ec;
    try {
        if (n.depth == 0 && resp::is_error(n.data_type))
            e.adapter.note_error(n.value);
        e.adapter.on_node(index, n, ec);
    } catch (...) {
        e.adapter = any_adapter{};
        e.ec = errc::adapter_failed; // over an earlier error: the targets cannot be trusted
        out.emplace_back(adapter_failed{e.id, std::current_exception()});
        return e.ec;
    }
    return ec;
}

void multiplexer::finish_reply(action_list& out) {
    auto& e = written_.front();
    if (route_ == route::subscription_error) {
        e.confirmations[e.confirm_index] = 0;
        confirm_subscription(out);
        return;
    }
    ++e.replies_done;
    if (e.replies_done >= e.replies_expected)
        pop_front_and_complete(out);
}

void multiplexer::confirm_subscription(action_list& out) {
    auto& e = written_.front();
    while (e.confirm_index < e.confirmations.size() && e.confirmations[e.confirm_index] == 0)
        ++e.confirm_index;
    if (e.confirm_index == e.confirmations.size())
        pop_front_and_complete(out);
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

void multiplexer::finish_push(push_message& push, action_list& out) {
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
        if (!written_.empty() && written_.front().is_subscription()) {
            auto& e = written_.front();
            --e.confirmations[e.confirm_index];
            confirm_subscription(out);
        }
        return; // confirmations are bookkeeping, not events
    }
    out.emplace_back(pushed{std::move(push)});
}

void multiplexer::pop_front_and_complete(action_list& out) {
    auto const& e = written_.front();
    finish(e, e.ec, out);
    written_.pop_front();
}

void multiplexer::cancel(entry_id id, cancel_mode mode, action_list& out) {
    auto const is_it = [id](entry const& e) { return e.id == id; };
    if (auto it = std::find_if(waiting_.begin(), waiting_.end(), is_it); it != waiting_.end()) {
        out.emplace_back(cancelled{id, it->replies_done});
        waiting_.erase(it); // never hit the wire: nothing to keep in step
        return;
    }
    auto it = std::find_if(written_.begin(), written_.end(), is_it);
    if (it == written_.end() || it->abandoned || mode == cancel_mode::waiting_only)
        return;
    // Its bytes are on the wire: the reply will come and must be consumed in order, but the
    // caller's adapter may be gone, so read into nothing from now on.
    it->adapter = any_adapter{};
    it->abandoned = true;
    out.emplace_back(cancelled{id, it->replies_done});
}

void multiplexer::on_disconnect(error_code ec, steady_time now, action_list& out) {
    parser_.reset();
    route_ = route::none;
    write_buffer_.clear();
    for (auto const& e : written_)
        finish(e, ec, out);
    written_.clear();
    std::deque<entry> keep;
    for (auto& e : waiting_) {
        if (e.priority || e.wait.count() <= 0) {
            finish(e, ec, out);
            continue;
        }
        if (e.deadline == steady_time::max())
            e.deadline = now + e.wait;
        keep.push_back(std::move(e));
    }
    waiting_ = std::move(keep);
}

steady_time multiplexer::expire_waiting(steady_time now, error_code ec, action_list& out) {
    steady_time next = steady_time::max();
    for (auto it = waiting_.begin(); it != waiting_.end();) {
        if (it->deadline <= now) {
            finish(*it, ec, out);
            it = waiting_.erase(it);
        } else {
            next = std::min(next, it->deadline);
            ++it;
        }
    }
    return next;
}

void multiplexer::fail_all(error_code ec, action_list& out) {
    on_disconnect(ec, steady_time::min(), out);
    for (auto const& e : waiting_)
        finish(e, ec, out);
    waiting_.clear();
}

} // namespace redstream::detail
