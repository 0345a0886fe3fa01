#include "consume/core/verdict.hpp"

#include <string>

namespace redstream::detail {

std::optional<verdict> before_handling(std::uint64_t deliveries, std::uint64_t max_deliveries) {
    if (deliveries <= max_deliveries)
        return std::nullopt;
    return verdict{next_step::move_to_dead_letters,
                   "delivered " + std::to_string(deliveries) + " times (max_deliveries " +
                       std::to_string(max_deliveries) + ")"};
}

verdict after_handling(outcome const& out, std::uint64_t deliveries, std::uint64_t max_deliveries) {
    switch (out.what) {
    case outcome::kind::ack:
        return {next_step::ack};
    case outcome::kind::dead_letter:
        return {next_step::move_to_dead_letters, out.reason.empty() ? "handler asked to dead-letter" : out.reason};
    case outcome::kind::retry:
        break;
    }
    if (deliveries >= max_deliveries)
        return {next_step::move_to_dead_letters, out.reason.empty() ? "handler failed" : out.reason, {}, true};
    if (out.delay.count() > 0)
        return {next_step::redeliver_later, out.reason, out.delay, true};
    return {next_step::leave_pending, out.reason, {}, true};
}

} // namespace redstream::detail
