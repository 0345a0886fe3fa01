#pragma once
// The leases of owned assignment (partitioned_worker): who is alive, and who reads which
// partition. All of it lives in Redis, timed by the server's clock, so processes on hosts
// whose clocks differ still agree.
//
// - Members: a sorted set `<stream>:members:<group>` of member → expiry (server ms). A
//   heartbeat re-adds the member, drops the expired ones and returns the live ones.
// - Leases: `<partition key>:lease:<group>` holds the member reading that partition, with a
//   TTL. It carries the partition's hash tag, so on a cluster it lives with the partition. The
//   value is the member's name and a token drawn per partition_leases, so two processes that
//   were given the same member name never both hold one lease.
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
    // nullopt the script failed (the error in `error`). On a cluster one request per master, all
    // at once: a master that is down fails only its own partitions' renewals.
    boost::asio::awaitable<std::vector<std::optional<bool>>> hold(std::vector<std::string> const& lease_keys,
                                                                  std::string& error);
    // Deletes the leases this member holds (not another's, and not another process's of the
    // same member name).
    boost::asio::awaitable<void> release(std::vector<std::string> const& lease_keys);
    // Removes this member from the members set.
    boost::asio::awaitable<void> leave();
    // Claims pending entries of `group` on `stream` for `consumer` (XAUTOCLAIM, min idle 0,
    // JUSTID; up to 10,000 per call), so the new owner re-reads them first, in id order.
    // `cursor` starts empty and ends as "0-0" once every entry is claimed (or there is no group
    // yet). Returns the error, if any.
    boost::asio::awaitable<std::optional<std::string>> take_pending(std::string const& stream, std::string const& group,
                                                                    std::string const& consumer, std::string& cursor);

    std::string const& member() const noexcept { return member_; }

private:
    boost::asio::awaitable<boost::system::error_code> exec(request const& r, any_adapter a);
    // The lease keys' indexes grouped by the master serving them (one group on one server).
    std::vector<std::vector<std::size_t>> by_master(std::vector<std::string> const& keys) const;

    connection* conn_;
    cluster_connection* routed_;
    std::string members_key_;
    std::string member_;
    std::string holder_; // the lease value: "<member>#<token>"
    std::chrono::milliseconds ttl_;
};

} // namespace redstream::detail
