#pragma once
// The learning phase (S4TF's Context.local.learningPhase): training or inference, per thread.
#include "cotangent/ops/creation.hpp"

namespace ct {

/// Whether layers train (Dropout drops, BatchNorm uses batch statistics) or infer.
enum class LearningPhase { inference, training };

/// Per-thread state layers read: the learning phase and the random generator (Context::local()).
struct Context {
  LearningPhase learning_phase = LearningPhase::inference;
  /// Randomness of layers such as Dropout; reseed for reproducible training.
  Generator random{0xd209};

  /// This thread's context.
  static Context& local();
};

/// Sets the learning phase for a scope and restores the previous one after it.
///   { LearningPhaseScope training(LearningPhase::training); … }
class LearningPhaseScope {
 public:
  explicit LearningPhaseScope(LearningPhase phase) : previous_(Context::local().learning_phase) {
    Context::local().learning_phase = phase;
  }
  ~LearningPhaseScope() { Context::local().learning_phase = previous_; }
  LearningPhaseScope(const LearningPhaseScope&) = delete;
  LearningPhaseScope& operator=(const LearningPhaseScope&) = delete;

 private:
  LearningPhase previous_;
};

}  // namespace ct
