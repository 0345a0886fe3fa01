#pragma once
/// @file
/// What a handler returns: ack, retry, retry after a delay, or dead-letter.

#include <chrono>
#include <string>

namespace redstream {

/// What a handler decided for one message: the value a worker::handler's awaitable returns.
/// Build it with redstream::ack, retry(), retry_after() or dead_letter() rather than by hand.
///
/// A handler that throws is treated as `retry(e.what())`. A retry (or a throw) on the message's
/// worker_options::max_deliveries-th delivery, or a later one, dead-letters it instead.
struct outcome {
    /// The three things a handler can ask for.
    enum class kind {
        ack,          ///< done: acknowledged in the next batched XACK
        retry,        ///< leave it pending; redelivered after `delay` (or by the claim loop)
        dead_letter,  ///< move it to the dead-letter stream now, atomically with its XACK
    };
    kind what = kind::ack; ///< what to do with the message
    /// For kind::retry only: redeliver after this long (see retry_after()); zero or less leaves
    /// the redelivery to the claim loop, after worker_options::min_idle.
    std::chrono::milliseconds delay{0};
    /// Why it failed or is dead-lettered: logged (at debug level for a retry), and stored as
    /// the dead-letter entry's `last_error` field. Unused for kind::ack.
    std::string reason;
};

/// The message was handled: acknowledge it.
inline outcome const ack{outcome::kind::ack, {}, {}};

/// Leave the message pending: the claim loop redelivers it once it has been idle for
/// worker_options::min_idle. After max_deliveries attempts it is dead-lettered.
inline outcome retry(std::string reason = {}) { return {outcome::kind::retry, {}, std::move(reason)}; }

/// Redeliver the message after `delay` (scheduled with XCLAIM; no coroutine sleeps per message).
///
/// The worker keeps the schedule in memory, at most worker_options::max_in_flight entries:
/// beyond that, or if the worker stops or the process dies before the delay is up, the message
/// is left to the claim loop (after min_idle) instead. When due it is claimed, only if it has
/// been idle for at least `delay / 2` (so a message another process took meanwhile is left
/// alone), by the worker's retry consumer `<prefix>.<identity>.retry`, which handles it.
/// A `delay` of zero or less behaves like retry().
inline outcome retry_after(std::chrono::milliseconds delay, std::string reason = {}) {
    return {outcome::kind::retry, delay, std::move(reason)};
}

/// Move the message to the dead-letter stream now (worker_options::dead_letter_stream), with
/// `reason` as its `last_error` field (empty: "handler asked to dead-letter"). The add and the
/// XACK run in one script that acks only if the add succeeded: a refused add (wrong key type,
/// OOM, NOPERM) leaves the message pending, and the failure is logged.
inline outcome dead_letter(std::string reason) { return {outcome::kind::dead_letter, {}, std::move(reason)}; }

} // namespace redstream
