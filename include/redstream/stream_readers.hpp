#pragma once
/// @file
/// Kept for code written against the flat layout: the header lives in its layer now
/// (`<redstream/protocol/stream_readers.hpp>`).
#include <redstream/protocol/stream_readers.hpp>
