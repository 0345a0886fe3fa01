#pragma once
/// @file
/// Replies recorded as they arrive and played back later into another adapter: how a request
/// split over several nodes answers its caller in the caller's order.

#include <redstream/protocol/adapter.hpp>
#include <redstream/resp/node.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace redstream::cluster {

/// One reply's elements, copied.
struct recorded_reply {
    /// One element, as resp::node describes it, with its value copied.
    struct element {
        resp::type data_type = resp::type::null; ///< see resp::node::data_type
        std::size_t children = 0;                ///< see resp::node::children
        std::size_t depth = 0;                   ///< see resp::node::depth
        std::string value;                       ///< resp::node::value, copied
        bool out_of_band = false;                ///< see resp::node::out_of_band
    };
    std::vector<element> elements; ///< in the order they arrived (pre-order)

    /// The text of a top-level error reply ("MOVED 3999 …"), or empty for any other reply.
    [[nodiscard]] std::string_view error_text() const noexcept {
        return !elements.empty() && resp::is_error(elements.front().data_type) ? std::string_view{elements.front().value}
                                                                                : std::string_view{};
    }
};

/// The replies of one sub-request. adapter() records into `replies[i]` the elements of its
/// i-th reply (the vector grows as needed); the tape must outlive the request.
class reply_tape {
public:
    std::vector<recorded_reply> replies; ///< by reply index within the sub-request

    /// An adapter that records into this tape (never fails: errors are recorded too).
    [[nodiscard]] any_adapter adapter();

    /// Feeds `r` to `out` as reply `index`, as a connection would: the error text first (for
    /// first_error()), then every element. Returns the adapter's error, if any.
    static error_code play(recorded_reply const& r, std::size_t index, any_adapter& out);
};

} // namespace redstream::cluster
