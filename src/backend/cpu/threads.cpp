#include "cotangent/backend/threads.hpp"

#include <omp.h>

#include "cotangent/core/error.hpp"

namespace ct {

int thread_count() { return omp_get_max_threads(); }

void set_thread_count(int n) {
  CT_CHECK_AS(ValueError, n >= 1, "set_thread_count: {} threads; at least 1 is needed", n);
  omp_set_num_threads(n);
}

}  // namespace ct
