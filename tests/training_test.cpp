// A short run on real MNIST (the README's setup puts it in the cache): the talk's MLP must learn.
#include <cotangent/models/classifiers.hpp>
#include <cotangent/train/callbacks.hpp>
#include <cotangent/train/stop_signals.hpp>
#include <cotangent/train/tensorboard.hpp>
#include <cotangent/train/trainer.hpp>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "op_check.hpp"

using namespace ct;

TEST(Training, MlpLearnsMnistInOnePassOverThirtyThousandImages) {
  auto dataset = ct::testing::cached_mnist(30000, 128);
  default_generator().reseed(1);
  models::MLP model;
  SGD optimizer(model, {.learning_rate = 0.1f});
  auto history = train::fit(model, optimizer, dataset, {.epochs = 1, .progress = false});
  ASSERT_EQ(history.size(), 1u);
  // Over seeds 1-7 this run ends between 89.5% and 92.3%: the bar sits below that spread.
  EXPECT_GT(history[0].test_accuracy, 0.88);
  EXPECT_LT(history[0].test_loss, 0.4);
}

TEST(Training, CnnStepReducesTheLoss) {
  data::DatasetOptions options;
  options.training_limit = 256;
  options.download = false;
  auto dataset = MNIST(64, options);
  default_generator().reseed(2);
  models::CNN model;
  SGD optimizer(model, {.learning_rate = 0.1f});
  auto batch = dataset.training_epochs(1)[0].batch(0);
  auto loss_of = [&](const models::CNN& m) {
    return softmax_cross_entropy(m(batch.data), batch.label);
  };
  float before = loss_of(model).scalar();
  for (int i = 0; i < 10; ++i) optimizer.update(model, gradient(model, loss_of));
  EXPECT_LT(loss_of(model).scalar(), 0.8f * before);
}

namespace {
bool blocks(int signal) {
  sigset_t mask;
  pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  return sigismember(&mask, signal) == 1;
}

bool wait_for(const train::StopSignals& stop) {
  for (int i = 0; i < 400 && !stop.requested(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return stop.requested();
}
}  // namespace

TEST(StopSignals, TakesSigintOnItsOwnThreadAndEveryLaterThreadBlocksIt) {
  std::atomic<bool> on_main{true};
  auto main_thread = std::this_thread::get_id();
  train::StopSignals stop([&](int) { on_main = std::this_thread::get_id() == main_thread; });
  EXPECT_FALSE(stop.requested());
  EXPECT_THROW(train::StopSignals second, ValueError);
  bool later_blocks = false;
  std::thread([&] { later_blocks = blocks(SIGINT) && blocks(SIGTERM); }).join();
  EXPECT_TRUE(later_blocks);
  ::kill(::getpid(), SIGINT);
  ASSERT_TRUE(wait_for(stop));
  EXPECT_EQ(stop.signal(), SIGINT);
  EXPECT_FALSE(on_main);
}

TEST(StopSignals, CanBeMadeAgainAndTakesSigterm) {
  { train::StopSignals first; }
  EXPECT_FALSE(blocks(SIGTERM));  // the first one gave the thread its mask back
  train::StopSignals stop;
  ::kill(::getpid(), SIGTERM);
  ASSERT_TRUE(wait_for(stop));
  EXPECT_EQ(stop.signal(), SIGTERM);
}

// oneDNN 2.x's JIT sgemm runs with rsp pointing into the heap: a handler that ran on a thread
// inside it wrote its frame over the heap, and a Ctrl-C'd run crashed about half the time. With
// StopSignals no handler runs on a computing thread, however often the signal lands mid-product.
TEST(StopSignals, SignalsDuringMatrixProductsLeaveTheHeapIntact) {
  set_thread_count(2);
  auto a = random_uniform<float>({64, 784}, -1, 1), b = random_uniform<float>({784, 512}, -1, 1);
  std::vector<float> expected;
  {
    train::StopSignals first;  // blocks the signals in OpenMP's team, which already exists
    expected = matmul(a, b).scalars();
  }
  for (int trial = 0; trial < 30; ++trial) {
    train::StopSignals stop;
    std::thread sender([trial] {
      std::this_thread::sleep_for(std::chrono::microseconds(300 + 97 * trial));
      ::kill(::getpid(), trial % 2 ? SIGINT : SIGTERM);
    });
    while (!stop.requested()) {
      std::vector<float> junk(4096 + trial);  // the heap in use between the products
      ASSERT_EQ(matmul(a, b).scalars(), expected);
    }
    sender.join();
  }
}

namespace {
data::Dataset small_mnist(std::int64_t images = 256) { return ct::testing::cached_mnist(images); }
}  // namespace

TEST(TrainingLoop, CallbacksSeeTheEventsInTrainingLoopOrder) {
  auto dataset = small_mnist(128);  // two batches
  models::MLP model;
  SGD optimizer(model, {.learning_rate = 0.1f});
  std::vector<train::Event> events;
  std::vector<std::int64_t> steps;
  train::FitOptions options{.epochs = 1, .progress = false};
  options.callbacks.push_back([&](train::Event e, train::LoopState& s) {
    events.push_back(e);
    if (e == train::Event::batch_end) steps.push_back(s.step());
  });
  train::fit(model, optimizer, dataset, options);
  using E = train::Event;
  std::vector<E> batch = {E::batch_start, E::update_start, E::update_end, E::batch_end};
  std::vector<E> expected = {E::fit_start, E::epoch_start, E::training_start};
  for (int i = 0; i < 2; ++i) expected.insert(expected.end(), batch.begin(), batch.end());
  expected.insert(expected.end(), {E::training_end, E::validation_start, E::validation_end,
                                   E::epoch_end, E::fit_end});
  EXPECT_EQ(events, expected);
  EXPECT_EQ(steps, (std::vector<std::int64_t>{1, 2}));
}

TEST(TrainingLoop, CosineScheduleSetsTheOptimizersRateAtEveryStep) {
  auto dataset = small_mnist();  // four batches
  models::MLP model;
  SGD optimizer(model, {.learning_rate = 0.1f});
  std::vector<double> rates, seen_by_optimizer;
  train::FitOptions options{.epochs = 2, .progress = false};
  options.callbacks = {train::cosine_decay(0.1, 2), [&](train::Event e, train::LoopState& s) {
                         if (e != train::Event::update_end) return;
                         rates.push_back(s.learning_rate);
                         seen_by_optimizer.push_back(optimizer.options.learning_rate);
                       }};
  auto history = train::fit(model, optimizer, dataset, options);
  ASSERT_EQ(rates.size(), 8u);
  EXPECT_EQ(rates, seen_by_optimizer);
  // Warm-up 0.05, 0.1; then a cosine over the 6 steps left, from 0.1 towards 0.
  EXPECT_DOUBLE_EQ(rates[0], 0.05);
  EXPECT_DOUBLE_EQ(rates[1], 0.1);
  for (int i = 2; i < 8; ++i)
    EXPECT_NEAR(rates[i], 0.05 * (1 + std::cos(M_PI * (i - 2) / 6.0)), 1e-12) << i;
  EXPECT_DOUBLE_EQ(history[1].learning_rate, rates[7]);
}

TEST(TrainingLoop, StepDecayHalvesTheRateEveryNEpochs) {
  auto dataset = small_mnist(64);
  models::MLP model;
  SGD optimizer(model, {.learning_rate = 0.2f});
  train::FitOptions options{.epochs = 5, .progress = false};
  options.callbacks = {train::step_decay(0.2, 0.5, 2)};
  auto history = train::fit(model, optimizer, dataset, options);
  std::vector<double> rates;
  for (auto& m : history) rates.push_back(m.learning_rate);
  EXPECT_EQ(rates, (std::vector<double>{0.2, 0.2, 0.1, 0.1, 0.05}));
}

TEST(TrainingLoop, EarlyStoppingEndsTheRunWhenTheMonitoredMetricStalls) {
  auto dataset = small_mnist(64);
  models::MLP model;
  SGD optimizer(model, {.learning_rate = 0.0f});  // nothing changes, so nothing improves
  train::EarlyStopping early({.monitor = train::Metric::test_accuracy, .patience = 2});
  train::FitOptions options{.epochs = 10, .progress = false};
  options.callbacks = {early};
  auto history = train::fit(model, optimizer, dataset, options);
  EXPECT_EQ(history.size(), 3u);  // the first sets the best; two more without an improvement
  EXPECT_TRUE(early.stopped());
  EXPECT_EQ(early.best_epoch(), 1);
  EXPECT_DOUBLE_EQ(early.best(), history[0].test_accuracy);
}

TEST(TrainingLoop, ACallbackThatStopsMidEpochStopsAfterTheBatch) {
  auto dataset = small_mnist();
  models::MLP model;
  SGD optimizer(model, {.learning_rate = 0.1f});
  train::FitOptions options{.epochs = 3, .progress = false};
  train::EpochProgress stopped_at{-1};
  options.on_stop = [&](const train::EpochProgress& p) { stopped_at = p; };
  options.callbacks = {[](train::Event e, train::LoopState& s) {
    if (e == train::Event::batch_end && s.epoch == 2 && s.batch == 3) s.stop = true;
  }};
  auto history = train::fit(model, optimizer, dataset, options);
  EXPECT_EQ(history.size(), 1u);
  EXPECT_EQ(stopped_at.epoch, 1);
  EXPECT_EQ(stopped_at.batch, 3);
  EXPECT_EQ(stopped_at.seen, 3 * 64);
}

TEST(TrainingLoop, CsvLoggerWritesARowPerEpoch) {
  auto dataset = small_mnist(64);
  models::MLP model;
  SGD optimizer(model, {.learning_rate = 0.1f});
  auto dir = std::filesystem::path(::testing::TempDir()) / "csv-logger";
  std::filesystem::create_directories(dir);
  train::FitOptions options{.epochs = 2, .progress = false};
  options.callbacks = {train::csv_logger(dir / "log.csv")};
  train::fit(model, optimizer, dataset, options);
  std::ifstream in(dir / "log.csv");
  std::string header, row;
  std::getline(in, header);
  EXPECT_EQ(header,
            "epoch,training_loss,training_accuracy,test_loss,test_accuracy,seconds,images_per_"
            "second,learning_rate");
  int rows = 0;
  while (std::getline(in, row)) {
    ++rows;
    EXPECT_TRUE(row.ends_with(",0.1")) << row;
  }
  EXPECT_EQ(rows, 2);
  std::filesystem::remove_all(dir);
}

TEST(TrainingLoop, BadSchedulesAndMetricsAreClearErrors) {
  EXPECT_THROW(train::cosine_decay(-1), ValueError);
  EXPECT_THROW(train::cosine_decay(0.1, -1), ValueError);
  EXPECT_THROW(train::cosine_decay(0.1, 0, 0.5), ValueError);
  EXPECT_THROW(train::step_decay(0.1, 0, 2), ValueError);
  EXPECT_THROW(train::step_decay(0.1, 0.5, 0), ValueError);
  EXPECT_THROW(train::EarlyStopping({.patience = 0}), ValueError);
  EXPECT_THROW(train::EarlyStopping({.min_delta = std::nan("")}), ValueError);
  try {
    train::metric_named("accuracy");
    ADD_FAILURE();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("test_accuracy"), std::string::npos) << e.what();
  }
  // A schedule that gives a rate that is not a number stops the run with the step named.
  auto dataset = small_mnist(64);
  models::MLP model;
  SGD optimizer(model, {.learning_rate = 0.1f});
  train::FitOptions options{.epochs = 1, .progress = false};
  options.callbacks = {train::learning_rate_schedule([](const train::LoopState&) { return -1.0; })};
  try {
    train::fit(model, optimizer, dataset, options);
    ADD_FAILURE();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("a rate of -1 at step 0"), std::string::npos) << e.what();
  }
}

TEST(TrainingLoop, TensorBoardLoggerWritesEachEpochsMetrics) {
  auto dataset = small_mnist(64);
  models::MLP model;
  SGD optimizer(model, {.learning_rate = 0.1f});
  auto dir = std::filesystem::path(::testing::TempDir()) / "tensorboard-logger";
  std::filesystem::remove_all(dir);
  train::FitOptions options{.epochs = 2, .progress = false};
  options.callbacks = {train::tensorboard_logger(dir)};
  auto history = train::fit(model, optimizer, dataset, options);
  std::vector<std::filesystem::path> files;
  for (auto& entry : std::filesystem::directory_iterator(dir)) files.push_back(entry.path());
  ASSERT_EQ(files.size(), 1u);
  std::map<std::pair<std::string, std::int64_t>, float> scalars;
  for (auto& s : train::read_tensorboard_scalars(files[0])) scalars[{s.tag, s.step}] = s.value;
  EXPECT_EQ(scalars.size(), 12u);
  auto at = [&](const std::string& tag, std::int64_t epoch) { return scalars[{tag, epoch}]; };
  for (auto& m : history) {
    EXPECT_EQ(at("loss/test", m.epoch), float(m.test_loss));
    EXPECT_EQ(at("accuracy/training", m.epoch), float(m.training_accuracy));
    EXPECT_EQ(at("learning_rate", m.epoch), 0.1f);
  }
  std::filesystem::remove_all(dir);
}

TEST(TrainingLoop, EarlyStoppingNeverTakesANotANumberForTheBest) {
  train::EarlyStopping early({.monitor = train::Metric::test_loss, .patience = 2});
  train::LoopState state;
  std::vector<train::EpochMetrics> history;
  state.history = &history;
  auto end_epoch = [&](std::int64_t epoch, double loss) {
    state.epoch = epoch;
    state.metrics.test_loss = loss;
    early(train::Event::epoch_end, state);
  };
  end_epoch(1, std::nan(""));
  end_epoch(2, 0.5);
  EXPECT_EQ(early.best_epoch(), 2);
  end_epoch(3, std::nan(""));
  EXPECT_FALSE(state.stop);
  end_epoch(4, 0.6);
  EXPECT_TRUE(state.stop);
  EXPECT_DOUBLE_EQ(early.best(), 0.5);
}

TEST(TrainingLoop, EarlyStoppingOnAResumedRunCountsTheEpochsBeforeIt) {
  train::EarlyStopping early({.monitor = train::Metric::test_loss, .patience = 3});
  early.replay({{.epoch = 1, .test_loss = 1.0}, {.epoch = 2, .test_loss = 1.1}});
  EXPECT_EQ(early.best_epoch(), 1);
  EXPECT_FALSE(early.stopped());
  train::LoopState state;
  state.epoch = 3, state.metrics.test_loss = 1.2;
  early(train::Event::epoch_end, state);
  EXPECT_FALSE(state.stop);  // two epochs without an improvement, of three allowed
  state.epoch = 4, state.metrics.test_loss = 1.05;
  early(train::Event::epoch_end, state);
  EXPECT_TRUE(state.stop);
  EXPECT_NE(state.stop_reason.find("best 1 at epoch 1"), std::string::npos) << state.stop_reason;
}
