#pragma once
/// @file
/// Producing to a partitioned stream: each message goes to one partition key, chosen by a key
/// field (stable) or round-robin.

#include <redstream/io/client.hpp>
#include <redstream/io/cluster_client.hpp>

#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace redstream {

/// XADDs to the partitions of a logical stream (cluster::partition_keys()).
///
/// The partition of a message is cluster::partition_of() of its `key_field` value (FNV-1a 64
/// modulo the count: messages with the same key land in the same partition, in order, from any
/// process), or round-robin when `key_field` is empty or the message has no such field.
///
/// On a cluster_client the XADDs go to each partition's master; publish_batch() sends one
/// sub-pipeline per master at once. On a client (one server) they share its connection.
///
/// **Lifetimes**: refers to its client without owning it.
class partitioned_producer {
public:
    /// Throws std::invalid_argument if `partitions` is 0 or above 16384, or `stream` holds '{'
    /// or '}'.
    partitioned_producer(client& c, std::string stream, std::size_t partitions, std::string key_field = {});
    /// As above, on a cluster.
    partitioned_producer(cluster_client& c, std::string stream, std::size_t partitions, std::string key_field = {});

    /// The partition `fields` go to (advances the round-robin when it is used).
    std::size_t partition_for(field_list const& fields);

    /// XADD to partition_for(fields); returns the new id. Errors as client::publish().
    boost::asio::awaitable<stream_id> publish(field_list const& fields, publish_options opts = {});
    /// One XADD per message, pipelined; ids in order. If any XADD is refused, throws the first
    /// refusal's code after every reply has arrived (the others stay added).
    boost::asio::awaitable<std::vector<stream_id>> publish_batch(std::vector<field_list> const& messages,
                                                                 publish_options opts = {});

    /// Every partition key, in partition order.
    [[nodiscard]] std::vector<std::string> const& keys() const noexcept { return keys_; }

private:
    boost::asio::awaitable<void> exec(request const& r, any_adapter a);

    client* client_ = nullptr;
    cluster_client* cluster_ = nullptr;
    std::vector<std::string> keys_;
    std::string key_field_;
    std::size_t next_ = 0; // round-robin
};

} // namespace redstream
