#pragma once
/// @file
/// Kept for code written against the flat layout: the header lives in its layer now
/// (`<redstream/scaling/autoscaler.hpp>`).
#include <redstream/scaling/autoscaler.hpp>
