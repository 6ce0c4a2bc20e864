#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cotangent/models/classifiers.hpp>
#include <cotangent/train/trainer.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "op_check.hpp"

using namespace ct;
using namespace ct::testing;
namespace fs = std::filesystem;

namespace {
struct Small {
  Dense<float> dense{4, 3, relu};
  BatchNorm<float> norm{3};
  CT_FIELDS(dense, norm)
};
struct Wider {
  Dense<float> dense{4, 5};
  Dense<float> head{5, 2};
  CT_FIELDS(dense, head)
};
struct Transfer {
  Dense<float> dense{4, 3};
  Dense<float> head{3, 2};
  CT_FIELDS(dense, head)
};
template <class M>
std::vector<std::vector<float>> parameters(const M& m) {
  std::vector<std::vector<float>> out;
  for_each_tensor(
      [&](const std::string&, const auto& t) {
        if constexpr (std::is_same_v<std::remove_cvref_t<decltype(t)>, Tensor<float>>)
          out.push_back(t.scalars());
      },
      "", m);
  return out;
}
/// The interpreter that has NumPy (Debian's), or empty.
std::string python_with_numpy() {
  for (const char* p : {"/usr/bin/python3", "python3"})
    if (std::system((std::string(p) + " -c 'import numpy' >/dev/null 2>&1").c_str()) == 0) return p;
  return {};
}
std::string run(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  char buf[4096];
  while (pipe && fgets(buf, sizeof buf, pipe)) out += buf;
  if (pipe) pclose(pipe);
  return out;
}
}  // namespace

TEST(Checkpoint, RoundTripWithNamesOptimizerAndMetadata) {
  auto dir = scratch_directory("ckpt-roundtrip");
  Small model;
  Adam optimizer(model);
  optimizer.update(model, gradient(model, [](const Small& m) {
                     return sum(m.dense(ones<float>({2, 4})));
                   }));
  auto names = io::named_tensors(model, &optimizer);
  std::vector<std::string> list;
  for (auto& n : names) list.push_back(n.name);
  EXPECT_EQ(list[0], "dense/weight");
  EXPECT_EQ(list[3], "norm/scale");
  EXPECT_EQ(list[4], "norm/running_mean");
  EXPECT_NE(std::find(list.begin(), list.end(), "optimizer/1/dense/bias"), list.end());
  io::save_checkpoint(dir / "c.safetensors", model, &optimizer, {"small", 3, 7, 0, 42});

  Small other;
  Adam other_optimizer(other);
  auto state = io::load_checkpoint(dir / "c.safetensors", other, &other_optimizer);
  EXPECT_EQ(parameters(other), parameters(model));
  EXPECT_EQ(other_optimizer.moments.states[1].dense.weight.scalars(),
            optimizer.moments.states[1].dense.weight.scalars());
  EXPECT_EQ(other_optimizer.step(), 1);
  EXPECT_EQ(state.model, "small");
  EXPECT_EQ(state.epoch, 3);
  EXPECT_EQ(state.batch, 7);
  EXPECT_EQ(state.seed, 42u);
  EXPECT_EQ(state.extra["library"], "cotangent 0.2.0");
  fs::remove_all(dir);
}

TEST(Checkpoint, MismatchesAreListedAndPartialLoadsAreExplicit) {
  auto dir = scratch_directory("ckpt-mismatch");
  Small model;
  io::save_checkpoint(dir / "small.safetensors", model);
  Wider wider;
  try {
    io::load_checkpoint(dir / "small.safetensors", wider);
    ADD_FAILURE() << "no error";
  } catch (const ShapeError& e) {
    std::string m = e.what();
    EXPECT_NE(
        m.find("'dense/weight' is float32 [4, 3] in the file but float32 [4, 5] in the model"),
        std::string::npos)
        << m;
    EXPECT_NE(m.find("missing 'head/weight'"), std::string::npos) << m;
    EXPECT_NE(m.find("unexpected 'norm/scale'"), std::string::npos) << m;
  }
  // Fine-tuning: take the matching layer only.
  Transfer transfer;
  auto head_before = transfer.head.weight.scalars();
  io::load_checkpoint(dir / "small.safetensors", transfer, static_cast<std::nullptr_t*>(nullptr),
                      {.partial = true});
  EXPECT_EQ(transfer.dense.weight.scalars(), model.dense.weight.scalars());
  EXPECT_EQ(transfer.head.weight.scalars(), head_before);
  fs::remove_all(dir);
}

TEST(Checkpoint, LoaderRejectsEveryTruncationAndCorruption) {
  io::Safetensors reference;
  auto bytes = io::to_safetensors({{"a", Tensor<float>({1, 2, 3, 4}, {2, 2})},
                                   {"b", Tensor<std::int64_t>{5, 6}},
                                   {"c", Tensor<bool>{true}}},
                                  {{"k", "v"}});
  EXPECT_NO_THROW(reference = io::from_safetensors(bytes.data(), bytes.size()));
  EXPECT_EQ(Tensor<float>(*reference.find("a")).scalars(), (std::vector<float>{1, 2, 3, 4}));
  for (std::size_t cut = 0; cut < bytes.size(); ++cut)
    EXPECT_THROW(io::from_safetensors(bytes.data(), cut), IOError) << "truncated at " << cut;
  std::mt19937 rng(5);
  int rejected = 0, accepted = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    auto bad = bytes;
    int flips = 1 + int(rng() % 4);
    for (int f = 0; f < flips; ++f) bad[rng() % bad.size()] ^= std::uint8_t(1u << (rng() % 8));
    try {
      auto parsed = io::from_safetensors(bad.data(), bad.size());
      ++accepted;  // a flip inside tensor data is still a well-formed file
      for (auto& t : parsed.tensors) EXPECT_LE(t.tensor.scalar_count(), 4);
    } catch (const IOError&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 1500);
  // Hostile headers: each must be a clear error.
  auto hostile = [](std::string header, std::size_t data) {
    std::vector<std::uint8_t> b(8 + header.size() + data, 0);
    for (int i = 0; i < 8; ++i) b[i] = std::uint8_t(header.size() >> (8 * i));
    std::memcpy(b.data() + 8, header.data(), header.size());
    return b;
  };
  for (
      auto [header, data, fragment] :
      std::vector<std::tuple<std::string, std::size_t, std::string>>{
          {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4, "need 8 bytes"},
          {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8, "starts at byte 4"},
          {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
           4, "overlap"},
          {R"({"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}})", 4,
           "overflows"},
          {R"({"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,4]}})", 4,
           "overflows"},
          {R"({"a":{"dtype":"Q8","shape":[1],"data_offsets":[0,1]}})", 1, "unsupported dtype"},
          {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
           8, "twice"},
          {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 12, "truncated or padded"},
          {R"({"a":{"dtype":"F32","shape":[1]}})", 4, "lacks"},
          {R"({"a":[)", 0, "expected"},
      }) {
    auto b = hostile(header, data);
    expect_error<IOError>([&] { io::from_safetensors(b.data(), b.size(), "hostile"); },
                          {"hostile", fragment});
  }
  std::vector<std::uint8_t> huge(16, 0xff);
  expect_error<IOError>([&] { io::from_safetensors(huge.data(), huge.size(), "huge"); },
                        {"exceeds the limit"});
}

TEST(Checkpoint, KilledWritersNeverLeaveACorruptCheckpoint) {
  auto dir = scratch_directory("ckpt-kill");
  auto path = dir / "model.safetensors";
  // Two complete versions, large enough that a write takes a while.
  std::vector<io::NamedTensor> versions[2] = {{{"w", filled<float>({1 << 19}, 1.0f)}},
                                              {{"w", filled<float>({1 << 19}, 2.0f)}}};
  auto bytes0 = io::to_safetensors(versions[0]), bytes1 = io::to_safetensors(versions[1]);
  // Kill at random moments within a few writes' time, whatever this disk's fsync costs.
  auto start = std::chrono::steady_clock::now();
  data::write_file_atomically(path, bytes0.data(), bytes0.size());
  auto write_us = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  std::uint64_t window_us = std::uint64_t(std::max<std::int64_t>(3 * write_us, 2000));
  std::mt19937 rng(11);
  int runs = 200, corrupt = 0, new_seen = 0;
  for (int run_index = 0; run_index < runs; ++run_index) {
    pid_t child = fork();
    if (child == 0) {
      for (int i = 0;; ++i) {  // rewrite alternately until killed
        auto& b = i % 2 ? bytes0 : bytes1;
        data::write_file_atomically(path, b.data(), b.size());
      }
    }
    usleep(useconds_t(rng() % window_us));
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    try {
      auto loaded = io::load_safetensors(path);
      float v = Tensor<float>(*loaded.find("w")).scalars()[12345];
      if (v == 2.0f) ++new_seen;
      if (v != 1.0f && v != 2.0f) ++corrupt;
    } catch (const IOError& e) {
      ++corrupt;
      ADD_FAILURE() << e.what();
    }
  }
  EXPECT_EQ(corrupt, 0);
  EXPECT_GT(new_seen, 0);
  RecordProperty("kill_runs", runs);
  RecordProperty("corrupt", corrupt);
  fs::remove_all(dir);
}

TEST(Checkpoint, ResumedTrainingEndsBitwiseEqual) {
  data::DatasetOptions options;
  options.training_limit = 640;
  options.test_limit = 256;
  options.download = false;
  options.seed = 3;
  auto dataset = MNIST(64, options);
  auto fresh = [] {
    default_generator().reseed(9);
    return models::MLP{};
  };
  // Uninterrupted: two epochs.
  auto model_a = fresh();
  SGD opt_a(model_a, {.learning_rate = 0.1f, .momentum = 0.9f});
  train::fit(model_a, opt_a, dataset, {.epochs = 2, .progress = false});

  // Interrupted after batch 4 of epoch 2, then resumed from the checkpoint in a fresh model.
  auto dir = scratch_directory("ckpt-resume");
  struct Stop {};
  auto model_b = fresh();
  SGD opt_b(model_b, {.learning_rate = 0.1f, .momentum = 0.9f});
  train::FitOptions interrupted{.epochs = 2, .progress = false, .checkpoint_every = 4};
  interrupted.on_checkpoint = [&](const train::EpochProgress& p) {
    io::save_checkpoint(dir / "c.safetensors", model_b, &opt_b, {"mlp", p.epoch, p.batch, 0, 3});
    if (p.epoch == 1 && p.batch == 4) throw Stop{};
  };
  EXPECT_THROW(train::fit(model_b, opt_b, dataset, interrupted), Stop);

  default_generator().reseed(12345);  // a resumed process starts from scratch
  models::MLP model_c;
  SGD opt_c(model_c, {.learning_rate = 0.1f, .momentum = 0.9f});
  auto state = io::load_checkpoint(dir / "c.safetensors", model_c, &opt_c);
  ASSERT_EQ(state.epoch, 1);
  ASSERT_EQ(state.batch, 4);
  train::fit(model_c, opt_c, dataset,
             {.epochs = 2, .start = {state.epoch, state.batch}, .progress = false});
  EXPECT_EQ(parameters(model_c), parameters(model_a));  // bitwise
  EXPECT_EQ(opt_c.step(), opt_a.step());
  fs::remove_all(dir);
}

TEST(Checkpoint, InteroperatesWithNumPy) {
  std::string python = python_with_numpy();
  if (python.empty()) GTEST_SKIP() << "no Python 3 with NumPy (install python3-numpy)";
  auto dir = scratch_directory("ckpt-numpy");
  default_generator().reseed(4);
  models::MLP model;
  io::save_checkpoint(dir / "mlp.safetensors", model, static_cast<const SGD<models::MLP>*>(nullptr),
                      {"mlp", 1});
  std::string root = std::string(COTANGENT_TEST_SUPPORT) + "/../..";
  std::string out = run(python + " " + root + "/scripts/read_safetensors.py " +
                        (dir / "mlp.safetensors").string());
  char expected[128];
  std::snprintf(expected, sizeof expected, "inputLayer/weight float32 [784, 512] %.9e",
                sum(Tensor<double>(model.inputLayer.weight)).scalar());
  EXPECT_NE(out.find(std::string(expected).substr(0, 50)), std::string::npos) << out;
  EXPECT_NE(out.find("\"model\": \"mlp\""), std::string::npos) << out;
  // And a file written by NumPy loads here.
  run(python + " " + COTANGENT_TEST_SUPPORT + "/write_safetensors.py " +
      (dir / "numpy.safetensors").string());
  auto file = io::load_safetensors(dir / "numpy.safetensors");
  EXPECT_EQ(Tensor<float>(*file.find("weight")).scalars()[5], 1.25f);
  EXPECT_EQ(Tensor<double>(*file.find("bias")).scalars(), (std::vector<double>{1.5, -2.0, 0.25}));
  EXPECT_EQ(Tensor<std::int64_t>(*file.find("ids")).scalars(), (std::vector<std::int64_t>{7, -1}));
  EXPECT_EQ(file.metadata["writer"], "numpy");
  fs::remove_all(dir);
}

TEST(Checkpoint, AFlippedBitInTheDataIsAChecksumError) {
  auto dir = scratch_directory("ckpt-checksum");
  auto path = dir / "c.safetensors";
  Small model;
  io::save_checkpoint(path, model, static_cast<const SGD<Small>*>(nullptr), {"small", 1});
  auto bytes = data::read_bytes(path);
  std::uint64_t header = 0;
  for (int i = 0; i < 8; ++i) header |= std::uint64_t(bytes[i]) << (8 * i);
  auto loaded = io::load_safetensors(path);
  EXPECT_EQ(loaded.metadata["cotangent.data_sha256"],
            data::sha256_hex(bytes.data() + 8 + header, bytes.size() - 8 - header));
  // One bit of one weight: the structure is intact, only the checksum can tell.
  for (std::size_t at : {std::size_t(8 + header), bytes.size() - 1, std::size_t(8 + header + 17)}) {
    auto flipped = bytes;
    flipped[at] ^= 0x10;
    data::write_file_atomically(path, flipped.data(), flipped.size());
    Small other;
    expect_error<IOError>([&] { io::load_checkpoint(path, other); },
                          {path.string(), "checksum mismatch: the file is corrupt"});
  }
  // Every flip in the data of a small file is caught.
  auto small = io::to_safetensors({{"a", Tensor<float>({1, 2, 3, 4}, {2, 2})}});
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= std::uint64_t(small[i]) << (8 * i);
  for (std::size_t at = 8 + n; at < small.size(); ++at)
    for (int bit = 0; bit < 8; ++bit) {
      auto bad = small;
      bad[at] ^= std::uint8_t(1 << bit);
      EXPECT_THROW(io::from_safetensors(bad.data(), bad.size()), IOError) << at << ":" << bit;
    }
  // Files of other writers have no checksum and load as before, the fuzz corpus included.
  std::string plain =
      R"({"__metadata__":{"writer":"other"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  std::vector<std::uint8_t> other(8 + plain.size() + 4, 0);
  other[0] = std::uint8_t(plain.size());
  std::memcpy(other.data() + 8, plain.data(), plain.size());
  EXPECT_EQ(
      io::from_safetensors(other.data(), other.size()).metadata.count("cotangent.data_sha256"), 0u);
  std::string corpus = std::string(COTANGENT_TEST_SUPPORT) + "/../../fuzz/corpus";
  for (auto& entry : fs::directory_iterator(corpus))
    EXPECT_NO_THROW(io::load_safetensors(entry.path())) << entry.path();
  fs::remove_all(dir);
}

TEST(Checkpoint, VersionZeroOneCheckpointsStillLoadAndTrain) {
  // Written by cotangent 0.1.0's `cotangent train --model lenet --epochs 1 --limit 256
  // --batch-size 64 --checkpoint-every 2`, whose generators were xoshiro256**: their states now
  // seed a Philox stream, and the epochs' shuffles are unchanged.
  models::LeNet model;
  SGD optimizer(model, {.learning_rate = 0.1f});
  auto state = io::load_checkpoint(
      fs::path(COTANGENT_TEST_SUPPORT) / "checkpoint-0.1.0-lenet.safetensors", model, &optimizer);
  EXPECT_EQ(state.extra["library"], "cotangent 0.1.0");
  EXPECT_EQ(state.epoch, 1);
  EXPECT_EQ(optimizer.step(), 4);
  // The old four-word state seeds the generator (and is not the state it had before loading).
  EXPECT_TRUE(default_generator().state() == io::detail::split_state(state.extra["generator"]));
  EXPECT_NE(state.extra["generator"].rfind("philox", 0), 0u);
  EXPECT_EQ(io::detail::split_state("philox 7 9"), (Generator::State{7, 9}));
  expect_error<IOError>([] { (void)io::detail::split_state("1 2 3"); },
                        {"bad generator state", "0.1.0"});
  data::DatasetOptions options;
  options.training_limit = 256;
  options.test_limit = 256;
  options.download = false;
  auto dataset = MNIST(64, options);
  auto history = train::fit(model, optimizer, dataset,
                            {.epochs = 2, .start = {state.epoch, state.batch}, .progress = false});
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(history[0].epoch, 2);
  EXPECT_TRUE(std::isfinite(history[0].training_loss));
  EXPECT_EQ(optimizer.step(), 8);
}
