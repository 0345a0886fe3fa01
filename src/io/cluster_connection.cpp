#include <redstream/cluster/command_keys.hpp>
#include <redstream/cluster/redirect.hpp>
#include <redstream/cluster/reply_tape.hpp>
#include <redstream/io/cluster_connection.hpp>
#include <redstream/io/connection.hpp>

#include "io/use_tuple.hpp"

#include <boost/asio/append.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace redstream::detail {

namespace asio = boost::asio;

namespace {

// One command, or one MULTI … EXEC block: sent, redirected and resent together.
struct routing_unit {
    std::size_t first = 0; // its commands in the request: [first, first + count)
    std::size_t count = 1;
    std::optional<std::string_view> key;
    std::optional<cluster::node_address> ask; // send there, after ASKING, on the next attempt
};

// split_commands() found the transactions: each is one unit.
std::vector<routing_unit> units_of(std::vector<cluster::routed_command> const& cmds) {
    std::vector<routing_unit> units;
    for (std::size_t i = 0; i < cmds.size(); i += cmds[i].block)
        units.push_back(routing_unit{i, cmds[i].block, cmds[i].key, std::nullopt});
    return units;
}

// A reply made up here: the error a command gets when its slot has no master.
cluster::recorded_reply error_reply(std::string text) {
    cluster::recorded_reply r;
    r.elements.push_back({resp::type::simple_error, 0, 0, std::move(text), false});
    return r;
}

bool is_transient(std::string_view error) {
    return error.starts_with("TRYAGAIN") || error.starts_with("CLUSTERDOWN") || error.starts_with("LOADING");
}

constexpr int max_attempts = 8;

} // namespace

class cluster_connection_impl : public std::enable_shared_from_this<cluster_connection_impl> {
public:
    cluster_connection_impl(asio::any_io_executor ex, config seed, logger log, cluster_connection::node_source nodes)
        : ex_(std::move(ex)), seed_(std::move(seed)), log_(std::move(log)), source_(std::move(nodes)),
          refreshed_(ex_, asio::steady_timer::time_point::max()), rng_(std::random_device{}()) {}

    ~cluster_connection_impl() { close(); }

    asio::awaitable<std::pair<error_code, std::size_t>> exec(std::shared_ptr<request const> req, any_adapter adapter);

    void close() {
        closed_ = true;
        for (auto& [address, c] : owned_)
            c->close();
        if (source_)
            conns_.clear(); // the source's connections may go before we do
        refreshed_.cancel();
    }

    asio::awaitable<error_code> refresh();

    cluster::slot_map const& slots() const noexcept { return map_; }
    cluster_stats stats() const {
        auto s = stats_;
        s.nodes = conns_.size();
        for (auto const& [address, c] : conns_)
            s.node_states.push_back({address, c->state(), c->stats().connects});
        return s;
    }
    asio::any_io_executor const& executor() const noexcept { return ex_; }

private:
    // One sub-request: the units going to one node, and what came back.
    struct node_batch {
        cluster::node_address node;
        std::vector<std::size_t> units;
        request req;
        cluster::reply_tape tape;
        error_code ec;
    };

    void refresh_in_background();
    void refresh_if_old();
    connection* node(cluster::node_address const& n); // nullptr once closed
    std::optional<cluster::node_address> target_of(routing_unit const& u) const;
    asio::awaitable<error_code> send_all(std::map<std::string, node_batch>& batches);
    milliseconds backoff(int attempt);

    asio::any_io_executor ex_;
    config seed_;
    logger log_;
    cluster::slot_map map_;
    cluster_connection::node_source source_;                    // empty: connections of our own
    std::map<std::string, std::unique_ptr<connection>> owned_;  // ours, by "host:port"
    std::map<std::string, connection*> conns_;                  // every node's, by "host:port"
    std::chrono::steady_clock::time_point refreshed_at_{}; // the last refresh attempt began
    cluster_stats stats_;
    bool closed_ = false;
    bool refreshing_ = false;
    bool background_refresh_ = false; // refresh_in_background()'s coroutine is scheduled or running
    bool refresh_again_ = false;     // a MOVED came while a refresh ran: one more after it
    error_code last_refresh_;
    asio::steady_timer refreshed_;   // never expires: cancelled when a refresh ends
    std::minstd_rand rng_;
};

connection* cluster_connection_impl::node(cluster::node_address const& n) {
    if (closed_)
        return nullptr;
    auto const address = cluster::to_string(n);
    auto it = conns_.find(address);
    if (it != conns_.end())
        return it->second;
    if (source_) {
        auto* c = source_(n);
        if (c)
            conns_.emplace(address, c);
        return c;
    }
    config cfg = seed_;
    cfg.host = n.host;
    cfg.port = n.port;
    auto c = std::make_unique<connection>(ex_, std::move(cfg), log_);
    c->async_run([](error_code) {});
    auto* made = owned_.emplace(address, std::move(c)).first->second.get();
    conns_.emplace(address, made);
    return made;
}

std::optional<cluster::node_address> cluster_connection_impl::target_of(routing_unit const& u) const {
    if (u.ask)
        return u.ask;
    if (!u.key)
        return map_.masters().empty() ? std::nullopt : std::optional{map_.masters().front()};
    auto const index = map_.master_of_key(*u.key);
    if (!index)
        return std::nullopt;
    return map_.masters()[*index];
}

// CLUSTER SLOTS from the first node that answers: the known masters, then the seeds. One at a
// time: callers that come while one runs wait for it and share its outcome.
asio::awaitable<error_code> cluster_connection_impl::refresh() {
    auto self = shared_from_this();
    if (refreshing_) {
        co_await refreshed_.async_wait(use_tuple);
        co_return closed_ ? make_error_code(errc::closed) : last_refresh_;
    }
    refreshing_ = true;
    refreshed_at_ = std::chrono::steady_clock::now(); // per attempt: a failing sweep is not redone per request
    std::vector<cluster::node_address> candidates = map_.masters();
    candidates.push_back({seed_.host, seed_.port, {}});
    for (auto const& extra : seed_.extra_seeds)
        candidates.push_back({extra.host, extra.port, {}});
    error_code ec = make_error_code(errc::not_connected);
    for (auto const& n : candidates) {
        if (closed_)
            break;
        auto* c = node(n);
        if (!c)
            break;
        request r;
        r.push("CLUSTER", "SLOTS");
        cluster::cluster_slots reply;
        auto [rec, replies] = co_await c->async_exec(r, adapt(reply), use_tuple);
        ec = rec;
        if (!ec && reply.ranges.empty())
            ec = make_error_code(server_errc::clusterdown);
        if (!ec) {
            map_ = cluster::slot_map::from_reply(reply, n.host);
            ++stats_.refreshes;
            break;
        }
        log_.log(log_level::warn, fmt::format("cluster: CLUSTER SLOTS from {} failed: {}", cluster::to_string(n), ec.message()));
    }
    last_refresh_ = closed_ ? make_error_code(errc::closed) : ec;
    refreshing_ = false;
    refreshed_.cancel(); // wakes the waiters
    co_return last_refresh_;
}

// After MOVED: the redirect is applied already; the full map follows in the background, one
// refresh for a burst of redirects.
// A burst of MOVED in one request's replies asks once; bursts from other requests while a
// refresh runs fold into one more after it (its map may predate their moves).
void cluster_connection_impl::refresh_in_background() {
    if (background_refresh_) {
        refresh_again_ = true;
        return;
    }
    background_refresh_ = true;
    asio::co_spawn(
        ex_,
        [self = shared_from_this()]() -> asio::awaitable<void> {
            do {
                self->refresh_again_ = false;
                co_await self->refresh();
            } while (self->refresh_again_ && !self->closed_);
            self->background_refresh_ = false;
        },
        asio::detached);
}

// The periodic refresh rides on traffic: an idle connection reads nothing, a busy one at most
// once per interval (slots that moved without anyone being redirected yet, new masters).
void cluster_connection_impl::refresh_if_old() {
    auto const interval = seed_.cluster_refresh_interval;
    if (interval.count() > 0 && !refreshing_ && std::chrono::steady_clock::now() - refreshed_at_ >= interval)
        refresh_in_background();
}

milliseconds cluster_connection_impl::backoff(int attempt) {
    auto const ceiling = std::min<std::int64_t>(1000, std::int64_t{10} << std::min(attempt, 7));
    std::uniform_int_distribution<std::int64_t> jitter(ceiling / 2, ceiling);
    return milliseconds{jitter(rng_)};
}

// Sends every batch at once and waits for all of them.
asio::awaitable<error_code> cluster_connection_impl::send_all(std::map<std::string, node_batch>& batches) {
    std::size_t outstanding = batches.size();
    asio::steady_timer all_done{ex_, asio::steady_timer::time_point::max()};
    for (auto& [address, b] : batches) {
        auto* c = node(b.node);
        if (!c) {
            b.ec = make_error_code(errc::closed);
            --outstanding;
            continue;
        }
        c->async_exec(b.req, b.tape.adapter(), [&b, &outstanding, &all_done](error_code ec, std::size_t) {
            b.ec = ec;
            if (--outstanding == 0)
                all_done.cancel();
        });
    }
    while (outstanding > 0)
        co_await all_done.async_wait(use_tuple);
    for (auto& [address, b] : batches)
        if (b.ec)
            co_return b.ec;
    co_return error_code{};
}

asio::awaitable<std::pair<error_code, std::size_t>> cluster_connection_impl::exec(std::shared_ptr<request const> req,
                                                                                   any_adapter adapter) {
    auto self = shared_from_this();
    if (closed_)
        co_return std::pair{make_error_code(errc::closed), std::size_t{0}};
    auto const split = cluster::split_commands(req->payload());
    if (!split)
        co_return std::pair{make_error_code(errc::internal_error), std::size_t{0}};
    if (split->empty())
        co_return std::pair{error_code{}, std::size_t{0}};
    if (map_.masters().empty()) {
        if (auto ec = co_await refresh())
            co_return std::pair{ec, std::size_t{0}};
    } else {
        refresh_if_old();
    }

    auto units = units_of(*split);
    std::vector<cluster::recorded_reply> replies(split->size());
    std::vector<std::size_t> todo(units.size());
    for (std::size_t u = 0; u < units.size(); ++u)
        todo[u] = u;
    for (int attempt = 0; !todo.empty(); ++attempt) {
        std::map<std::string, node_batch> batches;
        std::vector<std::size_t> next;
        bool wait_first = false;
        bool moved_now = false; // this attempt's replies held MOVED: one refresh for all of them
        for (auto u : todo) {
            auto const target = target_of(units[u]);
            if (!target) { // no master serves the slot (yet): like CLUSTERDOWN
                for (std::size_t k = 0; k < units[u].count; ++k)
                    replies[units[u].first + k] = error_reply("CLUSTERDOWN Hash slot not served");
                next.push_back(u);
                wait_first = true;
                continue;
            }
            auto& b = batches[cluster::to_string(*target)];
            b.node = *target;
            b.req.get_options() = req->get_options();
            b.units.push_back(u);
            if (units[u].ask)
                b.req.push("ASKING");
            for (std::size_t k = 0; k < units[u].count; ++k) {
                auto const& args = (*split)[units[u].first + k].args;
                b.req.push(args[0], std::vector<std::string_view>(args.begin() + 1, args.end()));
            }
        }
        if (!batches.empty()) {
            if (auto ec = co_await send_all(batches)) {
                // A master that failed over or went away sends no MOVED: read the map again.
                if (!closed_)
                    refresh_in_background();
                co_return std::pair{ec, std::size_t{0}};
            }
            if (closed_)
                co_return std::pair{make_error_code(errc::closed), std::size_t{0}};
        }
        for (auto& [address, b] : batches) {
            std::size_t at = 0;
            for (auto u : b.units) {
                auto& unit = units[u];
                at += unit.ask ? 1 : 0; // ASKING's own reply
                unit.ask.reset();
                std::optional<cluster::redirect> redirect;
                bool transient = false;
                for (std::size_t k = 0; k < unit.count; ++k, ++at) {
                    auto& r = replies[unit.first + k];
                    r = at < b.tape.replies.size() ? std::move(b.tape.replies[at]) : error_reply("ERR no reply");
                    auto const text = r.error_text();
                    if (!redirect)
                        redirect = cluster::parse_redirect(text);
                    transient = transient || is_transient(text);
                }
                if (attempt + 1 >= max_attempts)
                    continue; // out of tries: the last replies stand
                if (redirect) {
                    cluster::node_address to{redirect->host.empty() ? b.node.host : redirect->host, redirect->port, {}};
                    if (redirect->type == cluster::redirect::kind::moved) {
                        map_.assign(redirect->slot, to);
                        ++stats_.moved;
                        moved_now = true;
                    } else {
                        unit.ask = to;
                        ++stats_.ask;
                    }
                    next.push_back(u);
                } else if (transient) {
                    ++stats_.retries;
                    next.push_back(u);
                    wait_first = true;
                }
            }
        }
        if (moved_now)
            refresh_in_background();
        if (!next.empty() && attempt + 1 >= max_attempts)
            break;
        if (wait_first && !next.empty()) {
            if (std::any_of(next.begin(), next.end(), [&](std::size_t u) { return !target_of(units[u]); }))
                refresh_in_background();
            asio::steady_timer pause{ex_};
            pause.expires_after(backoff(attempt));
            co_await pause.async_wait(use_tuple);
            if (closed_)
                co_return std::pair{make_error_code(errc::closed), std::size_t{0}};
        }
        todo = std::move(next);
    }
    error_code first;
    for (std::size_t i = 0; i < replies.size(); ++i)
        if (auto ec = cluster::reply_tape::play(replies[i], i, adapter); ec && !first)
            first = ec;
    co_return std::pair{first, replies.size()};
}

} // namespace redstream::detail

namespace redstream {

cluster_connection::cluster_connection(executor_type ex, config seed, logger log)
    : cluster_connection(std::move(ex), std::move(seed), std::move(log), node_source{}) {}

cluster_connection::cluster_connection(executor_type ex, config seed, logger log, node_source nodes)
    : impl_(std::make_shared<detail::cluster_connection_impl>(std::move(ex), std::move(seed), std::move(log),
                                                              std::move(nodes))) {}

void cluster_connection::refresh_impl(boost::asio::any_completion_handler<void(error_code)> h) {
    namespace asio = boost::asio;
    auto ex = impl_->executor();
    asio::co_spawn(ex, impl_->refresh(), [h = std::move(h), ex, keep = impl_](std::exception_ptr e, error_code ec) mutable {
        if (e)
            ec = make_error_code(errc::internal_error);
        asio::post(ex, asio::append(std::move(h), ec));
    });
}

cluster_connection::~cluster_connection() { impl_->close(); }

void cluster_connection::close() { impl_->close(); }

cluster::slot_map const& cluster_connection::slots() const noexcept { return impl_->slots(); }

cluster_stats cluster_connection::stats() const { return impl_->stats(); }

cluster_connection::executor_type cluster_connection::get_executor() const noexcept { return impl_->executor(); }

void cluster_connection::exec_impl(request const& req, any_adapter adapter,
                                   boost::asio::any_completion_handler<void(error_code, std::size_t)> h) {
    namespace asio = boost::asio;
    auto copy = std::make_shared<request const>(req);
    auto ex = impl_->executor();
    asio::co_spawn(ex, impl_->exec(std::move(copy), std::move(adapter)),
                   // The handler keeps the state alive until the request is done, even if the
                   // cluster_connection goes first.
                   [h = std::move(h), ex, keep = impl_](std::exception_ptr e,
                                                        std::pair<error_code, std::size_t> r) mutable {
                       if (e)
                           r = {make_error_code(errc::internal_error), 0};
                       asio::post(ex, asio::append(std::move(h), r.first, r.second));
                   });
}

} // namespace redstream
