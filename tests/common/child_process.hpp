#pragma once

// Child processes for tests: consumer processes to kill or stop, redis-cli runs beside the test.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

namespace redstream::test {

/// Starts `args[0]` (searched on PATH when it has no '/') with `args`; returns its pid.
inline pid_t spawn_child(std::vector<std::string> args) {
    pid_t const pid = ::fork();
    if (pid == 0) {
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execvp(argv[0], argv.data());
        std::_Exit(127);
    }
    return pid;
}

/// The child's exit status once it has exited: its code, or 128 + the signal; nullopt-like -2
/// while it still runs (never blocks).
inline int poll_child(pid_t pid) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) != pid)
        return -2;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/// Waits (bounded) for a child to exit and returns its exit status, or -1 after killing it
/// when it outlived `limit`.
inline int wait_child(pid_t pid, std::chrono::seconds limit) {
    auto const end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (int const rc = poll_child(pid); rc != -2)
            return rc;
        ::usleep(10000);
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return -1;
}

} // namespace redstream::test
