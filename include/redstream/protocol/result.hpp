#pragma once
/// @file
/// One command's value or its own error reply, so a pipeline keeps its other replies.

#include <redstream/protocol/error.hpp>

#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace redstream {

/// A server error reply: its code to compare against, and the server's text for diagnostics.
struct server_error {
    boost::system::error_code code; ///< a server_errc when read from a reply (server_errc::other for unlisted prefixes)
    std::string message;            ///< the error reply's full text, such as "NOGROUP No such key ..."
};

/// One command's outcome: a value or the error reply Redis sent for that command alone.
/// Lets one failing command in a pipeline fail without hiding the replies of the others.
///
/// Read a reply into it through adapt() or adapt_each(); only after the request completed is
/// it meaningful.
template <class T>
class result {
public:
    /// Holds a value-initialised T (so has_value() is true until a reply is read into it).
    result() = default;
    /// Holds `v`.
    result(T v) : v_(std::in_place_index<0>, std::move(v)) {}
    /// Holds the error `e`.
    result(server_error e) : v_(std::in_place_index<1>, std::move(e)) {}

    /// True when it holds a value, false when it holds a server error.
    [[nodiscard]] bool has_value() const noexcept { return v_.index() == 0; }
    /// has_value().
    explicit operator bool() const noexcept { return has_value(); }

    /// The value; throws boost::system::system_error carrying the server's text otherwise.
    T& value() & {
        throw_if_error();
        return std::get<0>(v_);
    }
    /// The value; throws boost::system::system_error carrying the server's text otherwise.
    T const& value() const& {
        throw_if_error();
        return std::get<0>(v_);
    }
    /// The value, unchecked by us: holding an error, it throws std::bad_variant_access
    /// (not the server's error). Test has_value() first, or use value().
    T& operator*() & { return std::get<0>(v_); }
    /// The value, unchecked by us: std::bad_variant_access when holding an error.
    T const& operator*() const& { return std::get<0>(v_); }
    /// Member access to the value: std::bad_variant_access when holding an error.
    T* operator->() { return &std::get<0>(v_); }
    /// Member access to the value: std::bad_variant_access when holding an error.
    T const* operator->() const { return &std::get<0>(v_); }

    /// The server's error; throws std::bad_variant_access when holding a value.
    [[nodiscard]] server_error const& error() const { return std::get<1>(v_); }
    /// The error's code, or an empty error_code when holding a value: compare it with a
    /// server_errc (`r.error_code() == server_errc::busygroup`).
    [[nodiscard]] boost::system::error_code error_code() const noexcept {
        return has_value() ? boost::system::error_code{} : std::get<1>(v_).code;
    }

    // Used by the reply reader to fill the value in place.
    /// Replaces the content with a value-initialised T and returns it (for readers).
    T& emplace_value() { return v_.template emplace<0>(); }
    /// Replaces the content with the error `e` (for readers).
    void set_error(server_error e) { v_.template emplace<1>(std::move(e)); }

private:
    void throw_if_error() const {
        if (!has_value())
            throw boost::system::system_error(std::get<1>(v_).code, std::get<1>(v_).message);
    }

    std::variant<T, server_error> v_;
};

/// True (`is_result<T>::value`) when T is a `result<U>`: such targets keep their command's
/// error reply instead of failing the request.
template <class T>
struct is_result : std::false_type {};
/// The result<T> case of is_result.
template <class T>
struct is_result<result<T>> : std::true_type {};

} // namespace redstream
