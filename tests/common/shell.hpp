#pragma once

// Runs shell commands from tests (promtool, curl): stdout and exit status.

#include <sys/wait.h>

#include <cstdio>
#include <string>
#include <utility>

namespace redstream::test {

/// Runs `cmd` with /bin/sh; returns its exit status (-1 if it did not exit) and stdout.
inline std::pair<int, std::string> shell(std::string const& cmd) {
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p)
        return {-1, out};
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p))
        out.append(buf, n);
    int const status = ::pclose(p);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

/// promtool (Debian package prometheus) is on PATH.
inline bool have_promtool() { return shell("command -v promtool >/dev/null 2>&1 && echo yes").second == "yes\n"; }

} // namespace redstream::test
