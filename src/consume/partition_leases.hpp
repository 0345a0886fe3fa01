#pragma once
// The leases of owned assignment (partitioned_worker): who is alive, and who reads which
// partition. All of it lives in Redis, timed by the server's clock, so processes on hosts
// whose clocks differ still agree.
//
// - Members: a sorted set `<stream>:members:<group>` of member → expiry (server ms). A
//   heartbeat re-adds the member, drops the expired ones and returns the live ones.
// - Leases: `<partition key>:lease:<group>` holds the member reading that partition, with a
//   TTL. It carries the partition's hash tag, so on a cluster it lives with the partition.
//
// Every script goes as EVAL (never EVALSHA): nothing to reload after a failover or restart.

#include <redstream/io/cluster_connection.hpp>
#include <redstream/io/connection.hpp>

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace redstream::detail {

class partition_leases {
public:
    // Commands go over `conn` (one server) or `routed` (a cluster): exactly one is set.
    partition_leases(connection* conn, cluster_connection* routed, std::string members_key, std::string member,
                     std::chrono::milliseconds ttl);

    // Re-adds this member; the live members (this one included), or the error.
    boost::asio::awaitable<std::optional<std::vector<std::string>>> heartbeat(std::string& error);
    // Takes or renews each lease for this member: true held, false another member holds it,
    // nullopt the script failed (the error in `error`).
    boost::asio::awaitable<std::vector<std::optional<bool>>> hold(std::vector<std::string> const& lease_keys,
                                                                  std::string& error);
    // Deletes the leases this member holds (not another's).
    boost::asio::awaitable<void> release(std::vector<std::string> const& lease_keys);
    // Removes this member from the members set.
    boost::asio::awaitable<void> leave();
    // Claims every pending entry of `group` on `stream` for `consumer` (XAUTOCLAIM, min idle 0,
    // JUSTID), so the new owner re-reads them first, in id order. Returns the error, if any.
    boost::asio::awaitable<std::optional<std::string>> take_pending(std::string const& stream, std::string const& group,
                                                                    std::string const& consumer);

    std::string const& member() const noexcept { return member_; }

private:
    boost::asio::awaitable<boost::system::error_code> exec(request const& r, any_adapter a);

    connection* conn_;
    cluster_connection* routed_;
    std::string members_key_;
    std::string member_;
    std::chrono::milliseconds ttl_;
};

} // namespace redstream::detail
