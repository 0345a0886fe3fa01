#pragma once
/// @file
/// Kept for code written against the flat layout: the header lives in its layer now
/// (`<redstream/consume/outcome.hpp>`).
#include <redstream/consume/outcome.hpp>
