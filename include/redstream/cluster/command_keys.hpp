#pragma once
/// @file
/// Which key decides where a command goes: the commands of a request, split, with the key
/// that routes each.

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

namespace redstream::cluster {

/// One command of a serialised request: its arguments (the name first) and its routing key.
struct routed_command {
    std::vector<std::string_view> args; ///< views into the request's payload
    /// The key whose slot decides the node; nullopt for a command any node answers (PING,
    /// INFO, CLUSTER …, EVAL with no keys). MULTI and EXEC take the key of the transaction's
    /// first keyed command, so a transaction stays on one node.
    std::optional<std::string_view> key;
    /// On a MULTI: how many commands its block holds, MULTI and EXEC (or DISCARD) included,
    /// which are routed together. 1 on every other command.
    std::size_t block = 1;
};

/// The routing key of one command given as its arguments (the name first, any case):
/// - XREADGROUP and XREAD: the first key after STREAMS;
/// - EVAL, EVALSHA, FCALL, FCALL_RO: the first key when numkeys > 0;
/// - XGROUP, XINFO, OBJECT, MEMORY (sub-command first): the argument after the sub-command;
/// - commands without keys (PING, INFO, CLUSTER, HELLO, AUTH, CLIENT, CONFIG, SCRIPT, ACL,
///   COMMAND, SELECT, ASKING, READONLY, READWRITE, DBSIZE, TIME, MULTI, EXEC, DISCARD, WAIT,
///   the SUBSCRIBE family, FLUSHALL, FLUSHDB): none;
/// - any other command: its first argument.
[[nodiscard]] std::optional<std::string_view> command_key(std::vector<std::string_view> const& args) noexcept;

/// Splits a request's payload (RESP arrays of bulk strings, as request::payload() holds) into
/// its commands and their keys. Returns nullopt if the payload is not such a sequence.
[[nodiscard]] std::optional<std::vector<routed_command>> split_commands(std::string_view payload);

} // namespace redstream::cluster
