// A downstream program of the prometheus-cpp adapter: converts a registry's families and
// serializes them with prometheus-cpp. It makes no connection.

#include <redstream/ops/prometheus_collectable.hpp>

#include <prometheus/text_serializer.h>

#include <boost/asio/io_context.hpp>

#include <iostream>

int main() {
    boost::asio::io_context ioc;
    redstream::metrics_registry metrics;
    auto const families = redstream::prometheus_collectable::convert(metrics.collect({}));
    auto const text = prometheus::TextSerializer{}.Serialize(families);
    std::cout << text.size() << " bytes of exposition through prometheus-cpp\n";
    return text.find("redstream_build_info") == std::string::npos ? 1 : 0;
}
