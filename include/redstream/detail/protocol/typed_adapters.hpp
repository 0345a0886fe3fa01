#pragma once

// The adapters behind adapt() and adapt_each(): each reply is read straight into the caller's
// value by its reader<T>.

#include <redstream/protocol/error.hpp>
#include <redstream/protocol/reply_reader.hpp>
#include <redstream/protocol/result.hpp>
#include <redstream/resp/node.hpp>
#include <redstream/resp/type.hpp>

#include <boost/system/error_code.hpp>

#include <cstddef>
#include <tuple>
#include <utility>
#include <vector>

namespace redstream::detail {

/// What any_adapter calls; public as any_adapter::impl_base for adapters of one's own.
struct adapter_impl_base {
    virtual ~adapter_impl_base() = default;
    virtual void on_node(std::size_t index, resp::node const& n, boost::system::error_code& ec) = 0;
};

template <class T>
struct reply_slot {
    T* target;
    reader<T> r;

    void on_node(resp::node const& n, boost::system::error_code& ec) {
        if (n.depth == 0) {
            if constexpr (!is_result<T>::value) {
                if (resp::is_error(n.data_type)) {
                    ec = classify_server_error(n.value);
                    return;
                }
            }
            r.start(*target);
        }
        r.feed(n, ec);
    }
};

template <class... Ts>
struct tuple_adapter final : adapter_impl_base {
    explicit tuple_adapter(Ts&... targets) : slots_{reply_slot<Ts>{&targets, {}}...} {}

    void on_node(std::size_t index, resp::node const& n, boost::system::error_code& ec) override {
        dispatch(index, n, ec, std::index_sequence_for<Ts...>{});
    }

private:
    template <std::size_t... I>
    void dispatch(std::size_t index, resp::node const& n, boost::system::error_code& ec,
                  std::index_sequence<I...>) {
        bool handled = ((index == I ? (std::get<I>(slots_).on_node(n, ec), true) : false) || ...);
        if (!handled && n.depth == 0 && resp::is_error(n.data_type))
            ec = classify_server_error(n.value);
    }

    std::tuple<reply_slot<Ts>...> slots_;
};

template <class T>
struct each_adapter final : adapter_impl_base {
    explicit each_adapter(std::vector<T>& out) : out_(&out) { out.clear(); }

    void on_node(std::size_t index, resp::node const& n, boost::system::error_code& ec) override {
        if (n.depth == 0) {
            while (out_->size() <= index)
                out_->emplace_back();
            slot_.target = &(*out_)[index];
        }
        slot_.on_node(n, ec);
    }

private:
    std::vector<T>* out_;
    reply_slot<T> slot_{nullptr, {}};
};

} // namespace redstream::detail
