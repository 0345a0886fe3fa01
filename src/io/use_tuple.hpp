#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace redstream::detail {

/// The token of coroutines that handle an operation's error themselves instead of catching a
/// system_error: `auto [ec, n] = co_await conn.async_exec(req, adapt(x), use_tuple);`.
inline constexpr auto use_tuple = boost::asio::as_tuple(boost::asio::use_awaitable);

} // namespace redstream::detail
