#pragma once
/// @file
/// Consuming every partition of a partitioned stream, on one server or on a Redis Cluster.

#include <redstream/consume/worker.hpp>
#include <redstream/io/cluster_client.hpp>

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace redstream {

/// How the processes running partitioned_workers of one group share the partitions.
enum class partition_assignment {
    /// Every worker reads every partition; the group gives each entry to one consumer.
    /// At-least-once, no order. Nothing to coordinate.
    shared,
    /// Each partition is read by one member at a time (a lease in Redis), with one consumer:
    /// entries of a partition are handled in order. Members agree on who owns what by
    /// rendezvous hashing over the live members (cluster::assign_partitions()).
    owned,
};

/// Owned assignment's settings (partitioned_worker's last constructor argument).
struct assignment_options {
    partition_assignment mode = partition_assignment::shared; ///< shared (the default) or owned
    /// Owned: how long a lease and a membership last without renewal. The worker renews both
    /// every `lease_ttl / 10` (20 ms to 1 s), stops reading a partition whose lease it could
    /// not renew for `lease_ttl / 2`, and a crashed member's partitions move on after at most
    /// `lease_ttl`.
    std::chrono::milliseconds lease_ttl{10000};
    /// Owned: this member's name, unique per process. Empty: `<consumer_prefix>.<identity>`
    /// (identity as worker_options::identity: `<hostname>.<pid>` when empty).
    std::string member{};
};

/// One partition as a partitioned_worker runs it.
struct partition_stats {
    std::string key;    ///< the partition's stream key
    std::string node;   ///< "host:port" of the master it is read from now (cluster; empty on one server)
    worker_stats stats; ///< its worker's figures, counters summed over the workers it moved through
    bool owned = false; ///< owned assignment: this member holds the partition's lease now
};

/// A partitioned_worker's figures.
struct partitioned_worker_stats {
    worker_stats total;                     ///< counters and gauges summed over the partitions
    std::vector<partition_stats> partitions; ///< on one server: one entry reading every partition
    std::uint64_t moves = 0;   ///< partitions restarted on another master after their slot moved
    std::uint64_t refreshes = 0; ///< slot maps read by the supervisor
    std::uint64_t unassigned = 0; ///< supervisor rounds with a partition whose master was unknown
    // Owned assignment (all 0 when shared):
    std::size_t members = 0;          ///< live members last seen (this one included)
    std::size_t owned = 0;            ///< partitions whose lease this member holds now
    std::uint64_t leases_acquired = 0; ///< leases taken (a partition started here)
    std::uint64_t leases_released = 0; ///< leases given back (a partition handed over, or at stop)
    std::uint64_t leases_lost = 0;     ///< leases found held by another, or not renewed in time
    std::uint64_t heartbeat_errors = 0; ///< membership or lease renewals that failed
};

/// Consumes every partition of `opts.stream` (cluster::partition_keys() of it, `partitions`
/// keys) in `opts.group`, with one handler.
///
/// **Shared assignment** (the default): every process running a partitioned_worker of the
/// group reads every partition, and the group hands each entry to one consumer; order is not
/// kept across or within partitions once several consumers read.
///
/// - On one server (the client constructor), a single redstream::worker reads all partitions
///   in one XREADGROUP; `opts.consumers` consumers in all.
/// - On a cluster, each partition has its own redstream::worker on the client of the master
///   that owns its slot (XREADGROUP names keys of one slot only), with `opts.consumers`
///   consumers each, its claim loop (claims per partition), and its wake-ups on that node
///   (keyspace notifications are local to a node; the dedicated wake-up connection goes to it
///   too). A supervisor checks every partition's owner against the slot map every 250 ms
///   (reading the map again when a partition's reads fail, and every
///   config::cluster_refresh_interval); when a slot has moved, that partition's worker is
///   stopped (its drain as stop(): handlers finish, acks the old master refuses leave the
///   messages pending) and started on the new owner under the same consumer names, which
///   re-reads their pending lists there (the PEL moves with the key).
///
/// **Owned assignment** (assignment_options::mode): the members (processes) of the group agree
/// by rendezvous hashing over the live members which member owns each partition, ⌊P/M⌋ or
/// ⌈P/M⌉ each. A member reads only the partitions whose lease it holds, each with its own
/// worker of one consumer (so `opts.consumers` must be 1), on one server or on the partition's
/// master. Handing over: the old owner drains (handlers finish, acks flushed), then gives the
/// lease back, then the new owner takes it, claims every entry still pending in the partition
/// for its consumer (XAUTOCLAIM, min idle 0: a crashed owner's entries come first, not after
/// `min_idle`) and reads on. Guarantee: entries of one partition are handled one at a time, in
/// id order, except entries retried (outcome retry, a throw) or claimed, which come after the
/// entries read meanwhile; and a handler still running `lease_ttl / 2` after the last renewal
/// (a member cut off from Redis) may overlap the next owner's. Keys:
/// `<stream>:members:<group>` (a sorted set) and `<partition key>:lease:<group>`.
///
/// Per-partition keys: the dead-letter stream of each partition is `<key>:dlq` by default. On
/// a cluster, a `opts.dead_letter_stream` becomes cluster::partition_key() of it for each
/// partition, and idempotency markers get the partition's hash tag after `key_prefix`
/// (`<prefix>{<tag>}:<key>`), so the ack script's keys share one slot. Markers are then per
/// partition: route by the same field as idempotency::key_field so duplicates meet.
///
/// Throws std::invalid_argument for `opts.streams` not empty, no `opts.stream`, a partition
/// count the naming refuses (cluster::partition_key()), or owned assignment with
/// `opts.consumers` other than 1 or a `lease_ttl` under 100 ms.
///
/// **Lifetimes**: the (cluster) client must outlive the worker and its run().
class partitioned_worker {
public:
    using handler = worker::handler; ///< as worker::on_message()

    /// Every partition of `opts.stream` on one server: shared, one worker reads them all.
    partitioned_worker(client& c, worker_options opts, std::size_t partitions, assignment_options a = {});
    /// Every partition of `opts.stream` on a cluster, one worker per partition on its master.
    partitioned_worker(cluster_client& c, worker_options opts, std::size_t partitions, assignment_options a = {});
    /// Asks run() to stop (as stop()).
    ~partitioned_worker();
    partitioned_worker(partitioned_worker const&) = delete;
    partitioned_worker& operator=(partitioned_worker const&) = delete;

    /// The handler for every partition (before run()).
    void on_message(handler h);
    /// Runs every partition until stop(); completes when they all have drained. Cancelling it
    /// is a stop(): the partitions drain, then it throws operation_aborted (as worker::run()).
    /// On one server, its worker's exception is rethrown after the drain; on a cluster, a
    /// partition whose worker threw is started again with backoff (0.5 s doubling to 30 s).
    /// Throws std::logic_error without a handler, or when already running. May run again
    /// after it returned.
    boost::asio::awaitable<void> run();
    /// Asks every partition to stop, as worker::stop(). Idempotent.
    void stop();

    /// Figures now (no I/O).
    [[nodiscard]] partitioned_worker_stats stats() const;
    /// Every partition key, in partition order.
    [[nodiscard]] std::vector<std::string> const& keys() const noexcept;
    /// The workers running now (one, or one per partition that has a master), for metrics:
    /// valid until the executor runs something else (a move replaces a partition's worker).
    [[nodiscard]] std::vector<worker*> workers() const;
    /// The workers whose run() is going on now, shared: a holder may use one after a move has
    /// replaced it (partitioned_autoscaler keeps each until its autoscaler has stopped).
    [[nodiscard]] std::vector<std::shared_ptr<worker>> worker_handles() const;
    /// The options it was made with (`stream` is the logical stream).
    [[nodiscard]] worker_options const& options() const noexcept;
    /// Its assignment settings (`member` filled in when owned).
    [[nodiscard]] assignment_options const& assignment() const noexcept;

private:
    struct state;
    static std::shared_ptr<state> make_state(worker_options opts, std::size_t partitions, assignment_options a,
                                             bool per_partition);
    std::shared_ptr<state> state_;
};

} // namespace redstream
