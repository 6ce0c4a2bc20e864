#pragma once
// Ctrl-C (SIGINT) and SIGTERM as a request to stop training after the batch in progress; a
// second one ends the process at once, as the signal's default does.
//
//   int main() {
//     ct::train::StopSignals stop;  // first thing, before any thread starts
//     options.stop_requested = [&] { return stop.requested(); };
//
// The signals are blocked in the constructing thread and in OpenMP's team, so every thread
// started after it (the network's too) inherits the block, and a thread of this object takes
// them with sigwait. (A thread started earlier by other means still takes them, in a handler
// that only hands them on.) No signal handler then runs on a thread that computes. That matters:
// oneDNN 2.x's JIT sgemm kernels point rsp into the heap while they run, so the frame the kernel
// pushes for a handler lands on the heap and corrupts it (oneDNN issue 4845, fixed in 3.11;
// Debian 12 ships 2.6). A plain handler crashed a Ctrl-C'd training run about one time in two.
#include <atomic>
#include <functional>
#include <memory>

namespace ct::train {

/// Turns the first SIGINT or SIGTERM into a stop request, stop.requested() (see above).
class StopSignals {
 public:
  /// `on_first(signal)` runs on the signal thread when the first signal arrives (to say that
  /// training will stop); it must not throw. At most one StopSignals exists at a time.
  explicit StopSignals(std::function<void(int)> on_first = {});
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  /// Whether a SIGINT or SIGTERM has arrived.
  bool requested() const { return signal_.load(std::memory_order_acquire) != 0; }
  /// The first signal taken (SIGINT or SIGTERM), or 0.
  int signal() const { return signal_.load(std::memory_order_acquire); }

 private:
  struct Waiter;
  std::atomic<int> signal_{0};
  std::unique_ptr<Waiter> waiter_;
};

}  // namespace ct::train
