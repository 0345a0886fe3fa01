#include "cli_common.hpp"

#include <redstream/cluster/partitions.hpp>
#include "io/use_tuple.hpp"

#include <redstream/protocol/error.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <charconv>
#include <csignal>
#include <cstdlib>

namespace redstream::cli {

std::optional<std::string> args::option(std::string_view name) {
    for (std::size_t i = 0; i < tokens_.size(); ++i) {
        if (used_[i])
            continue;
        std::string_view t = tokens_[i];
        if (t == name) {
            if (i + 1 >= tokens_.size())
                throw cli_error(exit_usage, fmt::format("{} needs a value", name));
            used_[i] = used_[i + 1] = true;
            return tokens_[i + 1];
        }
        if (t.size() > name.size() && t.starts_with(name) && t[name.size()] == '=') {
            used_[i] = true;
            return std::string{t.substr(name.size() + 1)};
        }
    }
    return std::nullopt;
}

std::string args::option_or(std::string_view name, std::string fallback) {
    auto v = option(name);
    return v ? *v : std::move(fallback);
}

std::uint64_t args::number_or(std::string_view name, std::uint64_t fallback) {
    auto v = option(name);
    if (!v)
        return fallback;
    std::uint64_t n = 0;
    auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (ec != std::errc{} || p != v->data() + v->size())
        throw cli_error(exit_usage, fmt::format("{} expects a non-negative integer, got '{}'", name, *v));
    return n;
}

bool args::flag(std::string_view name) {
    for (std::size_t i = 0; i < tokens_.size(); ++i)
        if (!used_[i] && tokens_[i] == name) {
            used_[i] = true;
            return true;
        }
    return false;
}

std::vector<std::string> args::positionals() {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < tokens_.size(); ++i) {
        if (used_[i])
            continue;
        if (tokens_[i].starts_with("--") && tokens_[i].size() > 2)
            throw cli_error(exit_usage, fmt::format("unknown option {}", tokens_[i]));
        out.push_back(tokens_[i]);
        used_[i] = true;
    }
    return out;
}

int exit_code_after(int signo) { return signo == SIGINT ? exit_interrupted : exit_ok; }

session::session(std::string url, bool quiet_logs) : url_(std::move(url)) {
    if (url_.empty()) {
        char const* env = std::getenv("REDSTREAM_URL");
        url_ = env && *env ? env : "redis://127.0.0.1:6379";
    }
    config cfg;
    try {
        cfg = config::from_url(url_);
    } catch (std::exception const& e) {
        throw cli_error(exit_usage, fmt::format("bad --url: {}", e.what()));
    }
    cfg.connect_timeout = std::chrono::seconds(3);
    logger log = quiet_logs ? logger::none()
                            : logger{log_level::info, [](log_level l, std::string_view m) {
                                  fmt::print(stderr, "[{}] {}\n", to_string(l), m);
                              }};
    auto const address = cfg.redacted_address();
    client_ = std::make_unique<redstream::client>(ioc_.get_executor(), std::move(cfg), std::move(log));
    // Fail fast with a clear message when the server cannot be reached or refuses us.
    run([this, address]() -> asio::awaitable<void> {
        request ping{request::options{std::chrono::milliseconds{3000}}};
        ping.push("PING");
        auto [ec, n] = co_await client_->connection().async_exec(ping, adapt_ignore(), detail::use_tuple);
        if (!ec)
            co_return;
        if (auto why = client_->connection().stats().last_error; why)
            ec = why; // the handshake's own error (WRONGPASS, connection refused...)
        if (ec == server_errc::wrongpass || ec == server_errc::noauth || ec == server_errc::noperm)
            throw cli_error(exit_auth, fmt::format("{} refused the credentials: {}", address, ec.message()));
        throw cli_error(exit_unreachable, fmt::format("cannot connect to {}: {}", address, ec.message()));
    });
}

session::~session() {
    client_->close();
    ioc_.restart();
    ioc_.run_for(std::chrono::milliseconds(500));
}

void session::run(std::function<asio::awaitable<void>()> work) {
    bool done = false;
    std::exception_ptr failure;
    asio::co_spawn(ioc_, work(), [&](std::exception_ptr e) {
        failure = e;
        done = true;
    });
    ioc_.restart();
    while (!done && ioc_.run_one() > 0) {
    }
    if (!failure)
        return;
    try {
        std::rethrow_exception(failure);
    } catch (cli_error const&) {
        throw;
    } catch (std::exception const& e) {
        throw classify(e);
    }
}

cli_error classify(std::exception const& e) {
    if (auto const* se = dynamic_cast<boost::system::system_error const*>(&e)) {
        auto const ec = se->code();
        if (ec == server_errc::nogroup)
            return cli_error(exit_missing, e.what());
        if (ec == server_errc::wrongtype)
            return cli_error(exit_wrong_type, e.what());
        if (ec == server_errc::noauth || ec == server_errc::wrongpass || ec == server_errc::noperm)
            return cli_error(exit_auth, e.what());
        if (ec == errc::not_connected || ec == errc::connection_lost || ec == errc::connect_timeout)
            return cli_error(exit_unreachable, e.what());
        if (std::string_view{e.what()}.find("no such key") != std::string_view::npos)
            return cli_error(exit_missing, e.what());
    }
    return cli_error(exit_failure, e.what());
}

std::string json_string(std::string_view s) {
    std::string out = "\"";
    for (unsigned char ch : s) {
        switch (ch) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (ch < 0x20)
                out += fmt::format("\\u{:04x}", static_cast<unsigned>(ch));
            else
                out += static_cast<char>(ch);
        }
    }
    out += '"';
    return out;
}

std::string entry_json(std::string_view stream, entry_batch::entry_view const& e, std::string_view extra) {
    std::string out = fmt::format("{{\"stream\":{},\"id\":\"{}\"", json_string(stream), e.id().to_string());
    if (!extra.empty()) {
        out += ',';
        out += extra;
    }
    out += ",\"fields\":{";
    out += fields_json(e.field_count(), [&](std::size_t i) { return e.field(i); });
    out += "}}";
    return out;
}

std::string fields_json(std::size_t count, std::function<field_view(std::size_t)> const& field_at) {
    std::string out;
    for (std::size_t i = 0; i < count; ++i) {
        auto f = field_at(i);
        if (i > 0)
            out += ',';
        out += json_string(f.name);
        out += ':';
        out += json_string(f.value);
    }
    return out;
}

asio::awaitable<bool> stream_present(redstream::client& c, std::string const& stream) {
    request r;
    r.push("TYPE", stream);
    std::string type;
    co_await c.connection().async_exec(r, adapt(type), asio::use_awaitable);
    if (type == "none")
        co_return false;
    if (type != "stream")
        throw cli_error(exit_wrong_type, fmt::format("'{}' is a {}, not a stream", stream, type));
    co_return true;
}

asio::awaitable<void> require_stream(redstream::client& c, std::string const& stream, bool may_be_missing) {
    // GCC 12 miscompiles a co_await inside `&&` (an illegal instruction at run time): named first.
    bool const present = co_await stream_present(c, stream);
    if (!present && !may_be_missing)
        throw cli_error(exit_missing, fmt::format("stream '{}' does not exist", stream));
}

partition_targets::~partition_targets() {
    if (cluster)
        cluster->close();
}

asio::awaitable<partition_targets> partition_clients(session& s, std::string const& stream, std::size_t partitions) {
    partition_targets t;
    std::vector<std::string> keys;
    try {
        keys = cluster::partition_keys(stream, partitions);
    } catch (std::invalid_argument const& e) {
        throw cli_error(exit_usage, e.what());
    }
    auto const& cfg = s.client().connection().get_config();
    if (co_await cluster_client::is_cluster(cfg))
        t.cluster = std::make_unique<cluster_client>(s.io().get_executor(), cfg, s.client().get_logger());
    for (auto& k : keys) {
        client* c = t.cluster ? co_await t.cluster->owner_of(k) : &s.client();
        t.keys.emplace_back(std::move(k), c);
    }
    co_return t;
}

} // namespace redstream::cli
