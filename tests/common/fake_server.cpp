#include "fake_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <list>
#include <optional>

namespace redstream::test {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

struct fake_server::state {
    explicit state(asio::any_io_executor ex) : acceptor(ex, tcp::endpoint{asio::ip::address_v4::loopback(), 0}) {}
    tcp::acceptor acceptor;
    script run;
    bool resp2 = false;
    bool closed = false;
    std::size_t accepted = 0;
    std::list<std::weak_ptr<tcp::socket>> sockets;
};

namespace {

// Takes one complete command ("*N\r\n$len\r\narg\r\n"...) off the front of `buf`, if there is
// one. Clients only ever send arrays of bulk strings.
std::optional<std::vector<std::string>> take_command(std::string& buf) {
    auto number_at = [&](std::size_t pos, std::size_t& next) -> std::optional<long> {
        auto const eol = buf.find("\r\n", pos);
        if (eol == std::string::npos)
            return std::nullopt;
        long v = 0;
        std::from_chars(buf.data() + pos, buf.data() + eol, v);
        next = eol + 2;
        return v;
    };
    if (buf.empty() || buf[0] != '*')
        return std::nullopt;
    std::size_t pos = 0;
    auto count = number_at(1, pos);
    if (!count)
        return std::nullopt;
    std::vector<std::string> args;
    for (long i = 0; i < *count; ++i) {
        if (pos >= buf.size() || buf[pos] != '$')
            return std::nullopt;
        auto len = number_at(pos + 1, pos);
        if (!len || buf.size() < pos + static_cast<std::size_t>(*len) + 2)
            return std::nullopt;
        args.emplace_back(buf.substr(pos, static_cast<std::size_t>(*len)));
        pos += static_cast<std::size_t>(*len) + 2;
    }
    buf.erase(0, pos);
    return args;
}

std::string upper(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return s;
}

// The handshake a client needs before it sends anything else; nullopt for other commands.
std::optional<fake_server::action> handshake_answer(std::vector<std::string> const& cmd, bool resp2) {
    std::string const name = upper(cmd.front());
    if (name == "HELLO") {
        if (resp2)
            return fake_server::action{"-ERR unknown command 'HELLO'\r\n"};
        return fake_server::action{"%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.0.0\r\n"};
    }
    if (name == "PING")
        return fake_server::action{"+PONG\r\n"};
    if (name == "CLIENT" || name == "SELECT")
        return fake_server::action{"+OK\r\n"};
    if (name == "INFO") {
        std::string const info = "# Server\r\nredis_version:7.0.0\r\n";
        return fake_server::action{"$" + std::to_string(info.size()) + "\r\n" + info + "\r\n"};
    }
    return std::nullopt;
}

asio::awaitable<void> serve(std::shared_ptr<fake_server::state> s, std::shared_ptr<tcp::socket> sock, std::size_t index) {
    std::string buf;
    std::array<char, 4096> chunk;
    for (;;) {
        auto [ec, n] = co_await sock->async_read_some(asio::buffer(chunk), tuple_awaitable);
        if (ec)
            co_return;
        buf.append(chunk.data(), n);
        while (auto cmd = take_command(buf)) {
            if (cmd->empty())
                continue;
            auto a = handshake_answer(*cmd, s->resp2);
            if (!a)
                a = s->run(*cmd, index);
            if (!a->bytes.empty()) {
                auto [wec, wn] = co_await asio::async_write(*sock, asio::buffer(a->bytes), tuple_awaitable);
                if (wec)
                    co_return;
            }
            if (a->close_after) {
                boost::system::error_code ignored;
                sock->shutdown(tcp::socket::shutdown_both, ignored);
                sock->close(ignored);
                co_return;
            }
        }
    }
}

asio::awaitable<void> accept_loop(std::shared_ptr<fake_server::state> s) {
    for (;;) {
        auto [ec, sock] = co_await s->acceptor.async_accept(tuple_awaitable);
        if (ec || s->closed)
            co_return;
        auto shared = std::make_shared<tcp::socket>(std::move(sock));
        s->sockets.remove_if([](auto const& w) { return w.expired(); });
        s->sockets.push_back(shared);
        asio::co_spawn(s->acceptor.get_executor(), serve(s, shared, s->accepted++), asio::detached);
    }
}

} // namespace

fake_server::fake_server(asio::any_io_executor ex, script s) : s_(std::make_shared<state>(ex)) {
    s_->run = std::move(s);
    asio::co_spawn(ex, accept_loop(s_), asio::detached);
}

fake_server::~fake_server() { close(); }

std::uint16_t fake_server::port() const { return s_->acceptor.local_endpoint().port(); }
std::size_t fake_server::connections() const noexcept { return s_->accepted; }
void fake_server::speak_resp2(bool on) noexcept { s_->resp2 = on; }

void fake_server::close() {
    if (s_->closed)
        return;
    s_->closed = true;
    boost::system::error_code ignored;
    s_->acceptor.close(ignored);
    for (auto& w : s_->sockets)
        if (auto sock = w.lock())
            sock->close(ignored);
}

} // namespace redstream::test
