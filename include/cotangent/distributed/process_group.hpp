#pragma once
// Processes that train together: a group of ranks over Gloo's TCP transport, with the
// collectives data-parallel training needs. Each call has a timeout, and a lost or hung rank
// is a DistributedError on every other rank, never a hang.
//
//   auto group = distributed::ProcessGroup(distributed::options_from_environment());
//   auto summed = group.allreduce(gradient);          // the same shape on every rank
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cotangent/core/tensor.hpp"

namespace ct::distributed {

/// This process's place in a group of `size` ranks, and where and how long they meet.
struct GroupOptions {
  int rank = 0;
  int size = 1;
  /// Where rank 0 serves the rendezvous (the processes' addresses and ports).
  std::string master_address = "127.0.0.1";
  int master_port = 29500;
  /// How long a rendezvous or a collective waits for the other ranks.
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
};

/// The group this process belongs to, from the environment its launcher set:
/// RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (torchrun, `cotangent launch`), else
/// OMPI_COMM_WORLD_RANK and OMPI_COMM_WORLD_SIZE (mpirun), else SLURM_PROCID and SLURM_NTASKS
/// (srun); CT_DIST_TIMEOUT in seconds. A single process (rank 0 of 1) when none is set.
/// Malformed values are a ValueError naming the variable.
GroupOptions options_from_environment();

/// How allreduce combines the ranks' values: their sum or their mean.
enum class Reduction { sum, average };

/// The ranks training together and their collectives: group.allreduce(x, Reduction::average).
class ProcessGroup {
 public:
  /// Meets the other ranks (rank 0 serves the rendezvous at master_address:master_port) and
  /// connects to each. DistributedError if they do not all arrive within the timeout. With more
  /// than one rank, SIGPIPE is ignored from then on (unless the program handles it), so that a
  /// peer that dies is an error here rather than the end of this process.
  explicit ProcessGroup(const GroupOptions& options);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const;
  int size() const;

  /// The element-wise sum (or mean) of `x` over the ranks, on x's device. Every rank passes the
  /// same shape and dtype (bool: logical or).
  template <Scalar T>
  Tensor<T> allreduce(const Tensor<T>& x, Reduction reduction = Reduction::sum) {
    return Tensor<T>(AnyTensor(allreduce_raw(x.raw(), reduction)));
  }
  /// Rank `root`'s `x` on every rank (the others' values are replaced; shapes must match).
  template <Scalar T>
  Tensor<T> broadcast(const Tensor<T>& x, int root = 0) {
    return Tensor<T>(AnyTensor(broadcast_raw(x.raw(), root)));
  }
  /// Every rank's `x`, stacked along a new first dimension in rank order.
  template <Scalar T>
  Tensor<T> all_gather(const Tensor<T>& x) {
    return Tensor<T>(AnyTensor(all_gather_raw(x.raw())));
  }
  /// Returns once every rank has called it.
  void barrier();
  /// Seconds this rank has spent in collectives (waiting for the others included) so far.
  double communication_seconds() const;

  RawTensor allreduce_raw(const RawTensor& x, Reduction reduction);
  /// allreduce on `count` elements of `dtype` in host memory, in place (how gradient buckets
  /// avoid copies).
  void allreduce_host(void* data, std::int64_t count, DType dtype, Reduction reduction);
  RawTensor broadcast_raw(const RawTensor& x, int root);
  RawTensor all_gather_raw(const RawTensor& x);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace ct::distributed
