#include "cotangent/backend/cpu.hpp"

namespace ct::cpu {

KernelOptions& kernel_options() {
  static KernelOptions options;
  return options;
}

}  // namespace ct::cpu
