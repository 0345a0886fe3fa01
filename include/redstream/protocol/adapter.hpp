#pragma once

#include <redstream/detail/protocol/typed_adapters.hpp>
#include <redstream/protocol/error.hpp>
#include <redstream/protocol/reply_reader.hpp>
#include <redstream/resp/node.hpp>
#include <redstream/resp/type.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace redstream {

/// Receives the replies of one request, element by element, and fills the caller's values.
///
/// The connection calls on_node() for each element of reply `index` (node.depth == 0 starts a
/// reply). A top-level error reply is reported through `ec` unless the target is a result<T>;
/// after any error the connection skips the rest of that reply and keeps the FIFO in step.
/// Replies beyond the adapter's targets are ignored (their errors still count). If on_node()
/// throws, the adapter is dropped (never called again), the rest of the request's replies are
/// read and discarded, and the request fails with errc::adapter_failed; other requests on the
/// connection are not affected.
class any_adapter {
public:
    /// Implemented by adapters of one's own: on_node() as described above.
    using impl_base = detail::adapter_impl_base;

    any_adapter() = default;
    explicit any_adapter(std::unique_ptr<impl_base> impl) noexcept : impl_(std::move(impl)) {}

    void on_node(std::size_t index, resp::node const& n, error_code& ec) {
        if (impl_)
            impl_->on_node(index, n, ec);
        else if (n.depth == 0 && resp::is_error(n.data_type))
            ec = classify_server_error(n.value);
    }

    /// The text of the first server error reply seen (diagnostics; never contains secrets we
    /// sent, since Redis does not echo arguments in errors).
    [[nodiscard]] std::string const& first_error() const noexcept { return first_error_; }
    void note_error(std::string_view text) {
        if (first_error_.empty())
            first_error_.assign(text);
    }

private:
    std::unique_ptr<impl_base> impl_;
    std::string first_error_;
};

/// Reads reply i of a request into the i-th argument.
template <class... Ts>
[[nodiscard]] any_adapter adapt(Ts&... targets) {
    return any_adapter{std::make_unique<detail::tuple_adapter<Ts...>>(targets...)};
}

/// Reads every reply of a request into one element of `out` (resized to the reply count).
/// With T = result<U>, one failing command does not hide the others' replies.
template <class T>
[[nodiscard]] any_adapter adapt_each(std::vector<T>& out) {
    return any_adapter{std::make_unique<detail::each_adapter<T>>(out)};
}

/// Discards every reply; a server error reply still fails the request.
[[nodiscard]] inline any_adapter adapt_ignore() { return any_adapter{}; }

} // namespace redstream
