#pragma once

// Readers for the stream command replies: XRANGE/XCLAIM (entry_batch), XREAD/XREADGROUP
// (read_reply), XAUTOCLAIM (both reply shapes), XPENDING (both forms) and XINFO.

#include <redstream/protocol/entry_batch.hpp>
#include <redstream/protocol/info_types.hpp>
#include <redstream/protocol/reply_reader.hpp>

#include <string>

namespace redstream {

namespace detail {

/// Reads one `[id, [field, value, ...]]` entry (or a bare nil, or `[id, nil]`) into a batch.
class entry_parser {
public:
    void start(entry_batch& b) noexcept {
        batch_ = &b;
        state_ = state::root;
    }
    bool feed(resp::node const& n, error_code& ec);

private:
    enum class state { root, id, fields, field_name, field_value };
    entry_batch* batch_ = nullptr;
    state state_ = state::root;
    stream_id id_;
    std::size_t remaining_ = 0;
};

/// Reads an array of entries into a batch.
class entry_list_parser {
public:
    void start(entry_batch& b) noexcept {
        batch_ = &b;
        started_ = false;
        in_entry_ = false;
    }
    bool feed(resp::node const& n, error_code& ec);

private:
    entry_batch* batch_ = nullptr;
    entry_parser entry_;
    std::size_t remaining_ = 0;
    bool started_ = false;
    bool in_entry_ = false;
};

/// Something an object reader can hand an aggregate value to.
class nested_value {
public:
    virtual bool feed(resp::node const& n, error_code& ec) = 0;

protected:
    ~nested_value() = default;
};

/// Walks a map (RESP3) or flat key/value array (RESP2) and reports each key's value.
class object_reader {
public:
    void start_object() noexcept;
    bool feed(resp::node const& n, error_code& ec);

protected:
    ~object_reader() = default;
    /// A scalar or null value.
    virtual void on_scalar(std::string_view key, resp::node const& n, error_code& ec) = 0;
    /// An aggregate value: a reader for it (already started), or nullptr to skip it.
    virtual nested_value* on_aggregate(std::string_view key) { return (void)key, nullptr; }

private:
    bool finish_child() noexcept;

    std::string key_;
    std::size_t remaining_ = 0;
    subtree_skipper skip_;
    nested_value* nested_ = nullptr;
    bool started_ = false;
    bool expecting_key_ = true;
    bool skipping_ = false;
};

class owned_entry_parser final : public nested_value {
public:
    void start(owned_entry& e) noexcept {
        out_ = &e;
        state_ = 0;
    }
    bool feed(resp::node const& n, error_code& ec) override;

private:
    owned_entry* out_ = nullptr;
    int state_ = 0;
    std::size_t remaining_ = 0;
};

} // namespace detail

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
