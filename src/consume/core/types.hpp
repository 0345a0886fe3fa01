#pragma once
// Words the consumer core and its driver share. Plain values: no Asio, no awaitables.

#include <redstream/protocol/stream_id.hpp>

#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace redstream::detail {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using boost::system::error_code;

/// Who holds a message: a reader's index (0, 1, ...) or one of the loops below. Each has its
/// own consumer name in the group and its own in-flight accounting.
using holder_id = std::size_t;
inline constexpr holder_id claimer_id = SIZE_MAX;
inline constexpr holder_id retrier_id = SIZE_MAX - 1;
inline constexpr holder_id keeper_id = SIZE_MAX - 2;

/// Per entry of a batch: its delivery count, or 0 when this holder must not handle it (held
/// already in this process, or no longer in its pending list).
using delivery_plan = std::vector<std::uint64_t>;

/// One acknowledgement to send: the entry, who held it, and its idempotency key (empty when
/// unused), whose "done" marker is written with the XACK.
struct ack_record {
    std::size_t stream;
    stream_id id;
    holder_id holder;
    std::string marker;
};

} // namespace redstream::detail
