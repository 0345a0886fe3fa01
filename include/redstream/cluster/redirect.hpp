#pragma once
/// @file
/// MOVED and ASK redirects: the text of the error reply, parsed.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace redstream::cluster {

/// Where a cluster node sent a command instead of running it.
struct redirect {
    /// Which redirect.
    enum class kind {
        moved, ///< the slot lives on `host:port` now: route the slot there from now on
        ask,   ///< the slot is migrating and this key is on `host:port`: send ASKING, then the command, once
    };
    kind type = kind::moved; ///< MOVED or ASK
    std::uint16_t slot = 0;  ///< the slot of the command's key
    /// The node's address. Empty when the node did not know its own endpoint (Redis sends
    /// "MOVED 3999 :6380" then): the address of the node that replied, with this port.
    std::string host;
    std::uint16_t port = 0; ///< the node's port
};

/// Parses "MOVED <slot> <host>:<port>" or "ASK <slot> <host>:<port>" (the full text of the
/// error reply). The port follows the last ':' so IPv6 hosts ("::1:6380") parse. Anything else
/// (another error, a slot outside 0..16383, a port outside 1..65535) gives nullopt.
[[nodiscard]] std::optional<redirect> parse_redirect(std::string_view error_text);

} // namespace redstream::cluster
