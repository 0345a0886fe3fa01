#pragma once
/// @file
/// RESP3 pushes (pub/sub messages, keyspace notifications) as delivered to receivers.

#include <string>
#include <vector>

namespace redstream {

/// A RESP3 push the server sent outside any reply: pub/sub messages ("message", "pmessage",
/// "smessage"), keyspace notifications (which arrive as pub/sub messages) and "invalidate".
/// `args` holds the push's strings in order, e.g. for a keyspace event
/// kind "message", args {"__keyspace@0__:orders", "xadd"}.
///
/// Subscription confirmations ("subscribe", "unsubscribe"...) are consumed by the connection
/// and never delivered. Nested aggregates are flattened: only the push's strings (and other
/// scalars, as text) are kept.
struct push_message {
    std::string kind;              ///< the push's first element: "message", "pmessage", "invalidate"...
    std::vector<std::string> args; ///< the elements after `kind`, in order
};

} // namespace redstream
