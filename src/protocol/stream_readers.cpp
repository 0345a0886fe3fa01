#include <redstream/protocol/stream_readers.hpp>

#include <redstream/detail/protocol/entry_parser.hpp>
#include <redstream/detail/protocol/object_reader.hpp>

namespace redstream {

namespace detail {

namespace {

bool fail(error_code& ec) noexcept {
    ec = errc::wrong_reply_type;
    return true;
}

template <class T>
bool read_scalar(resp::node const& n, T& out, error_code& ec) {
    reader<T> r;
    r.start(out);
    return r.feed(n, ec);
}

} // namespace

bool entry_parser::feed(resp::node const& n, error_code& ec) {
    switch (state_) {
    case state::root:
        if (n.data_type == resp::type::null) { // Redis 6.2 X[AUTO]CLAIM: entry deleted
            batch_->add_nil_entry();
            return true;
        }
        if (!resp::is_aggregate(n.data_type) || n.children != 2)
            return fail(ec);
        state_ = state::id;
        return false;
    case state::id: {
        auto id = is_scalar_text(n.data_type) ? stream_id::parse(n.value) : std::nullopt;
        if (!id)
            return fail(ec);
        id_ = *id;
        state_ = state::fields;
        return false;
    }
    case state::fields:
        if (n.data_type == resp::type::null) { // pending id whose entry was deleted
            batch_->add_entry(id_, true);
            return true;
        }
        if (!resp::is_aggregate(n.data_type) || n.children % 2 != 0)
            return fail(ec);
        batch_->add_entry(id_, false);
        remaining_ = n.children;
        state_ = state::field_name;
        return remaining_ == 0;
    case state::field_name:
        if (!is_scalar_text(n.data_type))
            return fail(ec);
        batch_->add_field_name(n.value);
        state_ = state::field_value;
        return false;
    case state::field_value:
        if (!is_scalar_text(n.data_type))
            return fail(ec);
        batch_->set_last_field_value(n.value);
        state_ = state::field_name;
        remaining_ -= 2;
        return remaining_ == 0;
    }
    return fail(ec);
}

bool entry_list_parser::feed(resp::node const& n, error_code& ec) {
    if (!started_) {
        started_ = true;
        if (n.data_type == resp::type::null)
            return true;
        if (!resp::is_aggregate(n.data_type))
            return fail(ec);
        remaining_ = n.children;
        batch_->reserve(std::min(remaining_, max_reserve), 0);
        return remaining_ == 0;
    }
    if (!in_entry_) {
        entry_.start(*batch_);
        in_entry_ = true;
    }
    if (entry_.feed(n, ec)) {
        in_entry_ = false;
        return --remaining_ == 0;
    }
    return false;
}

void object_reader::start_object() noexcept {
    started_ = false;
    expecting_key_ = true;
    skipping_ = false;
    nested_ = nullptr;
}

bool object_reader::finish_child() noexcept {
    expecting_key_ = !expecting_key_;
    return --remaining_ == 0;
}

bool object_reader::feed(resp::node const& n, error_code& ec) {
    if (!started_) {
        started_ = true;
        if (!resp::is_aggregate(n.data_type) || n.children % 2 != 0)
            return fail(ec);
        remaining_ = n.children;
        return remaining_ == 0;
    }
    if (nested_ != nullptr) {
        if (!nested_->feed(n, ec))
            return false;
        nested_ = nullptr;
        return finish_child();
    }
    if (skipping_) {
        if (!skip_.feed(n))
            return false;
        skipping_ = false;
        return finish_child();
    }
    if (expecting_key_) {
        if (!is_scalar_text(n.data_type))
            return fail(ec);
        key_.assign(n.value);
        return finish_child();
    }
    if (resp::is_aggregate(n.data_type)) {
        nested_ = on_aggregate(key_);
        if (nested_ == nullptr) {
            skip_.start();
            skipping_ = true;
            if (!skip_.feed(n))
                return false;
            skipping_ = false;
            return finish_child();
        }
        if (!nested_->feed(n, ec))
            return false;
        nested_ = nullptr;
        return finish_child();
    }
    on_scalar(key_, n, ec);
    return finish_child();
}

bool owned_entry_parser::feed(resp::node const& n, error_code& ec) {
    switch (state_) {
    case 0:
        if (!resp::is_aggregate(n.data_type) || n.children != 2)
            return fail(ec);
        state_ = 1;
        return false;
    case 1: {
        auto id = is_scalar_text(n.data_type) ? stream_id::parse(n.value) : std::nullopt;
        if (!id)
            return fail(ec);
        out_->id = *id;
        state_ = 2;
        return false;
    }
    case 2:
        if (n.data_type == resp::type::null)
            return true;
        if (!resp::is_aggregate(n.data_type) || n.children % 2 != 0)
            return fail(ec);
        remaining_ = n.children;
        state_ = 3;
        return remaining_ == 0;
    default:
        if (!is_scalar_text(n.data_type))
            return fail(ec);
        if (state_ == 3)
            out_->fields.emplace_back(std::string{n.value}, std::string{});
        else
            out_->fields.back().second.assign(n.value);
        state_ = state_ == 3 ? 4 : 3;
        return --remaining_ == 0;
    }
}

} // namespace detail

// XREAD/XREADGROUP: RESP3 sends a map stream -> entries; RESP2 an array of [stream, entries].
void reader<read_reply>::start(read_reply& out) noexcept {
    out_ = &out;
    out.streams.clear();
    state_ = state::root;
}

bool reader<read_reply>::feed(resp::node const& n, error_code& ec) {
    switch (state_) {
    case state::root:
        if (n.data_type == resp::type::null)
            return true;
        if (!resp::is_aggregate(n.data_type))
            return detail::fail(ec);
        is_map_ = n.data_type == resp::type::map;
        remaining_ = is_map_ ? n.children / 2 : n.children;
        state_ = is_map_ ? state::key : state::pair_root;
        return remaining_ == 0;
    case state::pair_root:
        if (!resp::is_aggregate(n.data_type) || n.children != 2)
            return detail::fail(ec);
        state_ = state::key;
        return false;
    case state::key:
        if (!detail::is_scalar_text(n.data_type))
            return detail::fail(ec);
        out_->streams.emplace_back().set_stream(n.value);
        list_.start(out_->streams.back());
        state_ = state::entries;
        return false;
    case state::entries:
        if (!list_.feed(n, ec))
            return false;
        state_ = is_map_ ? state::key : state::pair_root;
        return --remaining_ == 0;
    }
    return detail::fail(ec);
}

void reader<autoclaim_reply>::start(autoclaim_reply& out) noexcept {
    out_ = &out;
    out.claimed.clear();
    out.deleted.clear();
    out.next_cursor = {};
    state_ = 0;
}

bool reader<autoclaim_reply>::feed(resp::node const& n, error_code& ec) {
    switch (state_) {
    case 0:
        if (!resp::is_aggregate(n.data_type) || (n.children != 2 && n.children != 3))
            return detail::fail(ec);
        elements_ = n.children;
        state_ = 1;
        return false;
    case 1:
        detail::read_scalar(n, out_->next_cursor, ec);
        list_.start(out_->claimed);
        state_ = 2;
        return false;
    case 2:
        if (!list_.feed(n, ec))
            return false;
        if (elements_ == 2)
            return true;
        deleted_.start(out_->deleted);
        state_ = 3;
        return false;
    default:
        return deleted_.feed(n, ec);
    }
}

void reader<pending_summary>::start(pending_summary& out) noexcept {
    out_ = &out;
    out = {};
    state_ = 0;
}

bool reader<pending_summary>::feed(resp::node const& n, error_code& ec) {
    switch (state_) {
    case 0:
        if (!resp::is_aggregate(n.data_type) || n.children != 4)
            return detail::fail(ec);
        state_ = 1;
        return false;
    case 1:
        detail::read_scalar(n, out_->count, ec);
        state_ = 2;
        return false;
    case 2:
    case 3: {
        auto& target = state_ == 2 ? out_->smallest : out_->largest;
        detail::read_scalar(n, target, ec);
        ++state_;
        return false;
    }
    case 4:
        consumers_.start(out_->consumers);
        state_ = 5;
        [[fallthrough]];
    default:
        return consumers_.feed(n, ec);
    }
}

bool reader<pending_entry>::feed(resp::node const& n, error_code& ec) {
    switch (state_++) {
    case 0:
        if (!resp::is_aggregate(n.data_type) || n.children != 4)
            return detail::fail(ec);
        return false;
    case 1: detail::read_scalar(n, out_->id, ec); return false;
    case 2: detail::read_scalar(n, out_->consumer, ec); return false;
    case 3: detail::read_scalar(n, out_->idle_ms, ec); return false;
    default: detail::read_scalar(n, out_->deliveries, ec); return true;
    }
}

namespace {

template <class T>
void read_optional(resp::node const& n, std::optional<T>& out, error_code& ec) {
    if (n.data_type == resp::type::null)
        out.reset();
    else
        detail::read_scalar(n, out.emplace(), ec);
}

} // namespace

void reader<stream_info>::on_scalar(std::string_view key, resp::node const& n, error_code& ec) {
    if (key == "length") detail::read_scalar(n, out_->length, ec);
    else if (key == "radix-tree-keys") detail::read_scalar(n, out_->radix_tree_keys, ec);
    else if (key == "radix-tree-nodes") detail::read_scalar(n, out_->radix_tree_nodes, ec);
    else if (key == "groups") detail::read_scalar(n, out_->groups, ec);
    else if (key == "last-generated-id") detail::read_scalar(n, out_->last_generated_id, ec);
    else if (key == "max-deleted-entry-id") read_optional(n, out_->max_deleted_entry_id, ec);
    else if (key == "entries-added") read_optional(n, out_->entries_added, ec);
    else if (key == "recorded-first-entry-id") read_optional(n, out_->recorded_first_entry_id, ec);
    // first-entry/last-entry are nil on an empty stream; other keys are informational.
}

detail::nested_value* reader<stream_info>::on_aggregate(std::string_view key) {
    if (key == "first-entry") {
        entry_.start(out_->first_entry.emplace());
        return &entry_;
    }
    if (key == "last-entry") {
        entry_.start(out_->last_entry.emplace());
        return &entry_;
    }
    return nullptr;
}

void reader<group_info>::on_scalar(std::string_view key, resp::node const& n, error_code& ec) {
    if (key == "name") detail::read_scalar(n, out_->name, ec);
    else if (key == "consumers") detail::read_scalar(n, out_->consumers, ec);
    else if (key == "pending") detail::read_scalar(n, out_->pending, ec);
    else if (key == "last-delivered-id") detail::read_scalar(n, out_->last_delivered_id, ec);
    else if (key == "entries-read") read_optional(n, out_->entries_read, ec);
    else if (key == "lag") read_optional(n, out_->lag, ec);
}

void reader<consumer_info>::on_scalar(std::string_view key, resp::node const& n, error_code& ec) {
    if (key == "name") detail::read_scalar(n, out_->name, ec);
    else if (key == "pending") detail::read_scalar(n, out_->pending, ec);
    else if (key == "idle") detail::read_scalar(n, out_->idle_ms, ec);
    else if (key == "inactive") read_optional(n, out_->inactive_ms, ec);
}

} // namespace redstream
