#pragma once
/// @file
/// A pipeline of Redis commands, serialised once.

#include <redstream/detail/protocol/request_args.hpp>
#include <redstream/protocol/stream_id.hpp>

#include <charconv>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <ranges>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace redstream {

/// A pipeline of Redis commands serialised as RESP arrays of bulk strings.
///
/// Arguments may be strings, string_views, integers, doubles, `stream_id`s, milliseconds and
/// sized ranges of those or of pairs of those (expanded in place). The buffer is reused across
/// clear(): once it has grown, adding commands does not allocate.
///
/// A request passed to `connection::async_exec` must stay alive and unchanged until that
/// operation is initiated (with the default `deferred` token: until it is awaited); the
/// connection copies it then, so it may be cleared and reused while the command travels.
///
/// A plain value: not thread-safe, cheap to move, copyable.
class request {
public:
    /// How the connection treats the request (as a whole).
    struct options {
        /// When the connection is down, wait up to this long for it to come back instead of
        /// failing at once with errc::not_connected. Zero means fail at once.
        ///
        /// A request that waited this long without a connection fails with errc::not_connected.
        /// Before a connection's first successful connect, requests are queued whatever this
        /// says, and fail with the attempt's error if that attempt fails and this is zero.
        std::chrono::milliseconds wait_for_connection{0};
    };

    /// An empty request with default options.
    request() = default;
    /// An empty request with `opts`.
    explicit request(options opts) : opts_(opts) {}

    /// Appends one command: `push("XADD", key, "*", "f", "v")`.
    ///
    /// Integers are written in decimal, doubles in their shortest round-trip form, stream_ids
    /// as "ms-seq", milliseconds as their count; `bool` and `char` are refused at compile time.
    /// A range of pairs (a field_list, a map) adds two arguments per element. The command name
    /// is case-insensitive for the SUBSCRIBE family, which the request counts apart.
    template <class... Args>
    void push(std::string_view command, Args const&... args) {
        std::size_t const count = 1 + (count_of(args) + ... + 0);
        write_header(count);
        write_bulk(command);
        (write_arg(args), ...);
        note_command(command, count - 1);
    }

    /// Removes every command, keeping the buffer's capacity and the options.
    void clear() noexcept {
        payload_.clear();
        commands_ = 0;
        replies_ = 0;
        subscriptions_.clear();
    }

    /// Reserves capacity for about `bytes` of payload.
    void reserve(std::size_t bytes) { payload_.reserve(bytes); }

    /// The serialised commands, RESP arrays of bulk strings back to back: what is written to
    /// the socket. Valid until the request is next modified.
    [[nodiscard]] std::string_view payload() const noexcept { return payload_; }
    /// Commands pushed since construction or the last clear(). A request with none completes
    /// at once when executed.
    [[nodiscard]] std::size_t commands() const noexcept { return commands_; }

    /// Replies the server sends for this request. SUBSCRIBE-family commands are answered by
    /// pushes under RESP3 and are not counted here.
    [[nodiscard]] std::size_t expected_replies() const noexcept { return replies_; }

    /// For each SUBSCRIBE-family command, how many confirmation pushes it produces.
    [[nodiscard]] std::vector<std::size_t> const& subscriptions() const noexcept { return subscriptions_; }

    /// The request's options.
    [[nodiscard]] options const& get_options() const noexcept { return opts_; }
    /// The request's options, to change them before executing it.
    options& get_options() noexcept { return opts_; }

private:
    template <class T>
    static std::size_t count_of(T const& arg) noexcept {
        if constexpr (detail::range_arg<T>) {
            auto const n = static_cast<std::size_t>(std::ranges::size(arg));
            return detail::pair_arg<std::ranges::range_value_t<T const>> ? 2 * n : n;
        } else {
            static_assert(detail::scalar_arg<T>, "unsupported Redis command argument type");
            return 1;
        }
    }

    template <class T>
    void write_arg(T const& arg) {
        if constexpr (detail::range_arg<T>) {
            for (auto const& e : arg) {
                if constexpr (detail::pair_arg<std::ranges::range_value_t<T const>>) {
                    write_scalar(e.first);
                    write_scalar(e.second);
                } else {
                    write_scalar(e);
                }
            }
        } else {
            write_scalar(arg);
        }
    }

    template <class T>
    void write_scalar(T const& v) {
        if constexpr (detail::string_like<T>) {
            write_bulk(std::string_view{v});
        } else if constexpr (std::same_as<T, stream_id>) {
            char buf[stream_id::max_chars];
            write_bulk(v.format(buf));
        } else if constexpr (std::same_as<T, std::chrono::milliseconds>) {
            write_integer(static_cast<std::int64_t>(v.count()));
        } else if constexpr (std::same_as<T, double>) {
            char buf[32];
            auto r = std::to_chars(buf, buf + sizeof buf, v);
            write_bulk(std::string_view{buf, static_cast<std::size_t>(r.ptr - buf)});
        } else if constexpr (std::is_signed_v<T>) {
            write_integer(static_cast<std::int64_t>(v));
        } else {
            write_unsigned(static_cast<std::uint64_t>(v));
        }
    }

    void write_header(std::size_t count);
    void write_bulk(std::string_view s);
    void write_integer(std::int64_t v);
    void write_unsigned(std::uint64_t v);
    void note_command(std::string_view command, std::size_t args);

    std::string payload_;
    std::size_t commands_ = 0;
    std::size_t replies_ = 0;
    std::vector<std::size_t> subscriptions_;
    options opts_;
};

} // namespace redstream
