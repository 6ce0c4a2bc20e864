// Data-parallel training over Gloo, with real processes: each test forks its ranks, which meet
// on a free port of 127.0.0.1. Collectives of every dtype and size; two ranks at half the batch
// take the steps of one rank at the whole batch; a killed or hung rank is a clear error on the
// others within the timeout; ranks with different models fail before the first step.
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>

#include <cotangent/distributed/data_parallel.hpp>
#include <cotangent/models/classifiers.hpp>
#include <cotangent/train/trainer.hpp>

#include "op_check.hpp"

using namespace ct;
using namespace ct::testing;
using namespace std::chrono_literals;

namespace {

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t n = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
  ::close(fd);
  return ntohs(a.sin_port);
}

/// A failed check inside a rank: the rank exits 1 with the message on its stderr.
void require(bool ok, const std::string& what) {
  if (!ok) throw Error("check failed: " + what);
}

struct RankResult {
  int status = -1;     // exit code, or 128 + signal
  std::string output;  // its stderr
  double seconds = 0;  // from the start until it ended
};

/// Forks `ranks` processes that each run body(group) in a group on a fresh port, and waits for
/// them (killing any still running after `limit`).
std::vector<RankResult> run_ranks(int ranks, std::chrono::milliseconds timeout,
                                  const std::function<void(distributed::ProcessGroup&)>& body,
                                  std::chrono::seconds limit = 60s) {
  int port = free_port();
  std::vector<pid_t> pids;
  std::vector<int> pipes;
  auto start = std::chrono::steady_clock::now();
  for (int r = 0; r < ranks; ++r) {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(fds[0]);
      ::dup2(fds[1], 2);
      int code = 0;
      try {
        distributed::ProcessGroup group({r, ranks, "127.0.0.1", port, timeout});
        body(group);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        code = 1;
      }
      std::fflush(stderr);
      ::_exit(code);
    }
    ::close(fds[1]);
    pids.push_back(pid);
    pipes.push_back(fds[0]);
  }
  std::vector<RankResult> results(ranks);
  std::vector<bool> done(ranks, false);
  int left = ranks;
  while (left > 0) {
    for (int r = 0; r < ranks; ++r) {
      if (done[r]) continue;
      int status = 0;
      if (::waitpid(pids[r], &status, WNOHANG) == pids[r]) {
        done[r] = true, --left;
        results[r].status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        results[r].seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      }
    }
    if (std::chrono::steady_clock::now() - start > limit)
      for (int r = 0; r < ranks; ++r)
        if (!done[r]) ::kill(pids[r], SIGKILL);
    std::this_thread::sleep_for(5ms);
  }
  for (int r = 0; r < ranks; ++r) {
    char buffer[4096];
    for (ssize_t n; (n = ::read(pipes[r], buffer, sizeof buffer)) > 0;)
      results[r].output.append(buffer, std::size_t(n));
    ::close(pipes[r]);
  }
  return results;
}

void expect_all_passed(const std::vector<RankResult>& results) {
  for (std::size_t r = 0; r < results.size(); ++r)
    EXPECT_EQ(results[r].status, 0) << "rank " << r << ": " << results[r].output;
}

template <class T>
std::vector<T> values(std::int64_t n, int rank) {
  std::vector<T> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    if constexpr (std::is_same_v<T, bool>)
      v[std::size_t(i)] = (i % 3 == 0) && rank == 1;
    else
      v[std::size_t(i)] = T((i % 97) * (rank + 1));
  }
  return v;
}

}  // namespace

TEST(Distributed, AllreduceBroadcastAndGatherEveryDtypeAndSize) {
  auto results = run_ranks(2, 20s, [](distributed::ProcessGroup& group) {
    int me = group.rank();
    for (std::int64_t n : {0, 1, 7, 1 << 20}) {
      auto check = [&](auto tag) {
        using T = decltype(tag);
        auto sum = group.allreduce(Tensor<T>(values<T>(n, me), {n})).scalars();
        auto a = values<T>(n, 0), b = values<T>(n, 1);
        for (std::int64_t i = 0; i < n; ++i) {
          T want = std::is_same_v<T, bool> ? T(a[i] || b[i]) : T(a[i] + b[i]);
          require(sum[std::size_t(i)] == want, "allreduce of " + std::to_string(n));
        }
        auto root = group.broadcast(Tensor<T>(values<T>(n, me), {n}), 1).scalars();
        require(root == b, "broadcast from rank 1");
        auto gathered = group.all_gather(Tensor<T>(values<T>(n, me), {n}));
        require(gathered.shape() == Shape{2, n}, "all_gather shape");
      };
      check(float{}), check(double{}), check(std::int32_t{}), check(std::int64_t{}), check(bool{});
    }
    auto mean = group.allreduce(Tensor<float>({1.0f, 3.0f}) * float(me + 1),
                                distributed::Reduction::average);
    require(mean.scalars() == std::vector<float>{1.5f, 4.5f}, "average");
    group.barrier();
  });
  expect_all_passed(results);
}

TEST(Distributed, TwoRanksAtHalfTheBatchTakeTheStepsOfOneRankAtTheWholeBatch) {
  // 20 SGD-momentum steps of the talk's MLP at batch 32: two ranks of 16 each, against one
  // process of 32 (in rank 0, after the distributed run). Every rank draws the same batches.
  auto train = [](models::MLP& model, int rank, int ranks, distributed::ProcessGroup* group) {
    SGD sgd(model, {.learning_rate = 0.05, .momentum = 0.9});
    Generator data(99);
    for (int step = 0; step < 20; ++step) {
      auto images = random_uniform<float>({32, 28, 28, 1}, 0.0f, 1.0f, data).scalars();
      std::vector<std::int32_t> labels(32);
      for (auto& l : labels) l = std::int32_t(data.below(10));
      std::int64_t part = 32 / ranks, pixels = 28 * 28;
      Tensor<float> x(std::vector<float>(images.begin() + rank * part * pixels,
                                         images.begin() + (rank + 1) * part * pixels),
                      {part, 28, 28, 1});
      Tensor<std::int32_t> y(std::vector<std::int32_t>(labels.begin() + rank * part,
                                                       labels.begin() + (rank + 1) * part),
                             {part});
      auto [loss, grad] = value_with_gradient(
          model, [&](const models::MLP& m) { return softmax_cross_entropy(m(x), y); });
      sgd.update(model, group ? distributed::average_gradients(*group, grad, 1 << 20) : grad);
    }
  };
  auto results = run_ranks(2, 30s, [&](distributed::ProcessGroup& group) {
    default_generator().reseed(group.rank() +
                               1);  // different starts: the broadcast must align them
    models::MLP model;
    distributed::broadcast_parameters(group, model);
    train(model, group.rank(), 2, &group);
    if (group.rank() != 0) return;
    default_generator().reseed(1);
    models::MLP alone;
    train(alone, 0, 1, nullptr);
    // Relative to each parameter's largest magnitude: the ranks sum their halves in another
    // order than one process sums the whole batch, so float32 roundings differ slightly.
    double worst = 0;
    for_each_parameter(
        [&](const auto& a, const auto& b) {
          auto x = a.scalars(), y = b.scalars();
          double difference = 0, scale = 1e-30;
          for (std::size_t i = 0; i < x.size(); ++i) {
            difference = std::max(difference, std::abs(double(x[i]) - double(y[i])));
            scale = std::max(scale, std::abs(double(y[i])));
          }
          worst = std::max(worst, difference / scale);
        },
        model, alone);
    std::fprintf(stderr, "largest relative difference: %.3g\n", worst);
    require(worst <= 1e-5, "parameters differ by " + std::to_string(worst) + " (relative)");
  });
  expect_all_passed(results);
}

TEST(Distributed, AKilledRankIsNamedByTheOtherWithinTheTimeoutEveryTime) {
  // Twenty trials; the killed rank alternates (rank 0 also serves the rendezvous).
  for (int trial = 0; trial < 20; ++trial) {
    int victim = trial % 2;
    auto results = run_ranks(2, 3s, [&](distributed::ProcessGroup& group) {
      auto x = ones<float>({1000});
      for (int step = 0;; ++step) {
        if (group.rank() == victim && step == 5) ::raise(SIGKILL);
        x = group.allreduce(x, distributed::Reduction::average);
      }
    });
    int survivor = 1 - victim;
    EXPECT_EQ(results[victim].status, 128 + SIGKILL);
    EXPECT_EQ(results[survivor].status, 1) << results[survivor].output;
    EXPECT_NE(results[survivor].output.find("lost rank " + std::to_string(victim)),
              std::string::npos)
        << "trial " << trial << ": " << results[survivor].output;
    EXPECT_LT(results[survivor].seconds, 3 + 5) << "trial " << trial;
  }
}

TEST(Distributed, AHungRankMakesTheOtherTimeOut) {
  auto results = run_ranks(
      2, 2s,
      [](distributed::ProcessGroup& group) {
        if (group.rank() == 1) ::pause();  // never joins the collective
        group.allreduce(ones<float>({10}));
      },
      8s);
  EXPECT_EQ(results[0].status, 1);
  EXPECT_NE(results[0].output.find("allreduce on rank 0 of 2"), std::string::npos)
      << results[0].output;
  EXPECT_NE(results[0].output.find("timeout is 2 s"), std::string::npos) << results[0].output;
  EXPECT_LT(results[0].seconds, 2 + 5);
}

TEST(Distributed, RanksWithDifferentModelsFailBeforeTheFirstStep) {
  auto results = run_ranks(2, 10s, [](distributed::ProcessGroup& group) {
    Dense<float> model{784, group.rank() == 0 ? 64 : 32, relu};
    distributed::broadcast_parameters(group, model);
  });
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(results[r].status, 1);
    EXPECT_NE(results[r].output.find("rank 1's model has other parameters"), std::string::npos)
        << results[r].output;
  }
}

TEST(Distributed, ARankWhosePeerNeverComesGivesUpAtTheTimeout) {
  int port = free_port();
  auto start = std::chrono::steady_clock::now();
  try {
    distributed::ProcessGroup group({1, 2, "127.0.0.1", port, 1s});
    FAIL() << "met a rank 0 that does not exist";
  } catch (const DistributedError& e) {
    EXPECT_NE(std::string(e.what()).find("no rank 0 at 127.0.0.1"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
}

TEST(Distributed, TheEnvironmentOfEachLauncherIsReadAndCheckedByName) {
  auto with = [](std::vector<std::pair<const char*, const char*>> env, auto&& body) {
    for (const char* v :
         {"RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "OMPI_COMM_WORLD_RANK",
          "OMPI_COMM_WORLD_SIZE", "SLURM_PROCID", "SLURM_NTASKS", "CT_DIST_TIMEOUT"})
      ::unsetenv(v);
    for (auto [k, v] : env) ::setenv(k, v, 1);
    body();
    for (auto [k, v] : env) ::unsetenv(k);
  };
  with({}, [] {
    auto o = distributed::options_from_environment();
    EXPECT_EQ(o.size, 1);
    EXPECT_EQ(o.rank, 0);
  });
  with({{"RANK", "1"},
        {"WORLD_SIZE", "4"},
        {"MASTER_ADDR", "node7"},
        {"MASTER_PORT", "1234"},
        {"CT_DIST_TIMEOUT", "9"}},
       [] {
         auto o = distributed::options_from_environment();
         EXPECT_EQ(o.rank, 1);
         EXPECT_EQ(o.size, 4);
         EXPECT_EQ(o.master_address, "node7");
         EXPECT_EQ(o.master_port, 1234);
         EXPECT_EQ(o.timeout, 9s);
       });
  with({{"OMPI_COMM_WORLD_RANK", "2"}, {"OMPI_COMM_WORLD_SIZE", "3"}}, [] {
    auto o = distributed::options_from_environment();
    EXPECT_EQ(o.rank, 2);
    EXPECT_EQ(o.size, 3);
  });
  with({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "8"}},
       [] { EXPECT_EQ(distributed::options_from_environment().size, 8); });
  auto fails = [&](std::vector<std::pair<const char*, const char*>> env, const char* message) {
    with(env, [&] {
      try {
        distributed::options_from_environment();
        ADD_FAILURE() << "accepted " << message;
      } catch (const ValueError& e) {
        EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
      }
    });
  };
  fails({{"RANK", "0"}}, "RANK and WORLD_SIZE must be set together");
  fails({{"RANK", "abc"}, {"WORLD_SIZE", "2"}}, "RANK=abc");
  fails({{"RANK", "2"}, {"WORLD_SIZE", "2"}}, "RANK=2");
  fails({{"RANK", "0"}, {"WORLD_SIZE", "0"}}, "WORLD_SIZE=0");
  fails({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "70000"}}, "MASTER_PORT=70000");
  fails({{"CT_DIST_TIMEOUT", "-1"}}, "CT_DIST_TIMEOUT=-1");
}

TEST(Distributed, ShardsOfAnEpochCoverEachBatchOnce) {
  data::ByteSamples samples;
  samples.count = 10, samples.height = samples.width = samples.channels = 1;
  samples.images.assign(10, 0);
  samples.labels.assign(10, 0);
  auto shared = std::make_shared<const data::ByteSamples>(samples);
  std::vector<std::int64_t> order{9, 3, 1, 7, 0, 2, 8, 4, 6, 5};
  data::Epoch epoch(shared, order, 4, true);  // batches {9,3,1,7}, {0,2,8,4}; 6 and 5 dropped
  auto a = epoch.shard(0, 2), b = epoch.shard(1, 2);
  EXPECT_EQ(a.order(), (std::vector<std::int64_t>{9, 3, 0, 2}));
  EXPECT_EQ(b.order(), (std::vector<std::int64_t>{1, 7, 8, 4}));
  EXPECT_EQ(a.batch_count(), 2);
  EXPECT_THROW(epoch.shard(0, 3), ValueError);
  EXPECT_THROW(epoch.shard(2, 2), ValueError);
}

// A callback that stops the run on rank 0 alone (it reads files there, say) stops every rank
// after the same epoch: the stop is agreed, so no rank waits in a collective for the others.
TEST(Distributed, AStopAskedOnOneRankAtAnEpochsEndEndsEveryRanksRunThere) {
  auto results = run_ranks(2, 20s, [](distributed::ProcessGroup& group) {
    auto dataset = ct::testing::cached_mnist(128);
    default_generator().reseed(1);
    models::MLP model;
    SGD optimizer(model, {.learning_rate = 0.1f});
    train::FitOptions fit{.epochs = 5, .progress = false};
    fit.group = &group;
    fit.callbacks = {[](train::Event event, train::LoopState& state) {
      if (event == train::Event::epoch_end && state.rank == 0 && state.epoch == 2)
        state.stop = true;
    }};
    auto history = train::fit(model, optimizer, dataset, fit);
    require(history.size() == 2, "rank " + std::to_string(group.rank()) + " trained " +
                                     std::to_string(history.size()) + " epochs, not 2");
  });
  expect_all_passed(results);
}
