#pragma once
/// @file
/// reader<T>, the customization point that reads replies into typed values, and its readers
/// for scalars, optionals, containers and results.

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

/// The error code type of every operation and reader: `redstream::error_code` is
/// boost::system::error_code.
using boost::system::error_code;

/// Reads one value of type T from the elements of a reply as they arrive: the customization
/// point behind adapt() and adapt_each(). Only specialisations are defined; add your own, in
/// namespace redstream, with two members:
/// - `void start(T& out)`: binds the reader to `out` and resets it for a new value;
/// - `bool feed(resp::node const& n, error_code& ec)`: takes the next element (the first one
///   after start() is the value's root) and returns true once `out` is complete.
///
/// A reader must be default-constructible and reusable: start() begins a new value. It sets
/// `ec` (usually errc::wrong_reply_type) when the reply's shape does not fit T, and may then
/// stop early: the connection skips the rest of that reply. `n.value` points into the
/// connection's read buffer and is valid only during feed(): copy what you keep. A top-level
/// error reply never reaches the reader of a plain target (adapt() turns it into the request's
/// error), but an error nested in an aggregate does. `Enable` is for constrained partial
/// specialisations (`std::enable_if_t<...>`).
template <class T, class Enable = void>
struct reader;

/// Accepts and discards any reply (an error reply still fails the request).
struct ignore_t {};
/// A named ignore_t value. adapt() takes its targets by non-const reference and there is no
/// reader for `const ignore_t`, so to skip a reply by position pass a variable of your own:
/// `redstream::ignore_t skip; adapt(skip, value)` reads only the second reply.
inline constexpr ignore_t ignore{};

/// Skips one value of any shape, whatever its type (see ignore_t).
template <>
struct reader<ignore_t> {
    /// Starts skipping a new value.
    void start(ignore_t&) noexcept { skip_.start(); }
    /// Counts elements; true once the whole value (aggregates included) has gone by.
    bool feed(resp::node const& n, error_code&) noexcept { return skip_.feed(n); }

private:
    detail::subtree_skipper skip_;
};

/// Reads any scalar as its text: simple, bulk and verbatim strings (without the verbatim
/// format prefix), integers, doubles and big numbers. Null, aggregates and nested errors fail
/// with errc::wrong_reply_type.
template <>
struct reader<std::string> {
    /// Binds to `out`; its content is replaced by feed().
    void start(std::string& out) noexcept { out_ = &out; }
    /// Copies the element's text; always done after one element.
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

/// Reads an integer (any integral type but bool) from a scalar holding a decimal number: an
/// integer reply or a string such as "42". Anything else, text that is not a strict decimal
/// (no spaces, no '+'; '-' only for signed types) or a value outside T's range fails with
/// errc::wrong_reply_type and leaves the target unchanged.
template <std::integral T>
struct reader<T, std::enable_if_t<!std::is_same_v<T, bool>>> {
    /// Binds to `out`.
    void start(T& out) noexcept { out_ = &out; }
    /// Parses the element; always done after one element.
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

/// Reads a RESP3 boolean, an integer 0 or 1, or the simple string "OK" (true); anything else
/// fails with errc::wrong_reply_type.
template <>
struct reader<bool> {
    /// Binds to `out`.
    void start(bool& out) noexcept { out_ = &out; }
    /// Converts the element; always done after one element.
    bool feed(resp::node const& n, error_code& ec) noexcept;

private:
    bool* out_ = nullptr;
};

/// Reads a double from a scalar holding a number (a RESP3 double, an integer, or a string
/// such as "1.5"; "inf", "+inf" and "-inf" included); anything else fails with
/// errc::wrong_reply_type.
template <>
struct reader<double> {
    /// Binds to `out`.
    void start(double& out) noexcept { out_ = &out; }
    /// Parses the element; always done after one element.
    bool feed(resp::node const& n, error_code& ec) noexcept {
        if (!detail::parse_double_node(n, *out_))
            ec = errc::wrong_reply_type;
        return true;
    }

private:
    double* out_ = nullptr;
};

/// Reads an entry id ("1700000000000-0", or a bare "ms") as stream_id::parse() does; a
/// scalar it cannot parse, or any other element, fails with errc::wrong_reply_type.
template <>
struct reader<stream_id> {
    /// Binds to `out`.
    void start(stream_id& out) noexcept { out_ = &out; }
    /// Parses the element; always done after one element.
    bool feed(resp::node const& n, error_code& ec) noexcept;

private:
    stream_id* out_ = nullptr;
};

/// Reads null (RESP3 null, or a RESP2 null bulk string or array) as nullopt, and anything
/// else as a T.
template <class T>
struct reader<std::optional<T>> {
    /// Binds to `out`, which is reset or emplaced by the first element.
    void start(std::optional<T>& out) noexcept {
        out_ = &out;
        started_ = false;
    }
    /// Feeds T's reader after the first element, unless that element was null.
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
///
/// Each child is read by reader<T> into a new element. A scalar root fails with
/// errc::wrong_reply_type.
template <class T, class A>
struct reader<std::vector<T, A>> {
    /// Binds to `out` and clears it.
    void start(std::vector<T, A>& out) noexcept {
        out_ = &out;
        out.clear();
        started_ = false;
        in_child_ = false;
    }
    /// Appends one element per child; true after the last child (or at once for null or an
    /// empty aggregate).
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
///
/// `first` from the first child, `second` from the second; any other root fails with
/// errc::wrong_reply_type.
template <class A, class B>
struct reader<std::pair<A, B>> {
    /// Binds to `out`.
    void start(std::pair<A, B>& out) noexcept {
        out_ = &out;
        state_ = 0;
    }
    /// True once `second` is complete.
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
///
/// An error at the value's root is stored as a server_error (its code from
/// classify_server_error() and the server's text); anything else is read into the value by
/// reader<T>. Errors nested deeper reach T's reader.
template <class T>
struct reader<result<T>> {
    /// Binds to `out`, which the first element turns into a value or an error.
    void start(result<T>& out) noexcept {
        out_ = &out;
        started_ = false;
    }
    /// True at once for an error reply, else when T's reader is done.
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
