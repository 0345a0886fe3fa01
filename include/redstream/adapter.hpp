#pragma once
/// @file
/// Kept for code written against the flat layout: the header lives in its layer now
/// (`<redstream/protocol/adapter.hpp>`).
#include <redstream/protocol/adapter.hpp>
