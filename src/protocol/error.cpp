#include <redstream/protocol/error.hpp>
#include <redstream/resp/error.hpp>

#include <string>

namespace redstream {

namespace {

class client_category_impl final : public boost::system::error_category {
public:
    char const* name() const noexcept override { return "redstream"; }

    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
        case errc::not_connected: return "not connected to Redis (set request::options::wait_for_connection to wait)";
        case errc::connection_lost: return "connection to Redis lost before the reply arrived";
        case errc::connect_timeout: return "connecting to Redis timed out";
        case errc::pong_timeout: return "Redis did not answer the health-check PING in time";
        case errc::closed: return "the connection was closed";
        case errc::read_buffer_full: return "reply larger than config::max_read_buffer";
        case errc::unexpected_reply: return "Redis sent a reply that no request was waiting for";
        case errc::wrong_reply_type: return "reply type does not match the adapter it was read into";
        case errc::invalid_url: return "invalid Redis URL";
        case errc::hello_refused: return "the server refused HELLO";
        case errc::mixed_subscription: return "a request may not mix SUBSCRIBE-family commands with other commands";
        case errc::resp2_no_pushes: return "subscriptions need RESP3 (the server refused HELLO 3)";
        case errc::tls_unavailable: return "TLS requested but not available";
        case errc::unexpected_push: return "Redis sent a RESP3 push on a RESP2 connection";
        case errc::adapter_failed: return "the reply adapter threw; its targets may be partly filled (see the log)";
        case errc::internal_error: return "an unexpected exception inside the connection (see the log)";
        }
        return "unknown redstream error";
    }
};

class server_category_impl final : public boost::system::error_category {
public:
    char const* name() const noexcept override { return "redstream.server"; }

    std::string message(int ev) const override {
        switch (static_cast<server_errc>(ev)) {
        case server_errc::other: return "Redis error reply";
        case server_errc::busygroup: return "BUSYGROUP: the consumer group already exists";
        case server_errc::nogroup: return "NOGROUP: the consumer group or the stream does not exist";
        case server_errc::wrongtype: return "WRONGTYPE: the key holds a value of another type";
        case server_errc::noscript: return "NOSCRIPT: the script is not loaded";
        case server_errc::loading: return "LOADING: Redis is loading its dataset";
        case server_errc::readonly: return "READONLY: write sent to a read-only replica";
        case server_errc::noauth: return "NOAUTH: authentication required";
        case server_errc::wrongpass: return "WRONGPASS: invalid user name or password";
        case server_errc::noperm: return "NOPERM: the ACL user lacks the permission";
        case server_errc::oom: return "OOM: Redis reached maxmemory";
        case server_errc::busy: return "BUSY: a script is running";
        case server_errc::execabort: return "EXECABORT: transaction discarded";
        case server_errc::unknown_command: return "unknown command";
        case server_errc::moved: return "MOVED: the slot is served by another cluster node";
        case server_errc::ask: return "ASK: the slot is migrating; the key is on the named node";
        case server_errc::tryagain: return "TRYAGAIN: the command's keys are split by a slot migration";
        case server_errc::clusterdown: return "CLUSTERDOWN: the cluster cannot serve this slot";
        case server_errc::crossslot: return "CROSSSLOT: the command's keys hash to different slots";
        }
        return "Redis error reply";
    }
};

bool starts_with_word(std::string_view text, std::string_view word) noexcept {
    return text.size() >= word.size() && text.substr(0, word.size()) == word &&
           (text.size() == word.size() || text[word.size()] == ' ');
}

} // namespace

boost::system::error_category const& client_category() noexcept {
    static client_category_impl const instance;
    return instance;
}

boost::system::error_category const& server_category() noexcept {
    static server_category_impl const instance;
    return instance;
}

server_errc classify_server_error(std::string_view text) noexcept {
    struct prefix {
        std::string_view word;
        server_errc code;
    };
    static constexpr prefix table[] = {
        {"BUSYGROUP", server_errc::busygroup}, {"NOGROUP", server_errc::nogroup},
        {"WRONGTYPE", server_errc::wrongtype}, {"NOSCRIPT", server_errc::noscript},
        {"LOADING", server_errc::loading},     {"READONLY", server_errc::readonly},
        {"NOAUTH", server_errc::noauth},       {"WRONGPASS", server_errc::wrongpass},
        {"NOPERM", server_errc::noperm},       {"OOM", server_errc::oom},
        {"BUSY", server_errc::busy},           {"EXECABORT", server_errc::execabort},
        {"MOVED", server_errc::moved},         {"ASK", server_errc::ask},
        {"TRYAGAIN", server_errc::tryagain},   {"CLUSTERDOWN", server_errc::clusterdown},
        {"CROSSSLOT", server_errc::crossslot},
    };
    for (auto const& p : table)
        if (starts_with_word(text, p.word))
            return p.code;
    if (text.starts_with("ERR unknown command"))
        return server_errc::unknown_command;
    return server_errc::other;
}

bool is_fatal(boost::system::error_code const& ec) noexcept {
    if (!ec)
        return false;
    if (ec.category() == server_category())
        return false;
    if (ec.category() == client_category()) {
        switch (static_cast<errc>(ec.value())) {
        case errc::wrong_reply_type:
        case errc::adapter_failed:
        case errc::mixed_subscription:
        case errc::resp2_no_pushes:
            return false;
        default:
            return true;
        }
    }
    return true; // transport (asio, ssl) and parser errors
}

} // namespace redstream
