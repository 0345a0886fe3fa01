// Parser microbenchmark: XREADGROUP replies of 100 entries (RESP3, 2 fields each) parsed into
// read_reply through the same path the connection uses. Reports MB/s and entries/s (medians).
//
//   bench_parser [--replies N] [--rounds R] [--value-bytes B]

#include <redstream/protocol/adapter.hpp>
#include <redstream/resp/parser.hpp>
#include <redstream/protocol/stream_readers.hpp>

#include "bench_common.hpp"

#include <fmt/core.h>

#include <string>

using namespace redstream;

namespace {

std::string bulk(std::string_view s) { return fmt::format("${}\r\n{}\r\n", s.size(), s); }

std::string make_reply(std::size_t entries, std::size_t value_bytes, std::uint64_t base) {
    std::string out = "%1\r\n" + bulk("events:orders") + fmt::format("*{}\r\n", entries);
    std::string value(value_bytes, 'x');
    for (std::size_t i = 0; i < entries; ++i) {
        out += "*2\r\n" + bulk(fmt::format("{}-{}", base + i, i)) + "*4\r\n";
        out += bulk("order_id") + bulk(std::to_string(base + i)) + bulk("payload") + bulk(value);
    }
    return out;
}

} // namespace

int main(int argc, char** argv) {
    bench::args a{argc, argv};
    auto const replies = a.get_size("--replies", 20'000);
    auto const rounds = a.get_size("--rounds", 7);
    auto const value_bytes = a.get_size("--value-bytes", 64);
    a.finish();

    // Many replies back to back, as they arrive on a busy connection.
    std::string wire;
    for (std::size_t r = 0; r < 50; ++r)
        wire += make_reply(100, value_bytes, 1'700'000'000'000 + r * 100);
    std::size_t const per_pass = 50;

    std::vector<double> mbps, eps;
    read_reply out;
    for (std::size_t round = 0; round < rounds; ++round) {
        std::size_t parsed = 0, bytes = 0, entries = 0;
        auto const t0 = std::chrono::steady_clock::now();
        while (parsed < replies) {
            resp::parser p;
            std::size_t pos = 0;
            auto adapter = adapt(out);
            while (pos < wire.size()) {
                resp::node n;
                std::size_t used = 0;
                error_code ec;
                if (p.next(std::string_view{wire}.substr(pos), n, used, ec) != resp::parser::status::element)
                    return 1;
                pos += used;
                adapter.on_node(0, n, ec);
                if (p.reply_complete()) {
                    entries += out.entry_count();
                    adapter = adapt(out);
                }
            }
            parsed += per_pass;
            bytes += wire.size();
        }
        double const s = bench::seconds_since(t0);
        mbps.push_back(static_cast<double>(bytes) / s / 1e6);
        eps.push_back(static_cast<double>(entries) / s);
    }
    fmt::print("parser: XREADGROUP replies of 100 entries ({}-byte values, {} bytes per reply): "
               "median {:.0f} MB/s, {:.2f} M entries/s over {} rounds\n",
               value_bytes, wire.size() / per_pass, bench::median(mbps), bench::median(eps) / 1e6, rounds);
    return 0;
}
