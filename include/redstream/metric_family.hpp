#pragma once
/// @file
/// The flat include of `<redstream/ops/metric_family.hpp>`.
#include <redstream/ops/metric_family.hpp>
