#pragma once
/// @file
/// Kept for code written against the flat layout: the header lives in its layer now
/// (`<redstream/io/client.hpp>`).
#include <redstream/io/client.hpp>
