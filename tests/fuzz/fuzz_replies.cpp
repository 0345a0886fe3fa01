// libFuzzer target: arbitrary bytes through the RESP parser, the multiplexer and every typed
// reader, delivered in chunks whose sizes also come from the input. Must never crash, hang,
// or allocate without bound (the parser limits bound every count before anything is reserved).

#include <redstream/protocol/stream_readers.hpp>

#include "mux/multiplexer.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <string_view>
#include <variant>

using namespace redstream;

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    if (size < 1)
        return 0;
    std::size_t const chunk = 1 + data[0] % 17;
    std::string_view wire{reinterpret_cast<char const*>(data + 1), size - 1};

    resp::parser_limits limits;
    limits.max_bulk_length = 1 << 16;
    limits.max_aggregate_size = 1 << 12;
    detail::multiplexer mpx{limits, 1 << 16};
    detail::action_list actions;

    request one;
    one.push("X");
    read_reply rr;
    autoclaim_reply ac;
    pending_summary ps;
    std::vector<pending_entry> pe;
    stream_info si;
    std::vector<group_info> gi;
    std::vector<consumer_info> ci;
    entry_batch eb;
    std::vector<result<std::string>> strs;
    std::optional<std::int64_t> num;
    any_adapter adapters[] = {adapt(rr), adapt(ac), adapt(ps), adapt(pe), adapt(si),
                              adapt(gi), adapt(ci), adapt(eb), adapt_each(strs), adapt(num)};
    for (auto& a : adapters)
        (void)mpx.add(one, std::move(a));
    (void)mpx.prepare_write(false);
    mpx.commit_write();

    // Every entry must end exactly once, however the input goes.
    std::size_t completions = 0;
    auto const drain = [&] {
        for (auto const& a : actions)
            completions += std::holds_alternative<detail::completed>(a) ? 1 : 0;
        actions.clear();
    };
    std::string buffer;
    for (std::size_t at = 0; at < wire.size(); at += chunk) {
        buffer.append(wire.substr(at, chunk));
        error_code ec;
        std::size_t used = mpx.consume(buffer, ec, actions);
        drain();
        buffer.erase(0, used);
        if (ec)
            break;
    }
    mpx.fail_all(make_error_code(errc::closed), actions);
    drain();
    if (completions != std::size(adapters))
        std::abort();
    return 0;
}
