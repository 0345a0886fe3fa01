#pragma once

// Runs shell commands from tests (promtool, curl): stdout and exit status.

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
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

/// Writes `content` to a temp file and runs `promtool check <kind>` on it: "metrics" (an
/// exposition, read from stdin) or "rules" (a rules file). Returns its status and output.
inline std::pair<int, std::string> promtool_check(std::string_view kind, std::string const& content) {
    auto const file = std::filesystem::temp_directory_path() /
                      ("redstream-promtool-" + std::to_string(::getpid()) + "-" + std::string{kind} + ".txt");
    {
        std::ofstream f{file};
        f << content;
    }
    auto const input = kind == "metrics" ? " < " : " ";
    auto result = shell("promtool check " + std::string{kind} + input + file.string() + " 2>&1");
    std::filesystem::remove(file);
    return result;
}

} // namespace redstream::test
