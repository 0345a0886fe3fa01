#pragma once
/// @file
/// Consuming every partition of a partitioned stream, on one server or on a Redis Cluster.

#include <redstream/consume/worker.hpp>
#include <redstream/io/cluster_client.hpp>

#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace redstream {

/// One partition as a partitioned_worker runs it.
struct partition_stats {
    std::string key;    ///< the partition's stream key
    std::string node;   ///< "host:port" of the master it is read from now (cluster; empty on one server)
    worker_stats stats; ///< its worker's figures, counters summed over the workers it moved through
};

/// A partitioned_worker's figures.
struct partitioned_worker_stats {
    worker_stats total;                     ///< counters and gauges summed over the partitions
    std::vector<partition_stats> partitions; ///< on one server: one entry reading every partition
    std::uint64_t moves = 0;   ///< partitions restarted on another master after their slot moved
    std::uint64_t refreshes = 0; ///< slot maps read by the supervisor
    std::uint64_t unassigned = 0; ///< supervisor rounds with a partition whose master was unknown
};

/// Consumes every partition of `opts.stream` (cluster::partition_keys() of it, `partitions`
/// keys) in `opts.group`, with one handler. Assignment is **shared**: every process running a
/// partitioned_worker of the group reads every partition, and the group hands each entry to
/// one consumer; order is not kept across or within partitions once several consumers read.
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
/// Per-partition keys: the dead-letter stream of each partition is `<key>:dlq` by default. On
/// a cluster, a `opts.dead_letter_stream` becomes cluster::partition_key() of it for each
/// partition, and idempotency markers get the partition's hash tag after `key_prefix`
/// (`<prefix>{<tag>}:<key>`), so the ack script's keys share one slot. Markers are then per
/// partition: route by the same field as idempotency::key_field so duplicates meet.
///
/// Throws std::invalid_argument for `opts.streams` not empty, no `opts.stream`, or a partition
/// count the naming refuses (cluster::partition_key()).
///
/// **Lifetimes**: the (cluster) client must outlive the worker and its run().
class partitioned_worker {
public:
    using handler = worker::handler; ///< as worker::on_message()

    /// Every partition of `opts.stream` on one server, read by one worker.
    partitioned_worker(client& c, worker_options opts, std::size_t partitions);
    /// Every partition of `opts.stream` on a cluster, one worker per partition on its master.
    partitioned_worker(cluster_client& c, worker_options opts, std::size_t partitions);
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
    /// The options it was made with (`stream` is the logical stream).
    [[nodiscard]] worker_options const& options() const noexcept;

private:
    struct state;
    static std::shared_ptr<state> make_state(worker_options opts, std::size_t partitions, bool per_partition);
    std::shared_ptr<state> state_;
};

} // namespace redstream
