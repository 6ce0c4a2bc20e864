#pragma once
// Every public op.
#include "cotangent/ops/creation.hpp"
#include "cotangent/ops/elementwise.hpp"
#include "cotangent/ops/linalg.hpp"
#include "cotangent/ops/nn.hpp"
#include "cotangent/ops/reduction.hpp"
#include "cotangent/ops/scan.hpp"
#include "cotangent/ops/shape.hpp"
