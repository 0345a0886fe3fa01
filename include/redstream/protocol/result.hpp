#pragma once

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
    boost::system::error_code code;
    std::string message;
};

/// One command's outcome: a value or the error reply Redis sent for that command alone.
/// Lets one failing command in a pipeline fail without hiding the replies of the others.
template <class T>
class result {
public:
    result() = default;
    result(T v) : v_(std::in_place_index<0>, std::move(v)) {}
    result(server_error e) : v_(std::in_place_index<1>, std::move(e)) {}

    [[nodiscard]] bool has_value() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }

    /// The value; throws boost::system::system_error carrying the server's text otherwise.
    T& value() & {
        throw_if_error();
        return std::get<0>(v_);
    }
    T const& value() const& {
        throw_if_error();
        return std::get<0>(v_);
    }
    T& operator*() & { return std::get<0>(v_); }
    T const& operator*() const& { return std::get<0>(v_); }
    T* operator->() { return &std::get<0>(v_); }
    T const* operator->() const { return &std::get<0>(v_); }

    [[nodiscard]] server_error const& error() const { return std::get<1>(v_); }
    [[nodiscard]] boost::system::error_code error_code() const noexcept {
        return has_value() ? boost::system::error_code{} : std::get<1>(v_).code;
    }

    // Used by the reply reader to fill the value in place.
    T& emplace_value() { return v_.template emplace<0>(); }
    void set_error(server_error e) { v_.template emplace<1>(std::move(e)); }

private:
    void throw_if_error() const {
        if (!has_value())
            throw boost::system::system_error(std::get<1>(v_).code, std::get<1>(v_).message);
    }

    std::variant<T, server_error> v_;
};

template <class T>
struct is_result : std::false_type {};
template <class T>
struct is_result<result<T>> : std::true_type {};

} // namespace redstream
