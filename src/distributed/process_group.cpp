// Process groups over Gloo: TCP pairs between every two ranks, a rendezvous served by rank 0,
// and each collective on host copies of the tensors (device memory goes through the host until
// NCCL serves CUDA tensors).
#include "cotangent/distributed/process_group.hpp"

#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/common/error.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/prefix_store.h>
#include <gloo/transport/tcp/device.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string_view>
#include <thread>

#include "cotangent/backend/backend.hpp"
#include "cotangent/core/error.hpp"
#include "tcp_store.hpp"

namespace ct::distributed {

namespace {

const char* variable(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

long whole(const char* name, const char* text, long low, long high) {
  long value = 0;
  const char* end = text + std::strlen(text);
  auto [at, error] = std::from_chars(text, end, value);
  CT_CHECK_AS(ValueError, error == std::errc() && at == end && value >= low && value <= high,
              "{}={}: not a whole number in [{}, {}]", name, text, low, high);
  return value;
}

/// A host copy of x that this group may overwrite.
RawTensor host_copy(const RawTensor& x) {
  Backend& cpu = backend_for(Device::cpu());  // host edge: the network reads host memory
  RawTensor out = cpu.empty(x.shape, x.dtype);
  if (out.count() == 0) return out;
  if (x.device == Device::cpu()) {
    RawTensor dense = x.is_contiguous() ? x : cpu.contiguous(x);
    std::memcpy(out.data(), dense.data(), std::size_t(out.count()) * dtype_size(x.dtype));
  } else {
    Backend& own = backend_for(x.device);
    own.read(x.is_contiguous() ? x : own.contiguous(x), out.data());  // host edge: the network
  }
  return out;
}

/// The host result on `device`.
RawTensor placed(RawTensor host, Device device) {
  if (device == Device::cpu()) return host;
  return backend_for(device).upload(host.data(), host.shape, host.dtype);
}

/// Whether process `pid` of this machine still runs: a process that has ended but that its
/// launcher has not reaped yet (a zombie) does not.
bool running(int pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;  // no /proc: assume it runs
  auto close = line.rfind(')');
  return close == std::string::npos || close + 2 >= line.size() || line[close + 2] != 'Z';
}

template <class T>
void reduce_or(void* out, const void* a, const void* b, std::size_t n) {
  auto* o = static_cast<T*>(out);
  auto* x = static_cast<const T*>(a);
  auto* y = static_cast<const T*>(b);
  for (std::size_t i = 0; i < n; ++i) o[i] = x[i] || y[i];
}

}  // namespace

GroupOptions options_from_environment() {
  GroupOptions o;
  const char *rank = variable("RANK"), *size = variable("WORLD_SIZE");
  const char* rank_name = "RANK";
  const char* size_name = "WORLD_SIZE";
  if (!rank && !size) {
    if (variable("OMPI_COMM_WORLD_RANK")) {
      rank = variable("OMPI_COMM_WORLD_RANK"), size = variable("OMPI_COMM_WORLD_SIZE");
      rank_name = "OMPI_COMM_WORLD_RANK", size_name = "OMPI_COMM_WORLD_SIZE";
    } else if (variable("SLURM_PROCID")) {
      rank = variable("SLURM_PROCID"), size = variable("SLURM_NTASKS");
      rank_name = "SLURM_PROCID", size_name = "SLURM_NTASKS";
    }
  }
  CT_CHECK_AS(ValueError, bool(rank) == bool(size), "{} and {} must be set together", rank_name,
              size_name);
  if (size) {
    o.size = int(whole(size_name, size, 1, 1 << 20));
    o.rank = int(whole(rank_name, rank, 0, o.size - 1));
  }
  if (const char* address = variable("MASTER_ADDR")) o.master_address = address;
  if (const char* port = variable("MASTER_PORT"))
    o.master_port = int(whole("MASTER_PORT", port, 1, 65535));
  if (const char* timeout = variable("CT_DIST_TIMEOUT"))
    o.timeout = std::chrono::seconds(whole("CT_DIST_TIMEOUT", timeout, 1, 86400));
  return o;
}

struct ProcessGroup::State {
  GroupOptions options;
  std::unique_ptr<StoreServer> server;
  std::unique_ptr<TcpStore> store;
  std::shared_ptr<gloo::rendezvous::Context> context;
  std::vector<int> pids;  // each rank's process id
  std::vector<std::string> hosts;
  std::uint32_t tag = 0;
  double seconds = 0;  // in collectives

  /// Adds the time from construction to destruction to `seconds`.
  struct Timed {
    State& s;
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
    ~Timed() {
      s.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
  };

  /// Rethrows a Gloo failure as a DistributedError naming the ranks that are gone, where this
  /// machine can tell (their processes ran here and no longer do).
  [[noreturn]] void lost(const char* what, const std::exception& e) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    // A killed peer's sockets close while its process is still being torn down: look for up
    // to a second.
    std::string gone;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    do {
      for (int r = 0; r < int(pids.size()); ++r)
        if (r != options.rank && hosts[r] == host && !running(pids[r]))
          gone += (gone.empty() ? "" : ", ") + std::to_string(r);
      if (!gone.empty()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } while (std::chrono::steady_clock::now() < deadline);
    std::string cause = e.what();
    if (auto at = cause.find("] "); at != std::string::npos && cause.starts_with("["))
      cause = cause.substr(at + 2);  // drop Gloo's source location
    throw DistributedError(detail::format(
        "{} on rank {} of {}: {} ({}; the collective timeout is {} s)", what, options.rank,
        options.size, gone.empty() ? "lost contact with another rank" : "lost rank " + gone, cause,
        options.timeout.count() / 1000.0));
  }
};

ProcessGroup::ProcessGroup(const GroupOptions& options) : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.options = options;
  CT_CHECK_AS(ValueError, options.size >= 1 && options.rank >= 0 && options.rank < options.size,
              "process group: rank {} of {} is out of range", options.rank, options.size);
  if (options.size == 1) return;
  // Gloo writes to its sockets without MSG_NOSIGNAL: a write to a peer that died would kill this
  // process with SIGPIPE instead of failing the collective. As Python does, ignore it (unless
  // the program set its own handler).
  struct sigaction current {};
  if (::sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL)
    ::signal(SIGPIPE, SIG_IGN);
  // The threads made here (the rendezvous server's, Gloo's event loop) take no SIGINT or
  // SIGTERM: those are for the program (train::StopSignals' thread, or its handler) and never
  // interrupt a transfer half-way.
  sigset_t blocked, previous;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGINT);
  sigaddset(&blocked, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &blocked, &previous);
  struct Restore {
    sigset_t mask;
    ~Restore() { ::pthread_sigmask(SIG_SETMASK, &mask, nullptr); }
  } restore{previous};
  if (options.rank == 0) s.server = std::make_unique<StoreServer>(options.master_port);
  s.store =
      std::make_unique<TcpStore>(options.master_address, options.master_port, options.timeout);
  // Gloo listens on the address the others reach this machine at: loopback for a run on one
  // machine, else the host's name.
  gloo::transport::tcp::attr attr;
  bool local = options.master_address == "127.0.0.1" || options.master_address == "localhost";
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  attr.hostname = local ? "127.0.0.1" : host;
  try {
    auto device = gloo::transport::tcp::CreateDevice(attr);
    s.context = std::make_shared<gloo::rendezvous::Context>(options.rank, options.size);
    s.context->setTimeout(options.timeout);
    gloo::rendezvous::PrefixStore store("cotangent", *s.store);
    s.context->connectFullMesh(store, device);
    // Who is who, to name a rank that is lost later.
    std::string me = std::to_string(::getpid()) + " " + host;
    s.store->set("who/" + std::to_string(options.rank), std::vector<char>(me.begin(), me.end()));
    for (int r = 0; r < options.size; ++r) {
      std::vector<char> who = s.store->get("who/" + std::to_string(r));
      std::string text(who.begin(), who.end());
      auto space = text.find(' ');
      s.pids.push_back(std::atoi(text.substr(0, space).c_str()));
      s.hosts.push_back(space == std::string::npos ? "" : text.substr(space + 1));
    }
  } catch (const DistributedError&) {
    throw;
  } catch (const std::exception& e) {
    throw DistributedError(detail::format("rendezvous of rank {} of {} at {}:{} failed: {}",
                                          options.rank, options.size, options.master_address,
                                          options.master_port, e.what()));
  }
}

ProcessGroup::~ProcessGroup() = default;

int ProcessGroup::rank() const { return state_->options.rank; }
int ProcessGroup::size() const { return state_->options.size; }

double ProcessGroup::communication_seconds() const { return state_->seconds; }

RawTensor ProcessGroup::allreduce_raw(const RawTensor& x, Reduction reduction) {
  RawTensor host = host_copy(x);
  allreduce_host(host.data(), host.count(), host.dtype, reduction);
  return placed(host, x.device);
}

void ProcessGroup::allreduce_host(void* data, std::int64_t count, DType dtype,
                                  Reduction reduction) {
  State& s = *state_;
  State::Timed timed{s};
  CT_CHECK_AS(DTypeError, reduction == Reduction::sum || is_floating(dtype),
              "allreduce: an average needs floating point, got {}", dtype);
  if (s.options.size > 1 && count > 0) {
    try {
      gloo::AllreduceOptions opts(s.context);
      opts.setTag(s.tag++);
      opts.setTimeout(s.options.timeout);
      auto run = [&](auto tag, gloo::AllreduceOptions::Func reduce) {
        using T = decltype(tag);
        opts.setOutput(static_cast<T*>(data), std::size_t(count));
        opts.setReduceFunction(reduce);
        gloo::allreduce(opts);
      };
      using Sum = void (*)(void*, const void*, const void*, size_t);
      switch (dtype) {
        case DType::float32:
          run(float{}, static_cast<Sum>(&gloo::sum<float>));
          break;
        case DType::float64:
          run(double{}, static_cast<Sum>(&gloo::sum<double>));
          break;
        case DType::int32:
          run(std::int32_t{}, static_cast<Sum>(&gloo::sum<std::int32_t>));
          break;
        case DType::int64:
          run(std::int64_t{}, static_cast<Sum>(&gloo::sum<std::int64_t>));
          break;
        case DType::boolean:
          run(bool{}, &reduce_or<bool>);
          break;
      }
    } catch (const std::exception& e) {
      s.lost("allreduce", e);
    }
  }
  if (reduction == Reduction::average && s.options.size > 1) {
    auto scale = [&](auto tag) {
      using T = decltype(tag);
      T* p = static_cast<T*>(data);
      for (std::int64_t i = 0; i < count; ++i) p[i] /= T(s.options.size);
    };
    dtype == DType::float32 ? scale(float{}) : scale(double{});
  }
}

RawTensor ProcessGroup::broadcast_raw(const RawTensor& x, int root) {
  State& s = *state_;
  State::Timed timed{s};
  CT_CHECK_AS(ValueError, root >= 0 && root < s.options.size,
              "broadcast: root {} is not a rank of {}", root, s.options.size);
  RawTensor host = host_copy(x);
  if (s.options.size > 1 && host.count() > 0) {
    try {
      gloo::BroadcastOptions opts(s.context);
      opts.setTag(s.tag++);
      opts.setTimeout(s.options.timeout);
      opts.setRoot(root);
      opts.setOutput(static_cast<char*>(host.data()),
                     std::size_t(host.count()) * dtype_size(host.dtype));
      gloo::broadcast(opts);
    } catch (const std::exception& e) {
      s.lost("broadcast", e);
    }
  }
  return placed(host, x.device);
}

RawTensor ProcessGroup::all_gather_raw(const RawTensor& x) {
  State& s = *state_;
  State::Timed timed{s};
  RawTensor host = host_copy(x);
  Shape shape = Shape::filled(x.rank() + 1, s.options.size);
  for (int i = 0; i < x.rank(); ++i) shape[i + 1] = x.shape[i];
  RawTensor out = backend_for(Device::cpu()).empty(shape, x.dtype);  // host edge
  std::size_t bytes = std::size_t(host.count()) * dtype_size(host.dtype);
  if (s.options.size == 1) {
    if (bytes) std::memcpy(out.data(), host.data(), bytes);
  } else if (bytes > 0) {
    try {
      gloo::AllgatherOptions opts(s.context);
      opts.setTag(s.tag++);
      opts.setTimeout(s.options.timeout);
      opts.setInput(static_cast<char*>(host.data()), bytes);
      opts.setOutput(static_cast<char*>(out.data()), bytes * std::size_t(s.options.size));
      gloo::allgather(opts);
    } catch (const std::exception& e) {
      s.lost("all_gather", e);
    }
  }
  return placed(out, x.device);
}

void ProcessGroup::barrier() {
  State& s = *state_;
  State::Timed timed{s};
  if (s.options.size == 1) return;
  try {
    gloo::BarrierOptions opts(s.context);
    opts.setTag(s.tag++);
    opts.setTimeout(s.options.timeout);
    gloo::barrier(opts);
  } catch (const std::exception& e) {
    s.lost("barrier", e);
  }
}

}  // namespace ct::distributed
