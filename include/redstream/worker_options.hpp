#pragma once
/// @file
/// Kept for code written against the flat layout: the header lives in its layer now
/// (`<redstream/consume/worker_options.hpp>`).
#include <redstream/consume/worker_options.hpp>
