#pragma once

#include <algorithm>
#include <string>
#include <vector>

namespace redstream::detail {

/// The streams of a consumer given as `stream` and/or `streams` (worker_options): `stream`
/// first when set, then `streams` in order, each name once. The worker reads exactly these;
/// its metrics labels and the autoscaler's samples use the same list.
[[nodiscard]] inline std::vector<std::string> stream_list(std::string const& stream,
                                                          std::vector<std::string> const& streams) {
    std::vector<std::string> out;
    if (!stream.empty())
        out.push_back(stream);
    for (auto const& s : streams)
        if (std::find(out.begin(), out.end(), s) == out.end())
            out.push_back(s);
    return out;
}

} // namespace redstream::detail
