#pragma once
// The XADD of one message, shared by every publisher (client, cluster_client, partitioned_producer).

#include <redstream/io/client.hpp>
#include <redstream/protocol/request.hpp>

#include <string_view>

namespace redstream::detail {

inline void push_xadd(request& r, std::string_view stream, field_list const& fields, publish_options const& o) {
    if (o.maxlen)
        r.push("XADD", stream, "MAXLEN", o.exact_trim ? "=" : "~", *o.maxlen, "*", fields);
    else
        r.push("XADD", stream, "*", fields);
}

} // namespace redstream::detail
