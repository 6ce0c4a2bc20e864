#pragma once
// How many threads the CPU kernels use. cotangent's loops, OpenBLAS and oneDNN share one OpenMP
// team, so one number sets them all.
namespace ct {

/// The threads a kernel called from this thread uses (by default one per core, or
/// OMP_NUM_THREADS).
int thread_count();
/// Uses `n` threads (1 or more) in kernels called from this thread from now on; throws
/// ValueError otherwise.
void set_thread_count(int n);

}  // namespace ct
