#pragma once
/// @file
/// Kept for code written against the flat layout: the header lives in its layer now
/// (`<redstream/protocol/reply_reader.hpp>`).
#include <redstream/protocol/reply_reader.hpp>
