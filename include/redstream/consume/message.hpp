#pragma once
/// @file
/// The zero-copy view of one stream entry that a worker hands to its handler.

#include <redstream/protocol/entry_batch.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace redstream {

/// One stream entry delivered to a handler.
///
/// **Lifetime**: zero-copy. The message and every string_view it returns point into the reply
/// buffer of its batch and are valid until the handler's awaitable completes. Copy what you
/// keep longer (copying the message object itself copies only the views).
///
/// **Thread safety**: read it on the worker's executor, where the handler is called; hand
/// copies of the data, not the message, to other threads.
class message {
public:
    /// A view of entry `index` of `batch` (not bounds-checked). The worker builds messages; the
    /// constructor is public for tests and custom drivers. Nothing is copied: `batch`, `group`
    /// and `consumer` must outlive the message, and the batch must not be moved or modified
    /// meanwhile.
    message(entry_batch const& batch, std::size_t index, std::string_view group, std::string_view consumer,
            std::uint64_t deliveries) noexcept
        : entry_(batch[index]), stream_(batch.stream()), group_(group), consumer_(consumer),
          deliveries_(deliveries) {}

    /// The stream the entry was read from (one of worker_options::stream / streams).
    [[nodiscard]] std::string_view stream() const noexcept { return stream_; }
    /// The entry's id in its stream.
    [[nodiscard]] stream_id id() const noexcept { return entry_.id(); }
    /// The consumer group the message was delivered through (worker_options::group).
    [[nodiscard]] std::string_view group() const noexcept { return group_; }
    /// The consumer that holds the message in its pending list. That is
    /// `<prefix>.<identity>.<n>` for a read, `<prefix>.<identity>.claim` for a claimed message
    /// and `<prefix>.<identity>.retry` for a retry_after() redelivery.
    [[nodiscard]] std::string_view consumer() const noexcept { return consumer_; }
    /// 1 on the first delivery; counted by Redis across consumers and claims.
    [[nodiscard]] std::uint64_t deliveries() const noexcept { return deliveries_; }

    /// The value of the first field called `name` (case-sensitive, linear in the number of
    /// fields); nullopt when the entry has none.
    [[nodiscard]] std::optional<std::string_view> field(std::string_view name) const noexcept {
        return entry_.find(name);
    }
    /// The value of field `name`, or `fallback` when absent.
    [[nodiscard]] std::string_view field_or(std::string_view name, std::string_view fallback) const noexcept {
        auto v = entry_.find(name);
        return v ? *v : fallback;
    }
    /// The number of field/value pairs, duplicates of a name included.
    [[nodiscard]] std::size_t field_count() const noexcept { return entry_.field_count(); }
    /// Fields in stream order: `i` in [0, field_count()), not bounds-checked.
    [[nodiscard]] field_view field_at(std::size_t i) const noexcept { return entry_.field(i); }

    /// When the entry was added (the id's millisecond part, for server-generated ids).
    [[nodiscard]] std::chrono::system_clock::time_point timestamp() const noexcept {
        return std::chrono::system_clock::time_point{std::chrono::milliseconds{id().ms}};
    }

private:
    entry_batch::entry_view entry_;
    std::string_view stream_;
    std::string_view group_;
    std::string_view consumer_;
    std::uint64_t deliveries_;
};

} // namespace redstream
