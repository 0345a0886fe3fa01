#include <redstream/version.hpp>

namespace redstream {

// Compiled into the library, so an application can tell which build it linked
// (header_version is the one it was compiled against).
char const* library_version() noexcept { return REDSTREAM_VERSION_STRING; }

} // namespace redstream
