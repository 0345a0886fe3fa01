#pragma once
// Kept for code written against the flat layout: the header lives in its layer now.
#include <redstream/protocol/push.hpp>
