#pragma once
/// @file
/// Typed stream replies: entry batches (one arena each), and the XREAD, XAUTOCLAIM and
/// XPENDING replies.

#include <redstream/protocol/stream_id.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace redstream {

/// One field of a stream entry: views into the arena of the entry_batch it came from, valid
/// as long as that batch is alive and unmodified (see entry_batch).
struct field_view {
    std::string_view name;  ///< the field's name, as sent (binary-safe, may be empty)
    std::string_view value; ///< the field's value, as sent (binary-safe, may be empty)
};

/// Entries of one stream from one reply (XRANGE, XREADGROUP, XCLAIM, XAUTOCLAIM), stored in a
/// single arena: reading a batch costs a few amortised allocations, not two per field.
///
/// Views returned by a batch (names, values, entry views) stay valid while the batch is alive
/// and unmodified; moving the batch keeps them valid only if the arena is not small-string
/// optimised, so copy what you keep beyond the batch's life.
///
/// An entry_view refers to the batch object itself (not to its arena), so it never survives a
/// move of the batch. Building the batch (add_entry(), add_field(), clear()...) invalidates the
/// views handed out before.
class entry_batch {
public:
    class entry_view;

    /// The stream the entries belong to. Set from the reply for XREAD/XREADGROUP (read_reply);
    /// empty for a batch read directly from XRANGE, XCLAIM or XAUTOCLAIM, whose replies do not
    /// name the stream (set_stream() sets it).
    [[nodiscard]] std::string_view stream() const noexcept { return stream_; }
    /// Entries held, deleted ones included (nil_entries() are not).
    [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
    /// True when the batch holds no entry (nil_entries() may still be non-zero).
    [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }
    /// Entry `i`, in reply order: `i` < size(), not bounds-checked.
    [[nodiscard]] entry_view operator[](std::size_t i) const noexcept;

    /// Entries that came back as a bare nil (XCLAIM/XAUTOCLAIM on Redis 6.2 for entries that
    /// were deleted): their ids are unknown.
    [[nodiscard]] std::size_t nil_entries() const noexcept { return nil_entries_; }

    /// Payload bytes held (names and values).
    [[nodiscard]] std::size_t payload_bytes() const noexcept { return arena_.size(); }

    // Building, used by the reply reader and tests.
    /// Empties the batch (stream name, entries, fields, nil count), keeping its capacity.
    void clear() noexcept;
    /// Sets the name stream() returns (copied).
    void set_stream(std::string_view s) { stream_.assign(s); }
    /// Appends an entry with no fields yet; `deleted` marks a pending id whose entry is gone.
    void add_entry(stream_id id, bool deleted);
    /// Appends a field (both strings copied into the arena) to the last entry added; an entry
    /// must have been added first.
    void add_field(std::string_view name, std::string_view value);
    /// Adds a field whose value arrives later (the name is copied now: it may not outlive the
    /// reader's input buffer).
    void add_field_name(std::string_view name);
    /// Sets (copies) the value of the field added last by add_field_name().
    void set_last_field_value(std::string_view value);
    /// Counts one bare-nil entry (see nil_entries()).
    void add_nil_entry() noexcept { ++nil_entries_; }
    /// Reserves room for `entries` entries and `bytes` of names and values.
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
///
/// A small value (a pointer to the batch and an index): it dangles once the batch is moved,
/// destroyed or rebuilt.
class entry_batch::entry_view {
public:
    /// Entry `i` of `*b` (use entry_batch::operator[] instead).
    entry_view(entry_batch const* b, std::size_t i) noexcept : batch_(b), index_(i) {}

    /// The entry's id.
    [[nodiscard]] stream_id id() const noexcept { return rec().id; }
    /// True for a pending id whose entry was deleted or trimmed (it has no fields).
    [[nodiscard]] bool deleted() const noexcept { return rec().deleted; }
    /// The number of field/value pairs (0 for a deleted entry).
    [[nodiscard]] std::size_t field_count() const noexcept { return rec().field_count; }
    /// Field `i` in stream order: `i` < field_count(), not bounds-checked.
    [[nodiscard]] field_view field(std::size_t i) const noexcept;
    /// The value of the first field named `name` (exact match, linear scan); nullopt if none.
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
    /// One batch per stream of the reply, in reply order, each with its stream() set.
    std::vector<entry_batch> streams;

    /// Entries over all streams (deleted entries included).
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
    /// The entries claimed, now in the claiming consumer's pending list. Its stream() is empty
    /// (the reply does not name the stream); on Redis 6.2 deleted entries count in
    /// nil_entries().
    entry_batch claimed;
    std::vector<stream_id> deleted; ///< empty on Redis 6.2
};

/// XPENDING key group (summary form).
struct pending_summary {
    std::uint64_t count = 0;                ///< entries pending in the group
    std::optional<stream_id> smallest;      ///< lowest pending id; nullopt when nothing is pending
    std::optional<stream_id> largest;       ///< highest pending id; nullopt when nothing is pending
    /// (consumer name, entries it has pending), for consumers with at least one.
    std::vector<std::pair<std::string, std::uint64_t>> consumers;
};

/// One row of XPENDING key group [IDLE ms] start end count [consumer] (extended form). Read
/// the whole reply into a `std::vector<pending_entry>`.
struct pending_entry {
    stream_id id;                 ///< the pending entry's id
    std::string consumer;         ///< the consumer whose pending list holds it
    std::uint64_t idle_ms = 0;    ///< milliseconds since it was last delivered
    std::uint64_t deliveries = 0; ///< times it has been delivered
};

} // namespace redstream
