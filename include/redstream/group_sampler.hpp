#pragma once
/// @file
/// Kept for code written against the flat layout: the header lives in its layer now
/// (`<redstream/scaling/group_sampler.hpp>`).
#include <redstream/scaling/group_sampler.hpp>
