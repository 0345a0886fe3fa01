#pragma once
/// @file
/// Kept for code written against the flat layout: the header lives in its layer now
/// (`<redstream/protocol/info_types.hpp>`).
#include <redstream/protocol/info_types.hpp>
