#pragma once
// cotangent: differentiable programming in C++20, after Swift for TensorFlow.
#include "cotangent/autodiff/check.hpp"
#include "cotangent/backend/cpu.hpp"
#include "cotangent/backend/lazy.hpp"
#include "cotangent/backend/threads.hpp"
#include "cotangent/data/datasets.hpp"
#include "cotangent/nn/activations.hpp"
#include "cotangent/nn/layers.hpp"
#include "cotangent/nn/losses.hpp"
#include "cotangent/nn/move.hpp"
#include "cotangent/io/checkpoint.hpp"
#include "cotangent/optim/optimizers.hpp"
#include "cotangent/train/trainer.hpp"
