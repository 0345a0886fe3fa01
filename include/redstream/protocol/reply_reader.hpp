#pragma once

// Readers turn the element stream of one reply into a typed value as elements arrive, without
// building a tree. `reader<T>` is the customization point: specialise it for your own types.
//
//   void start(T& out);                                   // bind and reset for a new value
//   bool feed(resp::node const& n, error_code& ec);       // true once `out` is complete
//
// The first node fed after start() is the value's root; readers of aggregates count children
// to know when they are done. A reader sets `ec` (and may stop early) when the reply's shape
// does not fit T; the connection then skips the rest of that reply.

#include <redstream/detail/protocol/node_values.hpp>
#include <redstream/detail/protocol/subtree_skipper.hpp>
#include <redstream/protocol/error.hpp>
#include <redstream/protocol/result.hpp>
#include <redstream/protocol/stream_id.hpp>
#include <redstream/resp/node.hpp>
#include <redstream/resp/type.hpp>

#include <boost/system/error_code.hpp>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace redstream {

using boost::system::error_code;

template <class T, class Enable = void>
struct reader;

/// Accepts and discards any reply (an error reply still fails the request).
struct ignore_t {};
inline constexpr ignore_t ignore{};

template <>
struct reader<ignore_t> {
    void start(ignore_t&) noexcept { skip_.start(); }
    bool feed(resp::node const& n, error_code&) noexcept { return skip_.feed(n); }

private:
    detail::subtree_skipper skip_;
};

template <>
struct reader<std::string> {
    void start(std::string& out) noexcept { out_ = &out; }
    bool feed(resp::node const& n, error_code& ec) {
        if (!detail::is_scalar_text(n.data_type)) {
            ec = errc::wrong_reply_type;
            return true;
        }
        out_->assign(n.value);
        return true;
    }

private:
    std::string* out_ = nullptr;
};

template <std::integral T>
struct reader<T, std::enable_if_t<!std::is_same_v<T, bool>>> {
    void start(T& out) noexcept { out_ = &out; }
    bool feed(resp::node const& n, error_code& ec) noexcept {
        if constexpr (std::is_signed_v<T>) {
            std::int64_t v = 0;
            if (!detail::parse_integer_node(n, v) || v < std::numeric_limits<T>::min() ||
                v > std::numeric_limits<T>::max())
                ec = errc::wrong_reply_type;
            else
                *out_ = static_cast<T>(v);
        } else {
            std::uint64_t v = 0;
            if (!detail::parse_unsigned_node(n, v) || v > std::numeric_limits<T>::max())
                ec = errc::wrong_reply_type;
            else
                *out_ = static_cast<T>(v);
        }
        return true;
    }

private:
    T* out_ = nullptr;
};

template <>
struct reader<bool> {
    void start(bool& out) noexcept { out_ = &out; }
    bool feed(resp::node const& n, error_code& ec) noexcept;

private:
    bool* out_ = nullptr;
};

template <>
struct reader<double> {
    void start(double& out) noexcept { out_ = &out; }
    bool feed(resp::node const& n, error_code& ec) noexcept {
        if (!detail::parse_double_node(n, *out_))
            ec = errc::wrong_reply_type;
        return true;
    }

private:
    double* out_ = nullptr;
};

template <>
struct reader<stream_id> {
    void start(stream_id& out) noexcept { out_ = &out; }
    bool feed(resp::node const& n, error_code& ec) noexcept;

private:
    stream_id* out_ = nullptr;
};

template <class T>
struct reader<std::optional<T>> {
    void start(std::optional<T>& out) noexcept {
        out_ = &out;
        started_ = false;
    }
    bool feed(resp::node const& n, error_code& ec) {
        if (!started_) {
            started_ = true;
            if (n.data_type == resp::type::null) {
                out_->reset();
                return true;
            }
            inner_.start(out_->emplace());
        }
        return inner_.feed(n, ec);
    }

private:
    std::optional<T>* out_ = nullptr;
    reader<T> inner_;
    bool started_ = false;
};

/// Reads an aggregate (array, set, push, or map flattened) element by element; null reads as
/// empty.
template <class T, class A>
struct reader<std::vector<T, A>> {
    void start(std::vector<T, A>& out) noexcept {
        out_ = &out;
        out.clear();
        started_ = false;
        in_child_ = false;
    }
    bool feed(resp::node const& n, error_code& ec) {
        if (!started_) {
            started_ = true;
            if (n.data_type == resp::type::null)
                return true;
            if (!resp::is_aggregate(n.data_type)) {
                ec = errc::wrong_reply_type;
                return true;
            }
            remaining_ = n.children;
            out_->reserve(std::min(remaining_, detail::max_reserve));
            return remaining_ == 0;
        }
        if (!in_child_) {
            child_.start(out_->emplace_back());
            in_child_ = true;
        }
        if (child_.feed(n, ec)) {
            in_child_ = false;
            return --remaining_ == 0;
        }
        return false;
    }

private:
    std::vector<T, A>* out_ = nullptr;
    reader<T> child_;
    std::size_t remaining_ = 0;
    bool started_ = false;
    bool in_child_ = false;
};

/// A pair reads a two-element aggregate.
template <class A, class B>
struct reader<std::pair<A, B>> {
    void start(std::pair<A, B>& out) noexcept {
        out_ = &out;
        state_ = 0;
    }
    bool feed(resp::node const& n, error_code& ec) {
        switch (state_) {
        case 0:
            if (!resp::is_aggregate(n.data_type) || n.children != 2) {
                ec = errc::wrong_reply_type;
                return true;
            }
            first_.start(out_->first);
            state_ = 1;
            return false;
        case 1:
            if (first_.feed(n, ec)) {
                second_.start(out_->second);
                state_ = 2;
            }
            return false;
        default:
            return second_.feed(n, ec);
        }
    }

private:
    std::pair<A, B>* out_ = nullptr;
    reader<A> first_;
    reader<B> second_;
    int state_ = 0;
};

/// A command's own error reply becomes the result's error instead of failing the request.
template <class T>
struct reader<result<T>> {
    void start(result<T>& out) noexcept {
        out_ = &out;
        started_ = false;
    }
    bool feed(resp::node const& n, error_code& ec) {
        if (!started_) {
            started_ = true;
            if (resp::is_error(n.data_type)) {
                out_->set_error(detail::to_server_error(n));
                return true;
            }
            inner_.start(out_->emplace_value());
        }
        return inner_.feed(n, ec);
    }

private:
    result<T>* out_ = nullptr;
    reader<T> inner_;
    bool started_ = false;
};

} // namespace redstream
