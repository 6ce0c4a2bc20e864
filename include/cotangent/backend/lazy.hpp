#pragma once
// The lazy device's API (S4TF's X10): `move(model, Device::default_lazy())`, then the ordinary
// training loop with `lazy_tensor_barrier(device)` after each optimizer update. Between
// barriers ops only record a graph; the barrier compiles it (once per distinct graph: the cache
// is keyed by ops, shapes and dtypes, never by values) and runs it. A host read, a print, a
// checkpoint save or a move off the device is an implicit barrier. Errors that depend on data
// (an index out of range) surface at the barrier; the tensors of a program that failed remember
// the error, and reading one raises it again.
//
// Environment: CT_LAZY_LOG=1 prints each compile and why; CT_LAZY_DUMP=DIR writes each compiled
// graph and its source there; CT_ASSERT_NO_COMPILE=1 makes a compile an error (for tests that
// prove a loop recompiles nothing); CT_CACHE_DIR overrides where compiled programs are kept;
// CT_LAZY_CXX names the C++ compiler; CT_LAZY_CODEGEN=0 runs graphs node by node instead.
#include <cstdint>
#include <source_location>
#include <string>
#include <utility>
#include <vector>

#include "cotangent/backend/backend.hpp"

namespace ct {

/// Computes every live, not yet computed tensor of `device` in one compiled program: S4TF's
/// `LazyTensorBarrier(on:)`. A no-op on eager devices. The work is done when it returns (`wait`
/// is accepted for S4TF's signature; the CPU program runs synchronously).
void lazy_tensor_barrier(Device device, bool wait = false,
                         std::source_location site = std::source_location::current());

namespace lazy {

/// One compile: where its barrier was, why the graph was new there, and what it cost.
struct CompileRecord {
  std::string site;
  std::string reason;  // e.g. "parameter 0: float32 [64,784] -> float32 [32,784]"
  double seconds = 0;
  bool from_disk = false;  // loaded from the disk cache rather than compiled
  std::int64_t nodes = 0, kernels = 0, externs = 0;
};

/// What the lazy device did since the start or the last reset: X10's PrintX10Metrics.
struct Metrics {
  std::int64_t traced_ops = 0;
  std::int64_t explicit_barriers = 0, implicit_barriers = 0;
  /// Implicit barriers by the site that caused them (a host read's file:line, "print", …).
  std::vector<std::pair<std::string, std::int64_t>> implicit_barrier_sites;
  std::int64_t memory_cache_hits = 0, memory_cache_misses = 0;
  std::int64_t disk_cache_hits = 0, disk_cache_misses = 0;  // misses ran the C++ compiler
  double compile_seconds = 0, execute_seconds = 0;
  std::int64_t kernels_run = 0;
  /// Results written into the buffer of the value they replace (an optimizer's update in
  /// place, as X10 aliases a step's inputs and outputs).
  std::int64_t in_place_results = 0;
  /// Nodes run by the eager kernels inside programs (GEMM, convolution…), by op.
  std::vector<std::pair<Op, std::int64_t>> externs;
  /// Ops that ran on the eager CPU through host copies (none: the lazy device runs every op).
  std::vector<std::pair<Op, std::int64_t>> fallbacks;
  std::vector<CompileRecord> compiles;
};
/// A copy of the lazy device's counters so far: lazy::metrics().compiles.size().
Metrics metrics();
/// Sets the counters back to zero and forgets compiles and sites (fallbacks are counted on).
void reset_metrics();
/// Every counter, one per line, with each compile's site and reason.
std::string metrics_report();
/// One line: compiles, cache hits, barriers, time.
std::string metrics_summary();
/// After this many ops recorded without a barrier, one runs by itself (default 100,000; LTC's
/// graph size guard): a loop that never reads or calls a barrier keeps bounded memory.
void set_max_pending_nodes(std::int64_t nodes);
/// Forgets the programs compiled in this process, as a new process would start: the next
/// barrier of each graph loads it from the disk cache (for tests and compile-time benchmarks).
void clear_program_cache();

}  // namespace lazy

namespace detail {
/// Where the host read about to happen was asked for (Tensor::scalars and friends set it), so
/// that the implicit barrier it causes can be counted against the user's line.
void note_host_read_site(std::source_location site);
void note_host_read_site(const char* what);
}  // namespace detail

}  // namespace ct
