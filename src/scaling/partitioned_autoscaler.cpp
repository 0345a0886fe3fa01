#include <redstream/scaling/partitioned_autoscaler.hpp>

#include "io/use_tuple.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace redstream {

namespace asio = boost::asio;

namespace {

std::string streams_of(worker const& w) {
    auto const& o = w.options();
    std::vector<std::string> names;
    if (!o.stream.empty())
        names.push_back(o.stream);
    names.insert(names.end(), o.streams.begin(), o.streams.end());
    return fmt::format("{}", fmt::join(names, ","));
}

} // namespace

struct partitioned_autoscaler::state : std::enable_shared_from_this<partitioned_autoscaler::state> {
    // One worker's autoscaler; the worker is shared so that it outlives the autoscaler's run().
    struct entry {
        std::shared_ptr<worker> w;
        std::unique_ptr<autoscaler> a;
        std::shared_ptr<bool> done;
    };
    partitioned_worker* pw = nullptr;
    autoscaler_options opts;
    std::vector<entry> entries;
    std::uint64_t retired_decisions = 0;
    bool stopping = false;
    bool running = false;
    std::unique_ptr<asio::steady_timer> wake;

    void follow_workers() {
        auto const handles = pw->worker_handles();
        auto const live = [&](std::shared_ptr<worker> const& w) {
            return std::find(handles.begin(), handles.end(), w) != handles.end();
        };
        for (auto const& h : handles) {
            if (std::any_of(entries.begin(), entries.end(), [&](entry const& e) { return e.w == h; }))
                continue;
            entry e{h, std::make_unique<autoscaler>(h->get_client(), *h, opts), std::make_shared<bool>(false)};
            asio::co_spawn(h->get_client().get_executor(), e.a->run(),
                           [self = shared_from_this(), done = e.done](std::exception_ptr) {
                               *done = true;
                               if (self->wake)
                                   self->wake->cancel();
                           });
            entries.push_back(std::move(e));
        }
        for (auto& e : entries)
            if (!live(e.w))
                e.a->stop(); // its worker ended (moved, failed, stopped)
        std::erase_if(entries, [&](entry& e) {
            if (!*e.done || live(e.w))
                return false;
            retired_decisions += e.a->status().decisions;
            return true;
        });
    }

    void stop_all() {
        stopping = true;
        for (auto& e : entries)
            e.a->stop();
        if (wake)
            wake->cancel();
    }

    bool all_done() const {
        return std::all_of(entries.begin(), entries.end(), [](entry const& e) { return *e.done; });
    }

    asio::awaitable<void> sleep(std::chrono::milliseconds d) {
        wake->expires_after(d);
        co_await wake->async_wait(detail::use_tuple);
    }
};

partitioned_autoscaler::partitioned_autoscaler(partitioned_worker& w, autoscaler_options opts)
    : state_(std::make_shared<state>()) {
    if (w.assignment().mode == partition_assignment::owned)
        throw std::invalid_argument("redstream::partitioned_autoscaler: owned assignment reads each partition with one "
                                    "consumer (order); scale with more partitions and members instead");
    state_->pw = &w;
    state_->opts = std::move(opts);
}

partitioned_autoscaler::~partitioned_autoscaler() { stop(); }

asio::awaitable<void> partitioned_autoscaler::run() {
    auto s = state_;
    if (s->running)
        throw std::logic_error("redstream::partitioned_autoscaler: run() is already running");
    s->running = true;
    s->wake = std::make_unique<asio::steady_timer>(co_await asio::this_coro::executor);
    // New workers get their autoscaler within a quarter of the interval (a move is not missed).
    auto const tick = std::max(s->opts.interval / 4, std::chrono::milliseconds{10});
    while (!s->stopping) {
        s->follow_workers();
        co_await s->sleep(tick);
    }
    co_await asio::this_coro::reset_cancellation_state();
    s->stop_all();
    while (!s->all_done())
        co_await s->sleep(std::chrono::hours{24});
    for (auto const& e : s->entries)
        s->retired_decisions += e.a->status().decisions;
    s->entries.clear();
    s->running = false;
    s->stopping = false;
}

void partitioned_autoscaler::stop() { state_->stop_all(); }

partitioned_autoscaler_status partitioned_autoscaler::status() const {
    partitioned_autoscaler_status out;
    out.decisions = state_->retired_decisions;
    for (auto const& e : state_->entries) {
        auto const& st = e.a->status();
        out.consumers += st.consumers;
        out.desired += st.desired;
        out.lag += st.lag;
        out.decisions += st.decisions;
        out.workers.push_back({streams_of(*e.w), st});
    }
    return out;
}

std::vector<autoscaler*> partitioned_autoscaler::autoscalers() const {
    std::vector<autoscaler*> out;
    for (auto const& e : state_->entries)
        out.push_back(e.a.get());
    return out;
}

} // namespace redstream
