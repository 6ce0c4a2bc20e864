#include "cotangent/train/stop_signals.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <thread>

#include "cotangent/core/error.hpp"

namespace ct::train {

namespace {

std::atomic<bool> g_active{false};
std::atomic<pthread_t> g_waiter{};

sigset_t stop_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

// Runs only on a thread that started before the StopSignals and so does not block the signals:
// hands the signal to the waiting thread (pthread_kill is async-signal-safe) and does nothing
// else on this thread's stack.
extern "C" void forward_to_waiter(int signal) {
  if (pthread_t waiter = g_waiter.load()) ::pthread_kill(waiter, signal);
}

}  // namespace

struct StopSignals::Waiter {
  sigset_t set = stop_set();
  sigset_t previous_mask;
  struct sigaction previous_int {
  }, previous_term{};
  std::thread::id owner = std::this_thread::get_id();
  std::atomic<bool> closing{false};
  std::thread thread;
};

StopSignals::StopSignals(std::function<void(int)> on_first) : waiter_(std::make_unique<Waiter>()) {
  CT_CHECK_AS(ValueError, !g_active.exchange(true),
              "StopSignals: one already exists; make one, first thing in main");
  Waiter& w = *waiter_;
  ::pthread_sigmask(SIG_BLOCK, &w.set, &w.previous_mask);
  // OpenMP's team may already exist (threads started earlier keep their masks): block there too.
  // Threads the team adds later start from this thread's mask.
  sigset_t* set = &w.set;
#pragma omp parallel
  ::pthread_sigmask(SIG_BLOCK, set, nullptr);
  w.thread = std::thread([this, on_first = std::move(on_first)] {
    Waiter& w = *waiter_;
    for (;;) {
      int taken = 0;
      if (::sigwait(&w.set, &taken) != 0) continue;
      if (w.closing.load()) return;
      int none = 0;
      if (signal_.compare_exchange_strong(none, taken, std::memory_order_acq_rel)) {
        if (on_first) on_first(taken);
        continue;
      }
      // The second signal: end the process as the signal's default would.
      ::signal(taken, SIG_DFL);
      sigset_t one;
      sigemptyset(&one);
      sigaddset(&one, taken);
      ::pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
      ::raise(taken);
      ::_exit(128 + taken);  // not reached: the default action of SIGINT and SIGTERM ends it
    }
  });
  g_waiter.store(w.thread.native_handle());
  struct sigaction forward {};
  forward.sa_handler = forward_to_waiter;
  sigemptyset(&forward.sa_mask);
  forward.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &forward, &w.previous_int);
  ::sigaction(SIGTERM, &forward, &w.previous_term);
}

StopSignals::~StopSignals() {
  Waiter& w = *waiter_;
  ::sigaction(SIGINT, &w.previous_int, nullptr);
  ::sigaction(SIGTERM, &w.previous_term, nullptr);
  g_waiter.store(pthread_t{});
  w.closing.store(true);
  ::pthread_kill(w.thread.native_handle(), SIGTERM);  // wakes sigwait, which sees closing
  w.thread.join();
  if (std::this_thread::get_id() == w.owner)
    ::pthread_sigmask(SIG_SETMASK, &w.previous_mask, nullptr);
  g_active.store(false);
}

}  // namespace ct::train
