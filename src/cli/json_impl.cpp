// Boost.JSON compiled into the command (header-only mode), so the library needs no extra
// shared library at run time. Only the CLI parses JSON (produce reads JSON lines).
#include <boost/json/src.hpp>
