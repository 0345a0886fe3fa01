#pragma once
/// @file
/// Kept for code written against the flat layout: the header lives in its layer now
/// (`<redstream/io/connection.hpp>`).
#include <redstream/io/connection.hpp>
