#pragma once

#include <redstream/protocol/stream_id.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace redstream {

struct field_view {
    std::string_view name;
    std::string_view value;
};

/// Entries of one stream from one reply (XRANGE, XREADGROUP, XCLAIM, XAUTOCLAIM), stored in a
/// single arena: reading a batch costs a few amortised allocations, not two per field.
///
/// Views returned by a batch (names, values, entry views) stay valid while the batch is alive
/// and unmodified; moving the batch keeps them valid only if the arena is not small-string
/// optimised, so copy what you keep beyond the batch's life.
class entry_batch {
public:
    class entry_view;

    [[nodiscard]] std::string_view stream() const noexcept { return stream_; }
    [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
    [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }
    [[nodiscard]] entry_view operator[](std::size_t i) const noexcept;

    /// Entries that came back as a bare nil (XCLAIM/XAUTOCLAIM on Redis 6.2 for entries that
    /// were deleted): their ids are unknown.
    [[nodiscard]] std::size_t nil_entries() const noexcept { return nil_entries_; }

    /// Payload bytes held (names and values).
    [[nodiscard]] std::size_t payload_bytes() const noexcept { return arena_.size(); }

    // Building, used by the reply reader and tests.
    void clear() noexcept;
    void set_stream(std::string_view s) { stream_.assign(s); }
    void add_entry(stream_id id, bool deleted);
    void add_field(std::string_view name, std::string_view value);
    /// Adds a field whose value arrives later (the name is copied now: it may not outlive the
    /// reader's input buffer).
    void add_field_name(std::string_view name);
    void set_last_field_value(std::string_view value);
    void add_nil_entry() noexcept { ++nil_entries_; }
    void reserve(std::size_t entries, std::size_t bytes);

private:
    friend class entry_view;
    struct entry_rec {
        stream_id id;
        std::size_t first_field;
        std::size_t field_count;
        bool deleted;
    };
    struct field_rec {
        std::size_t name_off;
        std::size_t name_len;
        std::size_t value_off;
        std::size_t value_len;
    };

    std::string stream_;
    std::string arena_;
    std::vector<entry_rec> entries_;
    std::vector<field_rec> fields_;
    std::size_t nil_entries_ = 0;
};

/// One entry of a batch: its id, whether it was deleted (a pending id whose entry is gone), and
/// its fields in stream order.
class entry_batch::entry_view {
public:
    entry_view(entry_batch const* b, std::size_t i) noexcept : batch_(b), index_(i) {}

    [[nodiscard]] stream_id id() const noexcept { return rec().id; }
    [[nodiscard]] bool deleted() const noexcept { return rec().deleted; }
    [[nodiscard]] std::size_t field_count() const noexcept { return rec().field_count; }
    [[nodiscard]] field_view field(std::size_t i) const noexcept;
    /// The value of the first field named `name`.
    [[nodiscard]] std::optional<std::string_view> find(std::string_view name) const noexcept;

private:
    [[nodiscard]] entry_rec const& rec() const noexcept { return batch_->entries_[index_]; }
    entry_batch const* batch_;
    std::size_t index_;
};

inline entry_batch::entry_view entry_batch::operator[](std::size_t i) const noexcept { return {this, i}; }

/// An XREAD/XREADGROUP reply: one batch per stream that had entries. Empty when the server
/// replied nil (nothing new).
struct read_reply {
    std::vector<entry_batch> streams;

    [[nodiscard]] std::size_t entry_count() const noexcept {
        std::size_t n = 0;
        for (auto const& s : streams)
            n += s.size();
        return n;
    }
};

/// XAUTOCLAIM. Redis 6.2 sends two elements (deleted entries appear as nil in `claimed`);
/// Redis 7+ sends a third: ids that were deleted from the stream and dropped from the PEL.
struct autoclaim_reply {
    stream_id next_cursor;          ///< 0-0 once the scan has wrapped
    entry_batch claimed;
    std::vector<stream_id> deleted; ///< empty on Redis 6.2
};

/// XPENDING key group (summary form).
struct pending_summary {
    std::uint64_t count = 0;
    std::optional<stream_id> smallest;
    std::optional<stream_id> largest;
    std::vector<std::pair<std::string, std::uint64_t>> consumers;
};

/// One row of XPENDING key group [IDLE ms] start end count [consumer] (extended form).
struct pending_entry {
    stream_id id;
    std::string consumer;
    std::uint64_t idle_ms = 0;
    std::uint64_t deliveries = 0;
};

} // namespace redstream
