#include "cotangent/backend/threads.hpp"

#include <omp.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>

#include "cotangent/core/error.hpp"

namespace ct {

int thread_count() { return omp_get_max_threads(); }

void set_thread_count(int n) {
  CT_CHECK_AS(ValueError, n >= 1, "set_thread_count: {} threads; at least 1 is needed", n);
  omp_set_num_threads(n);
}

namespace {
std::atomic<bool> g_deterministic{false};
}

void set_deterministic(bool on) { g_deterministic.store(on, std::memory_order_relaxed); }
bool deterministic() { return g_deterministic.load(std::memory_order_relaxed); }

void choose_openmp_waiting(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;
  if (setenv("GOMP_SPINCOUNT", kOpenMPSpinCount, 0) != 0) return;
  execv("/proc/self/exe", argv);
  // Only a failed exec returns: run on with libgomp's default, and say so in the environment.
  unsetenv("GOMP_SPINCOUNT");
}

}  // namespace ct
