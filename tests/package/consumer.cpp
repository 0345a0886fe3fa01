// A downstream program: it includes every public header (the umbrella) under the user's strict
// warnings, builds a request, and checks that the headers and the linked library agree on the
// version. It makes no connection.

#include <redstream/redstream.hpp>
#include <redstream/version.hpp>

#include <boost/asio/io_context.hpp>

#include <cstring>
#include <iostream>

int main() {
    boost::asio::io_context ioc;
    redstream::client cl{ioc.get_executor(), redstream::config::from_url("redis://127.0.0.1:1")};
    redstream::worker w{cl, {.stream = "orders", .group = "billing"}};
    redstream::metrics_registry metrics;
    metrics.add(w);
    redstream::request req;
    req.push("XLEN", "orders");
    std::cout << "consumer built against redstream " << redstream::header_version << ", linked "
              << redstream::library_version() << "; request bytes: " << req.payload().size() << "\n";
    if (std::strcmp(redstream::header_version, redstream::library_version()) != 0)
        return 1;
    return req.payload().empty() ? 1 : 0;
}
