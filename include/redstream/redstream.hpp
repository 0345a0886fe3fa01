#pragma once
/// @file
/// Everything redstream offers, in one include. Each header below also stands alone.

/// @namespace redstream
/// Everything public: clients and connections (io), workers and their options (consume), the
/// autoscaler (scaling), admin, metrics and HTTP (ops), and the typed replies, requests and
/// error codes of the protocol layer.
///
/// Objects are bound to the executor they were made with and must be used from that
/// executor's thread only; an object that takes another by reference does not own it. The
/// nested `redstream::detail` is not part of the API.

/// @namespace redstream::resp
/// The sans-io RESP2/RESP3 codec: a pull parser that reports one element (resp::node) at a
/// time, with size limits, and its error codes. No Asio, no sockets.

#include <redstream/resp/error.hpp>
#include <redstream/resp/node.hpp>
#include <redstream/resp/parser.hpp>
#include <redstream/resp/type.hpp>

#include <redstream/protocol/adapter.hpp>
#include <redstream/protocol/entry_batch.hpp>
#include <redstream/protocol/error.hpp>
#include <redstream/protocol/info_types.hpp>
#include <redstream/protocol/push.hpp>
#include <redstream/protocol/reply_reader.hpp>
#include <redstream/protocol/request.hpp>
#include <redstream/protocol/result.hpp>
#include <redstream/protocol/stream_id.hpp>
#include <redstream/protocol/stream_readers.hpp>

#include <redstream/cluster/command_keys.hpp>
#include <redstream/cluster/key_slot.hpp>
#include <redstream/cluster/partitions.hpp>
#include <redstream/cluster/redirect.hpp>
#include <redstream/cluster/reply_tape.hpp>
#include <redstream/cluster/slot_map.hpp>
#include <redstream/io/client.hpp>
#include <redstream/io/cluster_client.hpp>
#include <redstream/io/cluster_connection.hpp>
#include <redstream/io/config.hpp>
#include <redstream/io/connection.hpp>
#include <redstream/io/logger.hpp>
#include <redstream/io/partitioned_producer.hpp>

#include <redstream/consume/histogram.hpp>
#include <redstream/consume/message.hpp>
#include <redstream/consume/outcome.hpp>
#include <redstream/consume/partitioned_worker.hpp>
#include <redstream/consume/worker.hpp>
#include <redstream/consume/worker_options.hpp>

#include <redstream/scaling/autoscaler.hpp>
#include <redstream/scaling/partitioned_autoscaler.hpp>
#include <redstream/scaling/group_sampler.hpp>
#include <redstream/scaling/scaling_policy.hpp>

#include <redstream/ops/admin.hpp>
#include <redstream/ops/http_endpoint.hpp>
#include <redstream/ops/metrics.hpp>
