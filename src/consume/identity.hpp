#pragma once
// The middle part of consumer names when worker_options::identity is empty.

#include <string>

namespace redstream::detail {

// "<hostname>.<pid>": unique per process on a host, so two processes never share a consumer.
std::string default_identity();

} // namespace redstream::detail
