#pragma once

/// @file
/// Readers for the stream command replies: XRANGE/XCLAIM (entry_batch), XREAD/XREADGROUP
/// (read_reply), XAUTOCLAIM (both reply shapes), XPENDING (both forms) and XINFO.

#include <redstream/detail/protocol/entry_parser.hpp>
#include <redstream/detail/protocol/object_reader.hpp>
#include <redstream/protocol/entry_batch.hpp>
#include <redstream/protocol/info_types.hpp>
#include <redstream/protocol/reply_reader.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace redstream {

/// Reads an array of entries (XRANGE, XREVRANGE, XCLAIM): each `[id, [field, value, ...]]`,
/// `[id, nil]` (a deleted entry, entry_view::deleted()) or a bare nil (Redis 6.2 XCLAIM of a
/// deleted entry, counted in nil_entries()). Null reads as an empty batch. The reply does not
/// name the stream: the batch's stream() stays empty.
template <>
struct reader<entry_batch> {
    /// Binds to `out` and clears it (stream name included).
    void start(entry_batch& out) noexcept {
        out.clear();
        list_.start(out);
    }
    /// Adds entries as they complete; true after the last one.
    bool feed(resp::node const& n, error_code& ec) { return list_.feed(n, ec); }

private:
    detail::entry_list_parser list_;
};

/// Reads an XREAD/XREADGROUP reply in either shape: a RESP3 map of stream name to entries,
/// or a RESP2 array of `[stream, entries]` pairs. Nil (nothing new, or a BLOCK that timed out)
/// reads as no streams.
template <>
struct reader<read_reply> {
    /// Binds to `out` and clears its streams.
    void start(read_reply& out) noexcept;
    /// Adds one batch per stream; true after the last one.
    bool feed(resp::node const& n, error_code& ec);

private:
    enum class state { root, pair_root, key, entries };
    read_reply* out_ = nullptr;
    detail::entry_list_parser list_;
    state state_ = state::root;
    std::size_t remaining_ = 0;
    bool is_map_ = false;
};

/// Reads an XAUTOCLAIM reply: `[cursor, entries]` (Redis 6.2) or `[cursor, entries, deleted
/// ids]` (Redis 7+).
template <>
struct reader<autoclaim_reply> {
    /// Binds to `out` and resets it (cursor 0-0, no entries, no deleted ids).
    void start(autoclaim_reply& out) noexcept;
    /// True after the reply's last element.
    bool feed(resp::node const& n, error_code& ec);

private:
    autoclaim_reply* out_ = nullptr;
    detail::entry_list_parser list_;
    reader<std::vector<stream_id>> deleted_;
    int state_ = 0;
    std::size_t elements_ = 0;
};

/// Reads the summary form of XPENDING: `[count, smallest, largest, [[consumer, count], ...]]`,
/// with nil ids and consumers when nothing is pending.
template <>
struct reader<pending_summary> {
    /// Binds to `out` and resets it.
    void start(pending_summary& out) noexcept;
    /// True after the consumer list.
    bool feed(resp::node const& n, error_code& ec);

private:
    pending_summary* out_ = nullptr;
    reader<std::vector<std::pair<std::string, std::uint64_t>>> consumers_;
    int state_ = 0;
};

/// Reads one row of the extended form of XPENDING, `[id, consumer, idle, deliveries]`; read
/// the reply into a `std::vector<pending_entry>`.
template <>
struct reader<pending_entry> {
    /// Binds to `out` (every field is overwritten).
    void start(pending_entry& out) noexcept {
        out_ = &out;
        state_ = 0;
    }
    /// True after the fourth element.
    bool feed(resp::node const& n, error_code& ec);

private:
    pending_entry* out_ = nullptr;
    int state_ = 0;
};

/// Reads XINFO STREAM (not the FULL form): a RESP3 map or RESP2 flat key/value array; keys
/// it does not know are skipped.
template <>
struct reader<stream_info> final : detail::object_reader {
    /// Binds to `out` and resets it to a default stream_info.
    void start(stream_info& out) noexcept {
        out_ = &out;
        out = {};
        start_object();
    }
    using detail::object_reader::feed;

private:
    void on_scalar(std::string_view key, resp::node const& n, error_code& ec) override;
    detail::nested_value* on_aggregate(std::string_view key) override;
    stream_info* out_ = nullptr;
    detail::owned_entry_parser entry_;
};

/// Reads one group of XINFO GROUPS (a map or flat key/value array; unknown keys skipped).
template <>
struct reader<group_info> final : detail::object_reader {
    /// Binds to `out` and resets it to a default group_info.
    void start(group_info& out) noexcept {
        out_ = &out;
        out = {};
        start_object();
    }
    using detail::object_reader::feed;

private:
    void on_scalar(std::string_view key, resp::node const& n, error_code& ec) override;
    group_info* out_ = nullptr;
};

/// Reads one consumer of XINFO CONSUMERS (a map or flat key/value array; unknown keys
/// skipped).
template <>
struct reader<consumer_info> final : detail::object_reader {
    /// Binds to `out` and resets it to a default consumer_info.
    void start(consumer_info& out) noexcept {
        out_ = &out;
        out = {};
        start_object();
    }
    using detail::object_reader::feed;

private:
    void on_scalar(std::string_view key, resp::node const& n, error_code& ec) override;
    consumer_info* out_ = nullptr;
};

} // namespace redstream
