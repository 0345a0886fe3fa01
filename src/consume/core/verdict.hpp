#pragma once
// What a handler's outcome means for its message.

#include "consume/core/types.hpp"

#include <redstream/consume/outcome.hpp>

#include <optional>

namespace redstream::detail {

/// What the driver does with a message.
enum class next_step {
    ack,               ///< queue its XACK (with its idempotency marker)
    move_to_dead_letters, ///< add it to the dead-letter stream and XACK it, in one script
    redeliver_later,   ///< leave it pending; the retry loop XCLAIMs it after `delay`
    leave_pending,     ///< leave it pending; a claim redelivers it after min_idle
};

struct verdict {
    next_step step;
    std::string reason{};   // why it is dead-lettered
    milliseconds delay{0};  // redeliver_later
    bool failed = false;    // the handler did not succeed (counts as a failure)
};

/// Before the handler: a message delivered more than `max_deliveries` times is dead-lettered
/// unhandled.
[[nodiscard]] std::optional<verdict> before_handling(std::uint64_t deliveries, std::uint64_t max_deliveries);

/// After the handler: ack, dead letter (asked for, or the last allowed delivery failed),
/// redelivery after a delay, or pending until a claim.
[[nodiscard]] verdict after_handling(outcome const& out, std::uint64_t deliveries, std::uint64_t max_deliveries);

} // namespace redstream::detail
