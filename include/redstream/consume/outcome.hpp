#pragma once

#include <chrono>
#include <string>

namespace redstream {

/// What a handler decided for one message.
struct outcome {
    enum class kind {
        ack,          ///< done: acknowledged in the next batched XACK
        retry,        ///< leave it pending; redelivered after `delay` (or by the claim loop)
        dead_letter,  ///< move it to the dead-letter stream now, atomically with its XACK
    };
    kind what = kind::ack;
    std::chrono::milliseconds delay{0};
    std::string reason;
};

/// The message was handled: acknowledge it.
inline outcome const ack{outcome::kind::ack, {}, {}};

/// Leave the message pending: the claim loop redelivers it once it has been idle for
/// worker_options::min_idle. After max_deliveries attempts it is dead-lettered.
inline outcome retry(std::string reason = {}) { return {outcome::kind::retry, {}, std::move(reason)}; }

/// Redeliver the message after `delay` (scheduled with XCLAIM; no coroutine sleeps per message).
inline outcome retry_after(std::chrono::milliseconds delay, std::string reason = {}) {
    return {outcome::kind::retry, delay, std::move(reason)};
}

/// Move the message to the dead-letter stream now.
inline outcome dead_letter(std::string reason) { return {outcome::kind::dead_letter, {}, std::move(reason)}; }

} // namespace redstream
