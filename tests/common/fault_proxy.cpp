#include "fault_proxy.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <vector>

namespace redstream::test {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

namespace {

struct link {
    explicit link(asio::any_io_executor ex) : client(ex), server(ex) {}
    tcp::socket client;
    tcp::socket server;
    void close() {
        boost::system::error_code ignored;
        client.close(ignored);
        server.close(ignored);
    }
};

} // namespace

struct fault_proxy::state : std::enable_shared_from_this<state> {
    state(asio::any_io_executor ex, std::uint16_t up, std::uint64_t seed)
        : acceptor(ex, {asio::ip::make_address("127.0.0.1"), 0}), upstream(asio::ip::make_address("127.0.0.1"), up),
          rng(seed), resume(ex, std::chrono::steady_clock::time_point::max()), dropper(ex) {}

    tcp::acceptor acceptor;
    tcp::endpoint upstream;
    std::mt19937_64 rng;
    std::list<std::shared_ptr<link>> links;
    asio::steady_timer resume; // cancelled when a stall ends
    asio::steady_timer dropper;
    bool stalled = false;
    bool closed = false;
    std::size_t chunk = 0;
    std::chrono::microseconds delay{0};
    double corrupt_probability = 0;
    std::chrono::milliseconds drop_period{0};
    std::uint64_t accepted = 0, dropped = 0, corrupted = 0;

    asio::awaitable<void> accept_loop() {
        auto self = shared_from_this();
        while (!closed) {
            auto [ec, socket] = co_await acceptor.async_accept(tuple_awaitable);
            if (ec)
                co_return;
            auto l = std::make_shared<link>(acceptor.get_executor());
            l->client = std::move(socket);
            auto [cec] = co_await l->server.async_connect(upstream, tuple_awaitable);
            if (cec) {
                l->close();
                continue;
            }
            ++accepted;
            links.push_back(l);
            asio::co_spawn(acceptor.get_executor(), pump(l, l->client, l->server, false), asio::detached);
            asio::co_spawn(acceptor.get_executor(), pump(l, l->server, l->client, true), asio::detached);
        }
    }

    asio::awaitable<void> pump(std::shared_ptr<link> l, tcp::socket& from, tcp::socket& to, bool replies) {
        auto self = shared_from_this();
        std::array<char, 16384> buf;
        for (;;) {
            auto [rec, n] = co_await from.async_read_some(asio::buffer(buf), tuple_awaitable);
            if (rec)
                break;
            while (stalled && !closed)
                co_await resume.async_wait(tuple_awaitable);
            if (replies && corrupt_probability > 0 &&
                std::uniform_real_distribution<double>{0, 1}(rng) < corrupt_probability) {
                auto const at = std::uniform_int_distribution<std::size_t>{0, n - 1}(rng);
                buf[at] = static_cast<char>(buf[at] ^ (1 << std::uniform_int_distribution<int>{0, 7}(rng)));
                ++corrupted;
            }
            std::size_t off = 0;
            bool failed = false;
            while (off < n && !failed) {
                std::size_t const piece = chunk == 0 ? n - off : std::min(chunk, n - off);
                if (delay.count() > 0) {
                    asio::steady_timer t{acceptor.get_executor()};
                    t.expires_after(delay);
                    co_await t.async_wait(tuple_awaitable);
                }
                auto [wec, w] = co_await asio::async_write(to, asio::buffer(buf.data() + off, piece), tuple_awaitable);
                failed = static_cast<bool>(wec);
                off += piece;
            }
            if (failed)
                break;
        }
        l->close();
        links.remove(l);
    }

    void drop_all() {
        for (auto& l : links)
            l->close();
        dropped += links.size();
        links.clear();
    }

    asio::awaitable<void> drop_loop() {
        auto self = shared_from_this();
        while (!closed && drop_period.count() > 0) {
            dropper.expires_after(drop_period);
            auto [ec] = co_await dropper.async_wait(tuple_awaitable);
            if (ec || closed || drop_period.count() == 0)
                co_return;
            drop_all();
        }
    }
};

fault_proxy::fault_proxy(asio::any_io_executor ex, std::uint16_t upstream_port, std::uint64_t seed)
    : s_(std::make_shared<state>(std::move(ex), upstream_port, seed)) {
    asio::co_spawn(s_->acceptor.get_executor(), s_->accept_loop(), asio::detached);
}

fault_proxy::~fault_proxy() { close(); }

std::uint16_t fault_proxy::port() const { return s_->acceptor.local_endpoint().port(); }

void fault_proxy::drop_all() { s_->drop_all(); }

void fault_proxy::drop_every(std::chrono::milliseconds period) {
    bool const was_running = s_->drop_period.count() > 0;
    s_->drop_period = period;
    if (period.count() == 0)
        s_->dropper.cancel();
    else if (!was_running)
        asio::co_spawn(s_->acceptor.get_executor(), s_->drop_loop(), asio::detached);
}

void fault_proxy::stall(bool on) {
    s_->stalled = on;
    if (!on)
        s_->resume.cancel();
}

void fault_proxy::chunk(std::size_t bytes) { s_->chunk = bytes; }
void fault_proxy::delay_each_write(std::chrono::microseconds d) { s_->delay = d; }
void fault_proxy::corrupt_replies(double probability) { s_->corrupt_probability = probability; }

void fault_proxy::close() {
    if (s_->closed)
        return;
    s_->closed = true;
    boost::system::error_code ignored;
    s_->acceptor.close(ignored);
    s_->dropper.cancel();
    s_->resume.cancel();
    s_->drop_all();
}

std::uint64_t fault_proxy::connections() const noexcept { return s_->accepted; }
std::uint64_t fault_proxy::drops() const noexcept { return s_->dropped; }
std::uint64_t fault_proxy::corruptions() const noexcept { return s_->corrupted; }

} // namespace redstream::test
