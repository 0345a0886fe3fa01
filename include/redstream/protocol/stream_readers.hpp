#pragma once

// Readers for the stream command replies: XRANGE/XCLAIM (entry_batch), XREAD/XREADGROUP
// (read_reply), XAUTOCLAIM (both reply shapes), XPENDING (both forms) and XINFO.

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

template <>
struct reader<entry_batch> {
    void start(entry_batch& out) noexcept {
        out.clear();
        list_.start(out);
    }
    bool feed(resp::node const& n, error_code& ec) { return list_.feed(n, ec); }

private:
    detail::entry_list_parser list_;
};

template <>
struct reader<read_reply> {
    void start(read_reply& out) noexcept;
    bool feed(resp::node const& n, error_code& ec);

private:
    enum class state { root, pair_root, key, entries };
    read_reply* out_ = nullptr;
    detail::entry_list_parser list_;
    state state_ = state::root;
    std::size_t remaining_ = 0;
    bool is_map_ = false;
};

template <>
struct reader<autoclaim_reply> {
    void start(autoclaim_reply& out) noexcept;
    bool feed(resp::node const& n, error_code& ec);

private:
    autoclaim_reply* out_ = nullptr;
    detail::entry_list_parser list_;
    reader<std::vector<stream_id>> deleted_;
    int state_ = 0;
    std::size_t elements_ = 0;
};

template <>
struct reader<pending_summary> {
    void start(pending_summary& out) noexcept;
    bool feed(resp::node const& n, error_code& ec);

private:
    pending_summary* out_ = nullptr;
    reader<std::vector<std::pair<std::string, std::uint64_t>>> consumers_;
    int state_ = 0;
};

template <>
struct reader<pending_entry> {
    void start(pending_entry& out) noexcept {
        out_ = &out;
        state_ = 0;
    }
    bool feed(resp::node const& n, error_code& ec);

private:
    pending_entry* out_ = nullptr;
    int state_ = 0;
};

template <>
struct reader<stream_info> final : detail::object_reader {
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

template <>
struct reader<group_info> final : detail::object_reader {
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

template <>
struct reader<consumer_info> final : detail::object_reader {
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
