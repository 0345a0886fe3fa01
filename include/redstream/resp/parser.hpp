#pragma once
/// @file
/// The incremental, allocation-free RESP2/RESP3 parser and its limits.

#include <redstream/resp/node.hpp>

#include <boost/system/error_code.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace redstream::resp {

/// Bounds that make the parser safe against any input. Every one is a clear error when exceeded.
struct parser_limits {
    std::size_t max_depth = 16;                   ///< nesting of aggregates (at most parser::depth_cap)
    std::size_t max_bulk_length = 64u << 20;      ///< bytes in one bulk/verbatim/blob element
    std::size_t max_aggregate_size = 1u << 24;    ///< count of one aggregate (pairs, for maps and attributes)
    std::size_t max_line_length = 64u << 10;      ///< bytes of a simple string/error/number line
};

/// Incremental, allocation-free RESP2/RESP3 parser (sans-io).
///
/// Feed it the bytes received so far; each call to next() reports at most one element. It never
/// consumes a partial element, so the caller keeps unconsumed bytes and calls again when more
/// arrive. Attributes (`|`) are consumed and not reported. A push (`>`) nested inside another
/// reply is reported with node::out_of_band set and does not count toward its parent. After an
/// error the parser must be reset() together with the connection: the byte stream can no longer
/// be trusted.
///
/// A plain object with no shared state: one per byte stream, used from one thread at a time.
class parser {
public:
    /// The deepest nesting any parser supports (its level stack is this big):
    /// parser_limits::max_depth is capped at it.
    static constexpr std::size_t depth_cap = 32;

    /// What one call of next() produced.
    enum class status {
        element,   ///< `out` holds an element; `consumed` bytes were used
        need_more, ///< no complete element yet; `consumed` may be > 0 (skipped attribute parts)
        failed,    ///< `ec` says why
    };

    /// A parser at the start of a stream, with `limits` (max_depth capped at depth_cap).
    explicit parser(parser_limits limits = {}) noexcept;

    /// Parses the next element from `in`. Returns its status; adds the bytes used to `consumed`.
    ///
    /// Pass the unconsumed bytes from their start each time. On status::element, `out` holds
    /// the element and `out.value` points into `in`: it is valid only as long as those bytes.
    /// On status::failed, `ec` holds a resp::error (a limit exceeded, or malformed input).
    [[nodiscard]] status next(std::string_view in, node& out, std::size_t& consumed,
                              boost::system::error_code& ec) noexcept;

    /// True when the last element reported completed a whole top-level reply.
    [[nodiscard]] bool reply_complete() const noexcept { return depth_ == 0 && !oob_finished_; }

    /// True when the last element reported completed an out-of-band push.
    [[nodiscard]] bool out_of_band_complete() const noexcept { return oob_finished_; }

    /// Bytes a caller must have buffered (from the start of the unconsumed input) before the
    /// pending element can be parsed; 0 when unknown. Lets the reader size its buffer.
    [[nodiscard]] std::size_t bytes_hint() const noexcept { return hint_; }

    /// The limits in force (as given, with max_depth capped at depth_cap).
    [[nodiscard]] parser_limits const& limits() const noexcept { return limits_; }

    /// Forgets any partly parsed reply: the next byte is taken as the start of a new reply.
    /// The limits are kept.
    void reset() noexcept;

private:
    enum class level_kind : unsigned char { normal, attribute, out_of_band };
    struct level {
        std::size_t remaining;
        level_kind kind;
    };
    static constexpr std::size_t no_level = static_cast<std::size_t>(-1);

    // One element framed from the input: what next() reports, or skips inside an attribute.
    struct frame {
        type t;
        std::string_view value; // into the input
        std::size_t children;   // child elements that follow (twice the pairs of a map)
        std::size_t size;       // bytes of the header line and any payload
    };

    // The steps of next(), defined (and forced inline) in parser.cpp only, so that next() still
    // compiles to one loop. The readers return status::element once `f` holds a whole element.
    [[nodiscard]] inline status read_frame(std::string_view in, frame& f,
                                           boost::system::error_code& ec) noexcept;
    [[nodiscard]] inline status read_blob(std::string_view in, frame& f,
                                          boost::system::error_code& ec) noexcept;
    [[nodiscard]] inline status read_aggregate(frame& f, boost::system::error_code& ec) const noexcept;
    inline void skip_attribute_part(frame const& f) noexcept;
    inline void emit(frame const& f, node& out) noexcept;
    void finish_element() noexcept;

    parser_limits limits_;
    std::array<level, depth_cap> stack_{};
    std::size_t depth_ = 0;        // levels open
    std::size_t attributes_ = 0;   // attribute levels open: elements inside are not reported
    std::size_t oob_level_ = no_level; // stack index of an open out-of-band push
    bool oob_finished_ = false;
    std::size_t hint_ = 0;
};

} // namespace redstream::resp
