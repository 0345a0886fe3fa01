#include <redstream/io/config.hpp>
#include <redstream/protocol/error.hpp>

#include "resp/numbers.hpp"

#include <boost/system/system_error.hpp>

#include <fmt/core.h>

namespace redstream {

namespace {

[[noreturn]] void invalid(std::string_view why) {
    // The URL itself is not quoted: it may hold a password.
    throw boost::system::system_error(make_error_code(errc::invalid_url), std::string{why});
}

// %XX decoding, so passwords with '@' or ':' can be written in URLs.
std::string percent_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%') {
            if (i + 2 >= s.size())
                invalid("bad %-escape in URL");
            auto hex = [](char c) -> int {
                if (c >= '0' && c <= '9') return c - '0';
                if (c >= 'a' && c <= 'f') return c - 'a' + 10;
                if (c >= 'A' && c <= 'F') return c - 'A' + 10;
                return -1;
            };
            int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
            if (hi < 0 || lo < 0)
                invalid("bad %-escape in URL");
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

int parse_db(std::string_view s) {
    std::int64_t db = 0;
    if (!resp::detail::parse_int64(s, db) || db < 0 || db > 1'000'000)
        invalid("database must be a non-negative integer");
    return static_cast<int>(db);
}

cluster_mode parse_cluster_mode(std::string_view v) {
    if (v == "auto" || v == "automatic")
        return cluster_mode::automatic;
    if (v == "yes" || v == "on" || v == "1" || v == "true")
        return cluster_mode::on;
    if (v == "no" || v == "off" || v == "0" || v == "false")
        return cluster_mode::off;
    invalid("cluster must be auto, yes or no");
}

void parse_query(std::string_view query, config& cfg) {
    while (!query.empty()) {
        auto amp = query.find('&');
        auto item = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        auto eq = item.find('=');
        if (eq == std::string_view::npos)
            invalid("URL query items must be key=value");
        auto key = item.substr(0, eq);
        auto value = percent_decode(item.substr(eq + 1));
        if (key == "db")
            cfg.database = parse_db(value);
        else if (key == "password")
            cfg.password = value;
        else if (key == "user" || key == "username")
            cfg.username = value;
        else if (key == "name" || key == "client_name")
            cfg.client_name = value;
        else if (key == "ca" || key == "ca_file")
            cfg.tls.ca_file = value;
        else if (key == "verify")
            cfg.tls.verify_peer = value != "0" && value != "false" && value != "none";
        else if (key == "sni" || key == "server_name")
            cfg.tls.server_name = value;
        else if (key == "cluster")
            cfg.cluster = parse_cluster_mode(value);
        else
            invalid("unknown URL query parameter (known: db, user, password, name, ca, verify, sni, cluster)");
    }
}

// "user:pass", or just "pass" (redis://password@host is common shorthand; an empty user means
// the default user).
void parse_credentials(std::string_view creds, config& cfg) {
    auto colon = creds.find(':');
    if (colon == std::string_view::npos) {
        cfg.password = percent_decode(creds);
    } else {
        cfg.username = percent_decode(creds.substr(0, colon));
        cfg.password = percent_decode(creds.substr(colon + 1));
    }
}

// Cuts "?query" off the end of `rest` and returns the query (empty without one).
std::string_view split_off_query(std::string_view& rest) {
    std::string_view query;
    if (auto q = rest.find('?'); q != std::string_view::npos) {
        query = rest.substr(q + 1);
        rest = rest.substr(0, q);
    }
    return query;
}

// What follows unix:// : [user:pass@]/path
void parse_unix_address(std::string_view rest, config& cfg) {
    cfg.kind = config::transport::unix_socket;
    if (auto at = rest.rfind('@'); at != std::string_view::npos && rest.front() != '/') {
        parse_credentials(rest.substr(0, at), cfg);
        rest = rest.substr(at + 1);
    }
    if (rest.empty() || rest.front() != '/')
        invalid("unix:// URLs need an absolute socket path");
    cfg.unix_path = percent_decode(rest);
}

struct host_port {
    std::string_view host;
    std::string_view port; ///< empty when the URL names none
};

// "host", "host:port", "[v6]" or "[v6]:port".
host_port split_host_port(std::string_view rest) {
    host_port out{rest, {}};
    if (!rest.empty() && rest.front() == '[') { // IPv6 literal
        auto close = rest.find(']');
        if (close == std::string_view::npos)
            invalid("unterminated IPv6 address in URL");
        out.host = rest.substr(1, close - 1);
        auto after = rest.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':')
                invalid("garbage after IPv6 address in URL");
            out.port = after.substr(1);
        }
    } else if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
        out.host = rest.substr(0, colon);
        out.port = rest.substr(colon + 1);
    }
    return out;
}

std::uint16_t parse_port(std::string_view port) {
    std::uint64_t p = 0;
    if (!resp::detail::parse_uint64(port, p) || p == 0 || p > 65535)
        invalid("port must be 1-65535");
    return static_cast<std::uint16_t>(p);
}

// What follows redis:// or rediss:// : [user:pass@]host[:port][/db]
void parse_network_address(std::string_view rest, config& cfg) {
    std::string_view path;
    if (auto slash = rest.find('/'); slash != std::string_view::npos) {
        path = rest.substr(slash + 1);
        rest = rest.substr(0, slash);
    }
    if (auto at = rest.rfind('@'); at != std::string_view::npos) {
        parse_credentials(rest.substr(0, at), cfg);
        rest = rest.substr(at + 1);
    }
    // More seed nodes of a cluster follow the first, comma-separated.
    auto const comma = rest.find(',');
    auto const more = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    auto const [host, port] = split_host_port(rest.substr(0, comma));
    if (comma != std::string_view::npos && (host.empty() || more.empty()))
        invalid("empty host in the URL's host list");
    if (!host.empty())
        cfg.host = std::string{host};
    if (!port.empty())
        cfg.port = parse_port(port);
    for (std::string_view list = more; !list.empty();) {
        auto const next = list.find(',');
        auto const item = list.substr(0, next);
        auto const [h, p] = split_host_port(item);
        if (h.empty() || (next != std::string_view::npos && next + 1 == list.size()))
            invalid("empty host in the URL's host list");
        if (p.empty() && !item.empty() && item.back() == ':')
            invalid("port must be 1-65535");
        cfg.extra_seeds.push_back({std::string{h}, p.empty() ? cfg.port : parse_port(p)});
        list = next == std::string_view::npos ? std::string_view{} : list.substr(next + 1);
    }
    if (!path.empty())
        cfg.database = parse_db(path);
}

} // namespace

config config::from_url(std::string_view url) {
    config cfg;
    auto const scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos)
        invalid("URL must start with redis://, rediss:// or unix://");
    auto const scheme = url.substr(0, scheme_end);
    auto rest = url.substr(scheme_end + 3);
    auto const query = split_off_query(rest);

    if (scheme == "unix" || scheme == "redis+unix") {
        parse_unix_address(rest, cfg);
    } else {
        if (scheme == "rediss")
            cfg.kind = transport::tls;
        else if (scheme != "redis")
            invalid("unsupported URL scheme (use redis, rediss or unix)");
        parse_network_address(rest, cfg);
    }
    parse_query(query, cfg);
    return cfg;
}

std::string config::redacted_address() const {
    std::string creds;
    if (!username.empty() || !password.empty())
        creds = fmt::format("{}{}@", username, password.empty() ? "" : ":***");
    // An IPv6 literal goes in brackets, as in the URL it came from: "::1:6379" would be ambiguous.
    auto const shown_host = host.find(':') != std::string::npos ? fmt::format("[{}]", host) : host;
    switch (kind) {
    case transport::unix_socket: return fmt::format("unix://{}{}?db={}", creds, unix_path, database);
    case transport::tls: return fmt::format("rediss://{}{}:{}/{}", creds, shown_host, port, database);
    case transport::tcp: break;
    }
    return fmt::format("redis://{}{}:{}/{}", creds, shown_host, port, database);
}

} // namespace redstream
