#pragma once
// partitioned_worker's state, shared by its shared-assignment and owned-assignment supervisors.

#include <redstream/consume/partitioned_worker.hpp>

#include "consume/partition_leases.hpp"

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <exception>
#include <memory>
#include <string>
#include <vector>

namespace redstream {

// One partition's (or, on one server, every partition's) worker, and the ones it replaced.
struct partition_run {
    std::string key;
    std::string node;               // "host:port" of the master now; empty: one server, or not started
    std::shared_ptr<worker> w;      // shared with worker_handles() holders (an autoscaler)
    std::shared_ptr<bool> done;     // its run() has completed
    worker_stats retired;           // counters of the workers this one replaced
    std::uint64_t read_errors_seen = 0;
    bool moving = false;            // asked to stop so that it starts on its slot's new master
    std::exception_ptr failure;     // how its run() ended, if it threw
    std::chrono::milliseconds restart_delay{0};     // grows while its run() keeps throwing
    std::chrono::steady_clock::time_point restart_at{};
    // Owned assignment:
    std::string lease_key;
    bool wanted = false;            // the assignment gives it to this member
    bool held = false;              // this member holds its lease
    bool handing_over = false;      // asked to stop because another member owns it now
    bool take_pending = false;      // claim its pending entries before the next start
    std::string pending_cursor;     // where that claim goes on (XAUTOCLAIM cursor; empty: from the start)
    bool take_failing = false;      // the claim failed last round (logged once per streak)
    std::chrono::steady_clock::time_point renewed{}; // when the last renewal that held was sent

    bool running() const { return w && done && !*done; }
};

struct partitioned_worker::state : std::enable_shared_from_this<partitioned_worker::state> {
    client* single = nullptr;
    cluster_client* cluster = nullptr;
    worker_options opts;
    assignment_options assign;
    std::string identity;               // owned: the middle part of this member's consumer names
    std::vector<std::string> keys;
    std::vector<partition_run> runs;
    handler on_message;
    bool stopping = false;
    bool running = false;
    std::uint64_t moves = 0, refreshes = 0, unassigned = 0;
    std::size_t members = 0;
    std::uint64_t leases_acquired = 0, leases_released = 0, leases_lost = 0, heartbeat_errors = 0;
    std::unique_ptr<detail::partition_leases> leases; // owned assignment
    std::unique_ptr<boost::asio::steady_timer> wake;  // cancelled to wake the supervisor
    std::unique_ptr<boost::asio::steady_timer> watchdog; // owned: paces watch_leases()
    bool watching = false;
    std::uint64_t watch_generation = 0; // a watcher of an earlier run() that wakes late just ends

    bool owned() const { return assign.mode == partition_assignment::owned; }
    logger const& log() const { return cluster ? cluster->get_logger() : single->get_logger(); }
    worker_options options_for(std::size_t partition) const;
    void start(partition_run& r, client& on, worker_options o, std::string node);
    static void retire(partition_run& r);
    void stop_all();
    bool all_done() const;
    boost::asio::awaitable<void> sleep(std::chrono::milliseconds d);

    // Shared assignment on a cluster: every partition, each on its master.
    boost::asio::awaitable<void> supervise_cluster();
    // Reads the slot map again when a partition's reads failed, or every refresh interval.
    boost::asio::awaitable<void> refresh_map_if_needed(std::chrono::steady_clock::time_point& last_refresh, bool first);
    // Starts partition `p`'s worker where its key lives (restarting after a failure with
    // backoff), or stops it to move it there.
    boost::asio::awaitable<void> place(std::size_t p);
    // Owned assignment: the partitions this member holds the lease of.
    boost::asio::awaitable<void> supervise_owned();
    // After stop: renews the leases of the partitions still draining, gives back each as it
    // finishes, then every lease and the membership.
    boost::asio::awaitable<void> drain_owned();
    std::chrono::milliseconds owned_tick() const;
    boost::asio::awaitable<void> renew_leases(std::vector<std::string> const& live);
    boost::asio::awaitable<void> hold_leases(std::vector<std::size_t> const& asked);
    // Stops reading every partition whose lease was not renewed for half its TTL.
    void stop_unrenewed();
    enum class give_back { handed_over, finished, all };
    boost::asio::awaitable<void> give_back_leases(give_back which);
    // Runs stop_unrenewed() every tick, whatever the supervisor is waiting for.
    static boost::asio::awaitable<void> watch_leases(std::shared_ptr<state> self, std::uint64_t generation);
};

} // namespace redstream
