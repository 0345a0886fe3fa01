#pragma once
/// @file
/// Kept for code written against the flat layout: the header lives in its layer now
/// (`<redstream/protocol/stream_id.hpp>`).
#include <redstream/protocol/stream_id.hpp>
