#pragma once
/// @file
/// Kept for code written against the flat layout: the header lives in its layer now
/// (`<redstream/ops/http_endpoint.hpp>`).
#include <redstream/ops/http_endpoint.hpp>
