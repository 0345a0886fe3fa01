#pragma once

// The base of the XINFO readers (and of the HELLO reader in src/io): a map (RESP3) or flat
// key/value array (RESP2) read key by key.

#include <redstream/detail/protocol/subtree_skipper.hpp>
#include <redstream/resp/node.hpp>

#include <boost/system/error_code.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace redstream::detail {

/// Something an object reader can hand an aggregate value to.
class nested_value {
public:
    virtual bool feed(resp::node const& n, boost::system::error_code& ec) = 0;

protected:
    ~nested_value() = default;
};

/// Walks a map (RESP3) or flat key/value array (RESP2) and reports each key's value.
class object_reader {
public:
    void start_object() noexcept;
    bool feed(resp::node const& n, boost::system::error_code& ec);

protected:
    ~object_reader() = default;
    /// A scalar or null value.
    virtual void on_scalar(std::string_view key, resp::node const& n, boost::system::error_code& ec) = 0;
    /// An aggregate value: a reader for it (already started), or nullptr to skip it.
    virtual nested_value* on_aggregate(std::string_view key) { return (void)key, nullptr; }

private:
    bool finish_child() noexcept;

    std::string key_;
    std::size_t remaining_ = 0;
    subtree_skipper skip_;
    nested_value* nested_ = nullptr;
    bool started_ = false;
    bool expecting_key_ = true;
    bool skipping_ = false;
};

} // namespace redstream::detail
