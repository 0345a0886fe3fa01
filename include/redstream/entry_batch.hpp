#pragma once
/// @file
/// Kept for code written against the flat layout: the header lives in its layer now
/// (`<redstream/protocol/entry_batch.hpp>`).
#include <redstream/protocol/entry_batch.hpp>
