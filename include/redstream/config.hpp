#pragma once
/// @file
/// Kept for code written against the flat layout: the header lives in its layer now
/// (`<redstream/io/config.hpp>`).
#include <redstream/io/config.hpp>
