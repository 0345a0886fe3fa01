#include <redstream/protocol/entry_batch.hpp>

namespace redstream {

void entry_batch::clear() noexcept {
    stream_.clear();
    arena_.clear();
    entries_.clear();
    fields_.clear();
    nil_entries_ = 0;
}

void entry_batch::reserve(std::size_t entries, std::size_t bytes) {
    entries_.reserve(entries);
    arena_.reserve(bytes);
}

void entry_batch::add_entry(stream_id id, bool deleted) {
    entries_.push_back(entry_rec{id, fields_.size(), 0, deleted});
}

void entry_batch::add_field(std::string_view name, std::string_view value) {
    field_rec f{arena_.size(), name.size(), arena_.size() + name.size(), value.size()};
    arena_.append(name);
    arena_.append(value);
    fields_.push_back(f);
    ++entries_.back().field_count;
}

void entry_batch::add_field_name(std::string_view name) {
    fields_.push_back(field_rec{arena_.size(), name.size(), arena_.size() + name.size(), 0});
    arena_.append(name);
    ++entries_.back().field_count;
}

void entry_batch::set_last_field_value(std::string_view value) {
    auto& f = fields_.back();
    f.value_off = arena_.size();
    f.value_len = value.size();
    arena_.append(value);
}

field_view entry_batch::entry_view::field(std::size_t i) const noexcept {
    auto const& f = batch_->fields_[rec().first_field + i];
    std::string_view arena{batch_->arena_};
    return {arena.substr(f.name_off, f.name_len), arena.substr(f.value_off, f.value_len)};
}

std::optional<std::string_view> entry_batch::entry_view::find(std::string_view name) const noexcept {
    for (std::size_t i = 0; i < field_count(); ++i) {
        auto f = field(i);
        if (f.name == name)
            return f.value;
    }
    return std::nullopt;
}

} // namespace redstream
