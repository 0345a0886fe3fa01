#pragma once

// The subcommands of `redstream`; each returns its exit code or throws cli_error.

#include "cli_common.hpp"

namespace redstream::cli {

int cmd_bench(args& a);
int cmd_groups(args& a);
int cmd_pending(args& a);
int cmd_consume(args& a);
int cmd_produce(args& a);
int cmd_dlq(args& a);
int cmd_trim(args& a);

} // namespace redstream::cli
