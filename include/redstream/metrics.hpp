#pragma once
/// @file
/// Kept for code written against the flat layout: the header lives in its layer now
/// (`<redstream/ops/metrics.hpp>`).
#include <redstream/ops/metrics.hpp>
