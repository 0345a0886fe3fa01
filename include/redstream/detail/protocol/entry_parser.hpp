#pragma once

// Parsers of stream entries, shared by the readers of stream_readers.hpp (defined in
// src/protocol/stream_readers.cpp).

#include <redstream/detail/protocol/object_reader.hpp>
#include <redstream/protocol/entry_batch.hpp>
#include <redstream/protocol/info_types.hpp>
#include <redstream/protocol/stream_id.hpp>
#include <redstream/resp/node.hpp>

#include <boost/system/error_code.hpp>

#include <cstddef>

namespace redstream::detail {

/// Reads one `[id, [field, value, ...]]` entry (or a bare nil, or `[id, nil]`) into a batch.
class entry_parser {
public:
    void start(entry_batch& b) noexcept {
        batch_ = &b;
        state_ = state::root;
    }
    bool feed(resp::node const& n, boost::system::error_code& ec);

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
    bool feed(resp::node const& n, boost::system::error_code& ec);

private:
    entry_batch* batch_ = nullptr;
    entry_parser entry_;
    std::size_t remaining_ = 0;
    bool started_ = false;
    bool in_entry_ = false;
};

/// Reads one entry into an owned_entry (XINFO STREAM's first-entry and last-entry).
class owned_entry_parser final : public nested_value {
public:
    void start(owned_entry& e) noexcept {
        out_ = &e;
        state_ = 0;
    }
    bool feed(resp::node const& n, boost::system::error_code& ec) override;

private:
    owned_entry* out_ = nullptr;
    int state_ = 0;
    std::size_t remaining_ = 0;
};

} // namespace redstream::detail
