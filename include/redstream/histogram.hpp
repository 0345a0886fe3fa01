#pragma once
/// @file
/// Kept for code written against the flat layout: the header lives in its layer now
/// (`<redstream/consume/histogram.hpp>`).
#include <redstream/consume/histogram.hpp>
