#include <redstream/ops/prometheus_collectable.hpp>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace redstream {

namespace asio = boost::asio;

namespace {

prometheus::MetricType to_prometheus(metric_type t) {
    switch (t) {
    case metric_type::counter: return prometheus::MetricType::Counter;
    case metric_type::histogram: return prometheus::MetricType::Histogram;
    case metric_type::gauge: break;
    }
    return prometheus::MetricType::Gauge;
}

prometheus::ClientMetric to_prometheus(metric_type type, metric_sample const& s) {
    prometheus::ClientMetric m;
    m.label.reserve(s.labels.size());
    for (auto const& l : s.labels)
        m.label.push_back({l.name, l.value});
    switch (type) {
    case metric_type::counter: m.counter.value = s.value; break;
    case metric_type::gauge: m.gauge.value = s.value; break;
    case metric_type::histogram:
        m.histogram.sample_count = s.count;
        m.histogram.sample_sum = s.sum;
        m.histogram.bucket.reserve(s.buckets.size());
        for (auto const& b : s.buckets)
            m.histogram.bucket.push_back({b.cumulative_count, b.upper_bound});
        break;
    }
    return m;
}

} // namespace

prometheus_collectable::prometheus_collectable(asio::any_io_executor ex, metrics_registry& registry)
    : registry_(registry), timer_(std::move(ex)) {}

std::vector<prometheus::MetricFamily> prometheus_collectable::convert(std::vector<metric_family> const& families) {
    std::vector<prometheus::MetricFamily> out;
    out.reserve(families.size());
    for (auto const& f : families) {
        prometheus::MetricFamily pf;
        pf.name = f.name;
        pf.help = f.help;
        pf.type = to_prometheus(f.type);
        pf.metric.reserve(f.samples.size());
        for (auto const& s : f.samples)
            pf.metric.push_back(to_prometheus(f.type, s));
        out.push_back(std::move(pf));
    }
    return out;
}

asio::awaitable<void> prometheus_collectable::refresh() {
    auto const sampled = co_await registry_.sample();
    auto families = convert(registry_.collect(sampled));
    std::lock_guard lock{mutex_};
    snapshot_.swap(families);
}

asio::awaitable<void> prometheus_collectable::run(std::chrono::milliseconds interval) {
    while (!stop_requested_) {
        co_await refresh();
        if (stop_requested_)
            break;
        timer_.expires_after(interval);
        boost::system::error_code ec;
        co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (ec) // stop(), or the awaiting coroutine was cancelled
            break;
    }
}

void prometheus_collectable::stop() {
    stop_requested_ = true;
    timer_.cancel();
}

std::vector<prometheus::MetricFamily> prometheus_collectable::Collect() const {
    std::lock_guard lock{mutex_};
    return snapshot_;
}

} // namespace redstream
