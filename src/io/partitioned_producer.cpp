#include <redstream/cluster/partitions.hpp>
#include <redstream/io/partitioned_producer.hpp>

#include "io/xadd_request.hpp"

#include <boost/asio/use_awaitable.hpp>

namespace redstream {

namespace asio = boost::asio;

partitioned_producer::partitioned_producer(client& c, std::string stream, std::size_t partitions,
                                           std::string key_field)
    : client_(&c), keys_(cluster::partition_keys(stream, partitions)), key_field_(std::move(key_field)) {}

partitioned_producer::partitioned_producer(cluster_client& c, std::string stream, std::size_t partitions,
                                           std::string key_field)
    : cluster_(&c), keys_(cluster::partition_keys(stream, partitions)), key_field_(std::move(key_field)) {}

std::size_t partitioned_producer::partition_for(field_list const& fields) {
    if (!key_field_.empty())
        for (auto const& [name, value] : fields)
            if (name == key_field_)
                return cluster::partition_of(value, keys_.size());
    return next_++ % keys_.size();
}

asio::awaitable<void> partitioned_producer::exec(request const& r, any_adapter a) {
    if (cluster_)
        co_await cluster_->routed().async_exec(r, std::move(a), asio::use_awaitable);
    else
        co_await client_->connection().async_exec(r, std::move(a), asio::use_awaitable);
}

asio::awaitable<stream_id> partitioned_producer::publish(field_list const& fields, publish_options opts) {
    request r;
    detail::push_xadd(r, keys_[partition_for(fields)], fields, opts);
    stream_id id;
    co_await exec(r, adapt(id));
    co_return id;
}

asio::awaitable<std::vector<stream_id>> partitioned_producer::publish_batch(std::vector<field_list> const& messages,
                                                                            publish_options opts) {
    std::vector<stream_id> ids;
    if (messages.empty())
        co_return ids;
    request r;
    for (auto const& m : messages)
        detail::push_xadd(r, keys_[partition_for(m)], m, opts);
    co_await exec(r, adapt_each(ids));
    co_return ids;
}

} // namespace redstream
