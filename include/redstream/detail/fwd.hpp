#pragma once

// The implementation classes behind the public pimpls (client, connection, worker), and the
// accessor through which the library reaches what client keeps private; all defined in src/.
// Declared here so that public headers name nothing else of namespace detail.

namespace redstream::detail {

class connection_impl;
class cluster_connection_impl;
class client_impl;
class worker_impl;
struct client_internals;
struct connection_internals;

} // namespace redstream::detail
