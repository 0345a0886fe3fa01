#pragma once
/// @file
/// Kept for code written against the flat layout: the header lives in its layer now
/// (`<redstream/scaling/scaling_policy.hpp>`).
#include <redstream/scaling/scaling_policy.hpp>
