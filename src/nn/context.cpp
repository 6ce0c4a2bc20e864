#include "cotangent/nn/context.hpp"

namespace ct {
Context& Context::local() {
  thread_local Context context;
  return context;
}
}  // namespace ct
