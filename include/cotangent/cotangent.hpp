#pragma once
// cotangent: differentiable programming in C++20, after Swift for TensorFlow.
#include "cotangent/autodiff/check.hpp"
#include "cotangent/nn/activations.hpp"
