#pragma once
/// @file
/// Adapters that read the replies of one request into the caller's values.

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
///
/// **Lifetimes**: an adapter made by adapt() or adapt_each() points to its targets without
/// owning them; they must outlive the request's completion. The adapter itself is moved into
/// connection::async_exec(), which owns it from then on.
class any_adapter {
public:
    /// Implemented by adapters of one's own: on_node() as described above.
    ///
    /// The interface is one pure virtual function, `virtual void on_node(std::size_t index,
    /// resp::node const& n, boost::system::error_code& ec)`, and a virtual destructor. Unlike
    /// the adapters of adapt(), an own implementation also sees top-level error replies: it
    /// must set `ec` (e.g. to classify_server_error(n.value)) to fail the request with them.
    using impl_base = detail::adapter_impl_base;

    /// An adapter with no targets: every reply is discarded, as with adapt_ignore().
    any_adapter() = default;
    /// Wraps an adapter of one's own, which the any_adapter then owns.
    explicit any_adapter(std::unique_ptr<impl_base> impl) noexcept : impl_(std::move(impl)) {}

    /// Feeds element `n` of reply `index` (0-based, in request order) to the adapter. Called by
    /// the connection; `n.value` is valid only during the call. Sets `ec` to stop reading into
    /// this reply: the rest of it is skipped, and the request fails with the first such error.
    void on_node(std::size_t index, resp::node const& n, error_code& ec) {
        if (impl_)
            impl_->on_node(index, n, ec);
        else if (n.depth == 0 && resp::is_error(n.data_type))
            ec = classify_server_error(n.value);
    }

    /// The text of the first server error reply seen (diagnostics; never contains secrets we
    /// sent, since Redis does not echo arguments in errors).
    ///
    /// Only whoever holds the adapter can read it, and async_exec() takes the adapter: to keep
    /// the server's text of a command's error, read that reply into a result<T>.
    [[nodiscard]] std::string const& first_error() const noexcept { return first_error_; }
    /// Records `text` as first_error() unless one is recorded already. The connection calls it
    /// for every top-level error reply, before on_node().
    void note_error(std::string_view text) {
        if (first_error_.empty())
            first_error_.assign(text);
    }

private:
    std::unique_ptr<impl_base> impl_;
    std::string first_error_;
};

/// Reads reply i of a request into the i-th argument.
///
/// Each target type needs a reader<T> (see reply_reader.hpp and stream_readers.hpp). A target
/// that is not a result<T> turns its reply's server error into the request's error; replies
/// beyond the targets are discarded (their errors still count). The targets are referenced,
/// not copied: keep them alive until the request completes, and read them only after.
template <class... Ts>
[[nodiscard]] any_adapter adapt(Ts&... targets) {
    return any_adapter{std::make_unique<detail::tuple_adapter<Ts...>>(targets...)};
}

/// Reads every reply of a request into one element of `out` (resized to the reply count).
/// With T = `result<U>`, one failing command does not hide the others' replies.
///
/// `out` is cleared when adapt_each() is called and grows as replies arrive: keep it alive,
/// and do not touch it, until the request completes.
template <class T>
[[nodiscard]] any_adapter adapt_each(std::vector<T>& out) {
    return any_adapter{std::make_unique<detail::each_adapter<T>>(out)};
}

/// Discards every reply; a server error reply still fails the request.
[[nodiscard]] inline any_adapter adapt_ignore() { return any_adapter{}; }

} // namespace redstream
