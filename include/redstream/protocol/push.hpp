#pragma once

#include <string>
#include <vector>

namespace redstream {

/// A RESP3 push the server sent outside any reply: pub/sub messages ("message", "pmessage",
/// "smessage"), keyspace notifications (which arrive as pub/sub messages) and "invalidate".
/// `args` holds the push's strings in order, e.g. for a keyspace event
/// kind "message", args {"__keyspace@0__:orders", "xadd"}.
struct push_message {
    std::string kind;
    std::vector<std::string> args;
};

} // namespace redstream
