#pragma once

#include <redstream/detail/fwd.hpp>
#include <redstream/io/connection.hpp>
#include <redstream/protocol/stream_id.hpp>

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace redstream {

/// Options of XADD for publish().
struct publish_options {
    std::optional<std::size_t> maxlen; ///< MAXLEN ~ n (approximate trimming; cheap)
    bool exact_trim = false;           ///< MAXLEN = n instead of ~
};

using field_list = std::vector<std::pair<std::string, std::string>>;

/// The entry point: one multiplexed connection (kept alive and reconnected in the background
/// on the caller's executor), keyspace-notification routing for workers, and producing.
///
/// **Thread safety**: none; use it on its executor's thread.
class client {
public:
    client(boost::asio::any_io_executor ex, config cfg, logger log = {});
    ~client();
    client(client const&) = delete;
    client& operator=(client const&) = delete;

    [[nodiscard]] boost::asio::any_io_executor get_executor() const;
    [[nodiscard]] redstream::connection& connection() noexcept;
    [[nodiscard]] logger const& get_logger() const noexcept;

    /// Closes the connection; pending and later operations fail with errc::closed.
    void close();

    /// XADD `fields` to `stream`; returns the new id.
    boost::asio::awaitable<stream_id> publish(std::string_view stream, field_list const& fields,
                                              publish_options opts = {});
    /// Pipelines one XADD per element in a single request; returns the ids in order.
    boost::asio::awaitable<std::vector<stream_id>> publish_batch(std::string_view stream,
                                                                 std::vector<field_list> const& messages,
                                                                 publish_options opts = {});

private:
    friend struct detail::client_internals; // the worker's listeners and blocking-read turn (src/io)
    std::shared_ptr<detail::client_impl> impl_;
};

} // namespace redstream
