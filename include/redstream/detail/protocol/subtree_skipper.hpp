#pragma once

#include <redstream/resp/node.hpp>

#include <cstddef>

namespace redstream::detail {

/// Counts its way through a subtree of any shape.
class subtree_skipper {
public:
    void start() noexcept { left_ = 1; }
    bool feed(resp::node const& n) noexcept {
        left_ += n.children;
        return --left_ == 0;
    }

private:
    std::size_t left_ = 1;
};

} // namespace redstream::detail
