// Everything of libdrl.
#pragma once

#include "drl/client.hpp"
#include "drl/decision.hpp"
#include "drl/error.hpp"
#include "drl/limiter.hpp"
#include "drl/result.hpp"
