#include <redstream/io/connection.hpp>
#include <redstream/protocol/stream_readers.hpp>

#include <boost/asio/io_context.hpp>

#include <iostream>

int main() {
    boost::asio::io_context ioc;
    redstream::connection conn{ioc.get_executor(), redstream::config::from_url("redis://127.0.0.1:1")};
    redstream::request req;
    req.push("XLEN", "orders");
    std::cout << "consumer built against redstream; request bytes: " << req.payload().size() << "\n";
    return req.payload().empty() ? 1 : 0;
}
