// `redstream produce`: field=value arguments, or JSON objects (one per line) from stdin.

#include "cli_common.hpp"
#include "commands.hpp"

#include <redstream/io/cluster_client.hpp>
#include <redstream/io/partitioned_producer.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <fmt/format.h>

#include <iostream>

namespace redstream::cli {

namespace {

field_list fields_from_json(std::string const& line, std::size_t line_no) {
    boost::system::error_code ec;
    auto v = boost::json::parse(line, ec);
    if (ec || !v.is_object())
        throw cli_error(exit_usage, fmt::format("stdin line {}: expected a JSON object like {{\"field\":\"value\"}}",
                                                line_no));
    field_list f;
    for (auto const& [k, val] : v.as_object()) {
        if (val.is_string())
            f.emplace_back(std::string{k}, std::string{val.as_string()});
        else if (val.is_double())
            f.emplace_back(std::string{k}, fmt::format("{}", val.as_double())); // 12.5, not 1.25E1
        else
            f.emplace_back(std::string{k}, boost::json::serialize(val)); // integers, bools, null, nested: JSON text
    }
    if (f.empty())
        throw cli_error(exit_usage, fmt::format("stdin line {}: an entry needs at least one field", line_no));
    return f;
}

} // namespace

int cmd_produce(args& a) {
    if (a.help()) {
        fmt::print("usage: redstream produce STREAM [field=value ...] [--url URL] [--count N] [--rate MSGS_PER_S]\n"
                   "                         [--maxlen N] [--ids] [--partitions N [--key FIELD]]\n"
                   "With field=value arguments, adds that entry (--count times). Without, reads one JSON object per\n"
                   "line from stdin (string values as they are, other values as JSON text). --maxlen trims with\n"
                   "MAXLEN ~; --rate paces the entries; --ids prints each new id.\n"
                   "--partitions N writes to the N partition keys of STREAM (STREAM:{{tag}}), by the value of --key\n"
                   "FIELD (same value, same partition) or round-robin; on a Redis Cluster (detected, or ?cluster=yes\n"
                   "in the URL) each partition's XADDs go to its master.\n");
        return exit_ok;
    }
    auto url = a.option_or("--url", "");
    auto const count = a.number_or("--count", 1);
    auto const rate = a.number_or("--rate", 0);
    auto const maxlen = a.option("--maxlen");
    bool const print_ids = a.flag("--ids");
    auto const partitions = a.number_or("--partitions", 0);
    auto const key_field = a.option_or("--key", "");
    if (!key_field.empty() && partitions == 0)
        throw cli_error(exit_usage, "--key routes to partitions: give --partitions N too");
    auto pos = a.positionals();
    if (pos.empty())
        throw cli_error(exit_usage, "usage: redstream produce STREAM [field=value ...] (see --help)");
    field_list fixed;
    for (std::size_t i = 1; i < pos.size(); ++i) {
        auto eq = pos[i].find('=');
        if (eq == std::string::npos || eq == 0)
            throw cli_error(exit_usage, fmt::format("'{}' is not field=value", pos[i]));
        fixed.emplace_back(pos[i].substr(0, eq), pos[i].substr(eq + 1));
    }
    publish_options po;
    if (maxlen)
        po.maxlen = std::stoull(*maxlen);
    session s{url};
    std::size_t produced = 0;
    s.run([&]() -> asio::awaitable<void> {
        std::unique_ptr<cluster_client> cluster;
        std::unique_ptr<partitioned_producer> partitioned;
        if (partitions > 0) {
            auto const& cfg = s.client().connection().get_config();
            if (co_await cluster_client::is_cluster(cfg)) {
                cluster = std::make_unique<cluster_client>(s.io().get_executor(), cfg, s.client().get_logger());
                partitioned = std::make_unique<partitioned_producer>(*cluster, pos[0], partitions, key_field);
            } else {
                partitioned = std::make_unique<partitioned_producer>(s.client(), pos[0], partitions, key_field);
            }
        } else {
            // A key of another type fails here with a clear error, before anything is read.
            co_await require_stream(s.client(), pos[0], true);
        }
        asio::steady_timer pace{s.io()};
        auto next = std::chrono::steady_clock::now();
        auto const interval = rate > 0 ? std::chrono::nanoseconds{1'000'000'000 / rate} : std::chrono::nanoseconds{0};
        std::vector<field_list> batch;
        auto flush = [&]() -> asio::awaitable<void> {
            if (batch.empty())
                co_return;
            std::vector<stream_id> ids; // not `c ? co_await a : co_await b`: GCC 12 frees the result twice
            if (partitioned)
                ids = co_await partitioned->publish_batch(batch, po);
            else
                ids = co_await s.client().publish_batch(pos[0], batch, po);
            produced += ids.size();
            if (print_ids)
                for (auto const& id : ids)
                    fmt::print("{}\n", id.to_string());
            batch.clear();
        };
        std::size_t const batch_limit = rate > 0 ? 1 : 256;
        std::size_t line_no = 0;
        std::string line;
        for (std::uint64_t i = 0;; ++i) {
            if (!fixed.empty()) {
                if (i >= count)
                    break;
                batch.push_back(fixed);
            } else {
                if (!std::getline(std::cin, line))
                    break;
                ++line_no;
                if (line.find_first_not_of(" \t\r") == std::string::npos)
                    continue;
                batch.push_back(fields_from_json(line, line_no));
            }
            if (rate > 0) {
                next += interval;
                pace.expires_at(next);
                co_await pace.async_wait(asio::use_awaitable);
            }
            if (batch.size() >= batch_limit)
                co_await flush();
        }
        co_await flush();
        if (cluster)
            cluster->close();
    });
    fmt::print(stderr, "produced {} entries to {}\n", produced, pos[0]);
    return exit_ok;
}

} // namespace redstream::cli
