#pragma once

// A benchmark's helper process (the hiredis peer, or a consumer process of our own): started
// with posix_spawn, its stdout read through a pipe, its result given as one line of `key=value`
// pairs.

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace redstream::bench {

class child_process {
public:
    /// Starts `args[0]` with `args`; its stdout goes to a pipe that wait() reads.
    explicit child_process(std::vector<std::string> args) {
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        int fds[2];
        if (::pipe(fds) != 0)
            throw std::runtime_error("child_process: pipe failed");
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
        posix_spawn_file_actions_addclose(&actions, fds[0]);
        int const rc = ::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        ::close(fds[1]);
        if (rc != 0) {
            ::close(fds[0]);
            throw std::runtime_error("child_process: cannot start " + args[0]);
        }
        out_ = fds[0];
    }
    child_process(child_process const&) = delete;
    child_process& operator=(child_process const&) = delete;
    ~child_process() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        if (out_ >= 0)
            ::close(out_);
    }

    /// Blocks until the process exits; what it printed. Throws when it failed.
    std::string wait() {
        std::string text;
        char buf[512];
        for (ssize_t n; (n = ::read(out_, buf, sizeof buf)) > 0;)
            text.append(buf, static_cast<std::size_t>(n));
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            throw std::runtime_error("child process failed: " + text);
        return text;
    }

    /// The number after ` key=` in a result line; 0 when absent.
    static double field(std::string const& text, std::string const& key) {
        auto const at = text.find(" " + key + "=");
        return at == std::string::npos ? 0.0 : std::stod(text.substr(at + key.size() + 2));
    }

private:
    pid_t pid_ = -1;
    int out_ = -1;
};

} // namespace redstream::bench
