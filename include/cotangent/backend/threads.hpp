#pragma once
// How many threads the CPU kernels use, and how their idle threads wait. cotangent's loops,
// OpenBLAS and oneDNN share one OpenMP team, so one number sets them all.
namespace ct {

/// The threads a kernel called from this thread uses (by default one per core, or
/// OMP_NUM_THREADS).
int thread_count();
/// Uses `n` threads (1 or more) in kernels called from this thread from now on; throws
/// ValueError otherwise.
void set_thread_count(int n);

/// Deterministic mode: results the same bit for bit whatever the thread count. Reductions are
/// always so (fixed blocks, summed in order); this also makes the CPU's float products run as
/// fixed tiles of rows, one thread each, instead of letting oneDNN split the inner dimension
/// across threads for narrow products (a 64x512 by 512x10 product differed between 1 and 2
/// threads), and convolution filter gradients run as im2col and such products instead of
/// oneDNN's kernel, which splits the sum over the batch across threads (the CNN's step differed
/// between 1 and 3 threads). It costs speed: bench/deterministic.sh measures it.
/// Process-wide; off by default.
void set_deterministic(bool on);
/// Whether deterministic mode is on.
bool deterministic();

/// OpenMP's idle threads spin before they sleep, 300,000 times by libgomp's default: beside
/// another busy process such a thread takes the time slice the thread with work needs, and
/// training ran 3-5x slower. A short spin keeps an idle machine's speed and slows down in
/// proportion to the load (bench/threads_under_load.sh measures it); sleeping at once
/// (OMP_WAIT_POLICY=PASSIVE) makes every small parallel region pay for a wake-up.
inline constexpr const char* kOpenMPSpinCount = "1000";

/// libgomp reads its waiting policy once, when the program loads, so it can only be chosen
/// from the environment: unless OMP_WAIT_POLICY or GOMP_SPINCOUNT is set, this sets
/// GOMP_SPINCOUNT to kOpenMPSpinCount and runs the program again (execv of itself, with the
/// same arguments). Call it first thing in main: `ct::choose_openmp_waiting(argv);`. Set either
/// variable yourself to skip it (a debugger or valgrind then sees one process).
void choose_openmp_waiting(char** argv);

}  // namespace ct
