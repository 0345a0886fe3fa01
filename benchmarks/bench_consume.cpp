// Consume+ack throughput: the redstream worker (default options unless told otherwise) versus
// - raw: the same connection driven by C coroutines with hand-pipelined [XACK, XREADGROUP]
//   requests and no framework, one read in flight per coroutine;
// - hiredis: the C reference consumer (peer/hiredis_peer.c, when built) in its own process,
//   --peer-depth XREADGROUPs in flight on one connection with the acks pipelined: the strongest
//   raw client; and, with one consumer, its synchronous read-then-ack loop (`sync`).
// Same server, a fresh pre-filled stream per contender. The peer runs before redstream every other
// round; ratios are redstream / hiredis per round (two runs next to each other in time), and the
// median of those ratios is the figure to quote on a noisy host.
//
//   bench_consume [--url URL] [--messages N] [--rounds R] [--consumers C] [--batch N]
//                 [--payload BYTES] [--max-in-flight N] [--per-consumer N] [--handler-ms MS]
//                 [--peer-depth 8] [--resp 3|2] [--framework-only yes]
//
// --batch is the worker's COUNT (default: the worker's default, 128) and every baseline's.
//
// Reports msgs/s, client CPU us/msg (getrusage), server main-thread CPU us/msg and busy %
// (deltas of used_cpu_*_main_thread in INFO cpu) and commands per 1000 messages (INFO commandstats
// after CONFIG RESETSTAT). --handler-ms makes each handler await a timer (an I/O-bound handler).

#include <redstream/protocol/stream_readers.hpp>
#include <redstream/consume/worker.hpp>

#include "bench_common.hpp"
#include "hiredis_peer.hpp"
#include "support/private_redis.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <optional>

namespace asio = boost::asio;
using namespace redstream;

namespace {

constexpr std::string_view stream = "redstream:bench:consume";
constexpr std::string_view group = "bench";

struct measure {
    double msgs_per_s = 0;
    double client_us = 0;
    double server_us = 0;
    double server_busy = 0;
    double reads_per_k = 0; // XREADGROUP calls per 1000 messages
    double acks_per_k = 0;  // XACK calls per 1000 messages
    double read_call_us = 0; // server time inside one XREADGROUP (commandstats usec_per_call)
};

// One field (`calls`, `usec_per_call`) of `command` since the last CONFIG RESETSTAT, from INFO
// commandstats.
double command_stat(std::string const& info, std::string_view command, std::string_view field) {
    auto const line = info.find(fmt::format("cmdstat_{}:", command));
    if (line == std::string::npos)
        return 0.0;
    auto const pos = info.find(fmt::format("{}=", field), line);
    return pos == std::string::npos ? 0.0 : std::stod(info.substr(pos + field.size() + 1));
}

asio::awaitable<double> server_main_thread_cpu(connection& conn) {
    request r;
    r.push("INFO", "cpu");
    std::string info;
    co_await conn.async_exec(r, adapt(info), asio::use_awaitable);
    double total = 0;
    for (std::string_view key : {"used_cpu_sys_main_thread:", "used_cpu_user_main_thread:"}) {
        auto pos = info.find(key);
        if (pos != std::string::npos)
            total += std::stod(info.substr(pos + key.size()));
    }
    co_return total;
}

asio::awaitable<void> prefill(connection& conn, std::size_t n, std::size_t payload) {
    request r;
    r.push("DEL", stream);
    r.push("XGROUP", "CREATE", stream, group, "0", "MKSTREAM");
    co_await conn.async_exec(r, adapt_ignore(), asio::use_awaitable);
    std::string const value(payload, 'x');
    request fill;
    for (std::size_t i = 0; i < n; ++i) {
        fill.push("XADD", stream, "*", "seq", i, "payload", value);
        if (fill.commands() == 1000 || i + 1 == n) {
            co_await conn.async_exec(fill, adapt_ignore(), asio::use_awaitable);
            fill.clear();
        }
    }
}

// Measures `work` (which consumes and acks n messages, returning when the last ack was
// confirmed) for wall time, and client and server CPU.
template <class Work>
asio::awaitable<measure> measured(connection& conn, std::size_t n, Work work) {
    request reset;
    reset.push("CONFIG", "RESETSTAT");
    co_await conn.async_exec(reset, adapt_ignore(), asio::use_awaitable);
    auto const server0 = co_await server_main_thread_cpu(conn);
    auto const cpu0 = bench::cpu_seconds();
    auto const t0 = std::chrono::steady_clock::now();
    auto const t1 = co_await work(); // when the last ack was confirmed (shutdown not counted)
    double const wall = std::chrono::duration<double>(t1 - t0).count();
    double const client = bench::cpu_seconds() - cpu0;
    auto const server = co_await server_main_thread_cpu(conn) - server0;
    auto const dn = static_cast<double>(n);
    request stats;
    stats.push("INFO", "commandstats");
    std::string info;
    co_await conn.async_exec(stats, adapt(info), asio::use_awaitable);
    co_return measure{dn / wall,
                      client * 1e6 / dn,
                      server * 1e6 / dn,
                      server / wall * 100,
                      command_stat(info, "xreadgroup", "calls") * 1000 / dn,
                      command_stat(info, "xack", "calls") * 1000 / dn,
                      command_stat(info, "xreadgroup", "usec_per_call")};
}

// The raw baseline: C coroutines, each sends [XACK previous batch, XREADGROUP next] in one
// request, as a hand-written pipelined consumer would.
asio::awaitable<std::chrono::steady_clock::time_point> raw_consume(connection& conn, std::size_t n,
                                                                   std::size_t consumers, std::size_t batch) {
    std::size_t acked = 0;
    std::size_t finished = 0;
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer done{ex, std::chrono::steady_clock::time_point::max()};
    for (std::size_t c = 0; c < consumers; ++c)
        asio::co_spawn(ex, [&, c]() -> asio::awaitable<void> {
            std::string const name = fmt::format("raw-{}", c);
            std::vector<stream_id> ids;
            request r;
            read_reply reply;
            std::int64_t ack_count = 0;
            for (;;) {
                r.clear();
                if (!ids.empty())
                    r.push("XACK", stream, group, ids);
                r.push("XREADGROUP", "GROUP", group, name, "COUNT", batch, "STREAMS", stream, ">");
                if (!ids.empty())
                    co_await conn.async_exec(r, adapt(ack_count, reply), asio::use_awaitable);
                else
                    co_await conn.async_exec(r, adapt(reply), asio::use_awaitable);
                acked += ids.size();
                ids.clear();
                for (auto const& s : reply.streams)
                    for (std::size_t i = 0; i < s.size(); ++i)
                        ids.push_back(s[i].id());
                if (ids.empty() && acked >= n)
                    break;
                if (ids.empty())
                    continue; // another coroutine holds the rest; its ack comes with its next read
            }
            if (++finished == consumers)
                done.cancel();
        }, asio::detached);
    co_await done.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return std::chrono::steady_clock::now();
}

std::size_t max_in_flight_option = 65536;
std::size_t batch_option = worker_options{}.batch;
std::size_t per_consumer_option = worker_options{}.max_in_flight_per_consumer;
std::size_t handler_ms_option = 0; // > 0: each handler awaits a timer this long (I/O-bound handler)
std::size_t peak_in_flight = 0;
std::size_t peak_reads_in_flight = 0;

asio::awaitable<std::chrono::steady_clock::time_point> framework_consume(client& cl, std::size_t n,
                                                                         std::size_t consumers) {
    worker_options opts;
    opts.max_in_flight = max_in_flight_option;
    opts.max_in_flight_per_consumer = per_consumer_option;
    opts.stream = std::string{stream};
    opts.group = std::string{group};
    opts.create_group = false;
    opts.consumers = consumers;
    opts.batch = batch_option;
    opts.delete_consumers_on_stop = false;
    worker w{cl, opts};
    std::size_t handled = 0;
    w.on_message([&](message const&) -> asio::awaitable<outcome> {
        if (handler_ms_option > 0) {
            asio::steady_timer io{co_await asio::this_coro::executor};
            io.expires_after(std::chrono::milliseconds{handler_ms_option});
            co_await io.async_wait(asio::use_awaitable);
        }
        ++handled;
        co_return ack;
    });
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer poll{ex};
    bool finished = false;
    asio::co_spawn(ex, w.run(), [&](std::exception_ptr) { finished = true; });
    while (w.stats().acked < n) {
        peak_in_flight = std::max(peak_in_flight, w.stats().in_flight);
        peak_reads_in_flight = std::max(peak_reads_in_flight, w.stats().reads_in_flight);
        poll.expires_after(std::chrono::microseconds{200});
        co_await poll.async_wait(asio::use_awaitable);
    }
    auto const all_acked = std::chrono::steady_clock::now();
    auto const st = w.stats();
    fmt::print("           worker: {} reads ({} empty), {} ack batches, wake-up {}, read depth {} (peak reads in "
               "flight {})\n",
               st.read_replies, st.empty_reads, st.ack_batches, to_string(st.wakeup), st.read_depth,
               peak_reads_in_flight);
    w.stop();
    while (!finished) {
        poll.expires_after(std::chrono::milliseconds{1});
        co_await poll.async_wait(asio::use_awaitable);
    }
    co_return all_acked;
}

// One run of the hiredis peer over the whole pre-filled stream; its client CPU replaces ours.
asio::awaitable<measure> peer_round(connection& conn, config const& server, std::size_t n, bench::peer_options o) {
    o.messages = n;
    double peer_client_us = 0;
    auto m = co_await measured(conn, n, [&]() -> asio::awaitable<std::chrono::steady_clock::time_point> {
        bench::hiredis_peer peer{server, std::string{stream}, std::string{group}, o};
        peer_client_us = peer.wait().client_us; // blocks this thread: nothing else runs meanwhile
        co_return std::chrono::steady_clock::now();
    });
    m.client_us = peer_client_us;
    co_return m;
}

} // namespace

int main(int argc, char** argv) {
    try {
        bench::args a{argc, argv};
        auto url = a.get("--url", "");
        auto const n = a.get_size("--messages", 500'000);
        auto const rounds = a.get_size("--rounds", 3);
        auto const consumers = a.get_size("--consumers", 1);
        auto const payload = a.get_size("--payload", 16);
        max_in_flight_option = a.get_size("--max-in-flight", 65536);
        per_consumer_option = a.get_size("--per-consumer", per_consumer_option);
        handler_ms_option = a.get_size("--handler-ms", 0);
        batch_option = a.get_size("--batch", batch_option);
        auto const peer_depth = a.get_size("--peer-depth", 8);
        auto const resp = a.get_size("--resp", 3); // 2: the worker speaks RESP2, as the hiredis peer does
        bool const framework_only = a.get("--framework-only", "no") == "yes";
        a.finish();
        std::optional<support::private_redis> server;
        if (url.empty()) {
            server.emplace();
            url = server->url();
        }
        asio::io_context ioc;
        auto client_cfg = config::from_url(url);
        client_cfg.try_resp3 = resp != 2;
        client cl{ioc.get_executor(), client_cfg, logger{log_level::error, [](log_level, std::string_view m) {
                                                      fmt::print(stderr, "{}\n", m);
                                                  }}};
        auto& conn = cl.connection();
        auto const server_cfg = config::from_url(url);
        bool const with_peer = !framework_only && bench::hiredis_peer::available();
        bool const with_sync_peer = with_peer && consumers == 1;
        std::vector<measure> fw, raw, peer, sync_peer;
        std::vector<double> peer_ratios, sync_ratios; // redstream / peer, round by round
        fmt::print("consume+ack: {} messages ({}-byte payload) per round, {} rounds, {} consumer(s), COUNT {}{}\n", n,
                   payload, rounds, consumers, batch_option,
                   with_peer ? fmt::format(", hiredis peer {} reads in flight", peer_depth)
                             : std::string{framework_only ? "" : " (hiredis peer not built)"});
        // Each contender consumes a fresh pre-filled stream of its own.
        auto const run_fresh = [&](auto work) {
            measure m;
            bench::run_to_completion(ioc, [&]() -> asio::awaitable<void> { co_await prefill(conn, n, payload); });
            bench::run_to_completion(ioc, [&]() -> asio::awaitable<void> { m = co_await work(); });
            return m;
        };
        auto const redstream_round = [&] {
            return run_fresh([&] { return measured(conn, n, [&]() { return framework_consume(cl, n, consumers); }); });
        };
        auto const peer_run = [&](std::string const& mode, std::size_t depth, std::size_t names) {
            bench::peer_options po;
            po.mode = mode;
            po.depth = depth;
            po.count = batch_option;
            po.consumers = names;
            auto const m = run_fresh([&] { return peer_round(conn, server_cfg, n, po); });
            fmt::print("           hiredis {:<9} {:>9.0f} msg/s client {:.2f} us/msg server {:.2f} us/msg "
                       "({:.0f}% busy, XREADGROUP {:.0f} us)\n",
                       mode + ":", m.msgs_per_s, m.client_us, m.server_us, m.server_busy, m.read_call_us);
            return m;
        };
        for (std::size_t r = 0; r < rounds; ++r) {
            // The host's speed drifts between rounds, so the peer goes first every other round and
            // each round's ratio compares two runs next to each other in time.
            bool const peer_first = r % 2 == 1;
            std::optional<measure> m_peer, m_sync;
            if (with_peer && peer_first)
                m_peer = peer_run("pipeline", peer_depth, consumers);
            auto const m_fw = redstream_round();
            if (with_peer && !peer_first)
                m_peer = peer_run("pipeline", peer_depth, consumers);
            if (with_sync_peer)
                m_sync = peer_run("sync", 1, 1);
            measure m_raw;
            if (!framework_only)
                m_raw = run_fresh([&] {
                    return measured(conn, n, [&]() { return raw_consume(conn, n, consumers, batch_option); });
                });
            fw.push_back(m_fw);
            raw.push_back(m_raw);
            if (m_peer) {
                peer.push_back(*m_peer);
                peer_ratios.push_back(m_fw.msgs_per_s / m_peer->msgs_per_s);
            }
            if (m_sync) {
                sync_peer.push_back(*m_sync);
                sync_ratios.push_back(m_fw.msgs_per_s / m_sync->msgs_per_s);
            }
            fmt::print("  round {}: redstream {:>9.0f} msg/s client {:.2f} us/msg server {:.2f} us/msg ({:.0f}% busy, "
                       "XREADGROUP {:.0f} us) | raw {:>9.0f} msg/s client {:.2f} server {:.2f} ({:.0f}% busy){}\n"
                       "           per 1000 msgs: redstream {:.1f} XREADGROUP {:.1f} XACK | raw {:.1f} XREADGROUP "
                       "{:.1f} XACK\n",
                       r + 1, m_fw.msgs_per_s, m_fw.client_us, m_fw.server_us, m_fw.server_busy, m_fw.read_call_us,
                       m_raw.msgs_per_s, m_raw.client_us, m_raw.server_us, m_raw.server_busy,
                       m_peer ? fmt::format(" | redstream / hiredis pipeline {:.2f}", peer_ratios.back()) : "",
                       m_fw.reads_per_k, m_fw.acks_per_k, m_raw.reads_per_k, m_raw.acks_per_k);
        }
        auto med = [](std::vector<measure> const& v, double measure::*f) {
            std::vector<double> x;
            for (auto const& m : v)
                x.push_back(m.*f);
            return bench::median(x);
        };
        auto const spread = [](std::vector<double> v) {
            auto const [lo, hi] = std::minmax_element(v.begin(), v.end());
            return fmt::format("median {:.2f}, range {:.2f}-{:.2f}", bench::median(v), *lo, *hi);
        };
        double const f = med(fw, &measure::msgs_per_s), b = med(raw, &measure::msgs_per_s);
        fmt::print("median: redstream {:.0f} msg/s (client {:.2f} us/msg, server {:.2f} us/msg, server busy {:.0f}%), "
                   "raw {:.0f} msg/s (client {:.2f}, server {:.2f}, busy {:.0f}%), ratio {:.2f}\n",
                   f, med(fw, &measure::client_us), med(fw, &measure::server_us), med(fw, &measure::server_busy), b,
                   med(raw, &measure::client_us), med(raw, &measure::server_us), med(raw, &measure::server_busy),
                   b > 0 ? f / b : 0.0);
        if (with_peer) {
            fmt::print("median: hiredis pipeline {:.0f} msg/s (client {:.2f} us/msg, server {:.2f} us/msg, busy {:.0f}%); "
                       "server CPU per msg {:.2f}x, XREADGROUP cost {:.2f}x\n",
                       med(peer, &measure::msgs_per_s), med(peer, &measure::client_us), med(peer, &measure::server_us),
                       med(peer, &measure::server_busy),
                       med(fw, &measure::server_us) / std::max(1e-9, med(peer, &measure::server_us)),
                       med(fw, &measure::read_call_us) / std::max(1e-9, med(peer, &measure::read_call_us)));
            fmt::print("paired: redstream / hiredis pipeline {}\n", spread(peer_ratios));
        }
        if (with_sync_peer) {
            fmt::print("median: hiredis sync {:.0f} msg/s (client {:.2f} us/msg, server {:.2f} us/msg)\n",
                       med(sync_peer, &measure::msgs_per_s), med(sync_peer, &measure::client_us),
                       med(sync_peer, &measure::server_us));
            fmt::print("paired: redstream / hiredis sync {}\n", spread(sync_ratios));
        }
        rusage ru{};
        ::getrusage(RUSAGE_SELF, &ru);
        fmt::print("peak RSS of this process: {:.1f} MiB; peak in-flight messages: {}\n",
                   static_cast<double>(ru.ru_maxrss) / 1024.0, peak_in_flight);
        cl.close();
        ioc.restart();
        ioc.run_for(std::chrono::seconds(2));
        return 0;
    } catch (std::exception const& e) {
        fmt::print(stderr, "error: {}\n", e.what());
        return 2;
    }
}
