#pragma once
/// @file
/// Kept for code written against the flat layout: the header lives in its layer now
/// (`<redstream/protocol/error.hpp>`).
#include <redstream/protocol/error.hpp>
