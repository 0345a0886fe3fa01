#pragma once

// What the worker needs of a connection beyond its public API: reads whose replies reach their
// consumer straight from the reader. Internal (src/ only).

#include <redstream/detail/fwd.hpp>
#include <redstream/io/connection.hpp>

#include <boost/asio/any_completion_handler.hpp>

#include <cstddef>

namespace redstream::detail {

struct connection_internals {
    /// async_exec() whose successful completion runs inline, from the connection's reader right
    /// after it parsed the reply, instead of through post(): on the path from a reply to a
    /// handler that saves a scheduler pass, a reactor poll and the reader's next (empty) read.
    /// Failures, cancels and closes still complete through post(). So a reply completed inline
    /// runs before the posted completions of replies parsed ahead of it in the same read: the
    /// caller must not depend on that order (the worker's blocking read does not: an XACK's
    /// confirmation only gives back room).
    ///
    /// So `h` runs inside the reader: it must run on the connection's executor, must not throw
    /// (what it throws leaves io_context::run()), and may call the connection again (exec,
    /// cancel, close), which only queues work for after it returns.
    static void exec_completing_inline(connection& c, request const& req, any_adapter adapter,
                                       boost::asio::any_completion_handler<void(error_code, std::size_t)> h);
};

} // namespace redstream::detail
