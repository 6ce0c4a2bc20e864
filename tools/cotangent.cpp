// The `cotangent` command line: train the talk's models and report what happened.
//   cotangent train --model cnn --dataset mnist --epochs 12 --output runs/cnn
#include <cotangent/cotangent.hpp>
#include <cotangent/models/classifiers.hpp>
#include <cotangent/io/checkpoint.hpp>
#include <cotangent/train/trainer.hpp>

#include <omp.h>

#include <cstring>
#include <iomanip>
#include <iostream>
#include <map>

using namespace ct;

namespace {

const char* kUsage = R"(usage: cotangent train [options]
       cotangent evaluate --checkpoint FILE [--dataset mnist|fashion-mnist]

  --model mlp|cnn|lenet           the talk's models (default cnn)
  --dataset mnist|fashion-mnist   (default mnist)
  --epochs N                      (default 12)
  --batch-size B                  (default 128)
  --optimizer sgd|adam            (default sgd)
  --learning-rate LR              (default 0.1 for sgd, 0.001 for adam)
  --seed S                        initialization and shuffling (default 1)
  --device cpu                    (default cpu)
  --output DIR                    where summary.json and metrics.csv go (default runs/MODEL-DATASET)
  --data-dir DIR                  read the dataset's files from DIR first
  --limit N                       train on the first N images only (quick runs)
  --no-download                   use only local files and the cache
  --checkpoint-every N            save DIR/checkpoint.safetensors every N batches and each epoch
  --resume DIR                    continue the run whose checkpoint is in DIR
)";

const char* kCheckpointFile = "checkpoint.safetensors";

std::string hex_double(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%a", v);  // exact, so a resumed run reports the same metrics
  return buf;
}

struct Arguments {
  std::map<std::string, std::string> values;
  std::string get(const std::string& key, const std::string& fallback) const {
    auto it = values.find(key);
    return it == values.end() ? fallback : it->second;
  }
};

Arguments parse(int argc, char** argv, int first) {
  Arguments args;
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    CT_CHECK_AS(ValueError, a.rfind("--", 0) == 0, "unexpected argument '{}'", a);
    std::string key = a.substr(2);
    if (key == "no-download" || key == "help") {
      args.values[key] = "1";
      continue;
    }
    CT_CHECK_AS(ValueError, i + 1 < argc, "option --{} needs a value", key);
    args.values[key] = argv[++i];
  }
  return args;
}

std::int64_t to_int(const std::string& s, const char* what) {
  try {
    std::size_t used = 0;
    long long v = std::stoll(s, &used);
    if (used == s.size() && v >= 0) return v;
  } catch (const std::exception&) {
  }
  throw ValueError(detail::format("--{}: '{}' is not a non-negative integer", what, s));
}

data::ImageDataset load_dataset(const std::string& name, std::int64_t batch_size,
                                const data::DatasetOptions& options) {
  if (name == "mnist") return MNIST(batch_size, options);
  if (name == "fashion-mnist") return FashionMNIST(batch_size, options);
  throw ValueError(detail::format("--dataset: '{}' is not mnist or fashion-mnist", name));
}

template <class Model>
int run_training(const Arguments& args, const std::string& model_name) {
  std::string dataset_name = args.get("dataset", "mnist");
  std::string optimizer_name = args.get("optimizer", "sgd");
  std::string device = args.get("device", "cpu");
  CT_CHECK_AS(ValueError, device == "cpu", "--device: '{}' is not available in this build (cpu)",
              device);
  CT_CHECK_AS(ValueError, optimizer_name == "sgd" || optimizer_name == "adam",
              "--optimizer: '{}' is not sgd or adam", optimizer_name);
  std::int64_t epochs = to_int(args.get("epochs", "12"), "epochs");
  std::int64_t batch_size = to_int(args.get("batch-size", "128"), "batch-size");
  std::uint64_t seed = std::uint64_t(to_int(args.get("seed", "1"), "seed"));
  double learning_rate =
      std::stod(args.get("learning-rate", optimizer_name == "sgd" ? "0.1" : "0.001"));
  std::filesystem::path output = args.get("output", "runs/" + model_name + "-" + dataset_name);

  std::int64_t checkpoint_every = to_int(args.get("checkpoint-every", "0"), "checkpoint-every");
  std::string resume = args.get("resume", "");

  data::DatasetOptions options;
  options.seed = seed;
  options.directory = args.get("data-dir", "");
  options.download = !args.values.count("no-download");
  if (args.values.count("limit")) options.training_limit = to_int(args.get("limit", ""), "limit");
  data::ImageDataset dataset = load_dataset(dataset_name, batch_size, options);

  default_generator().reseed(seed);
  Context::local().random.reseed(seed + 1);
  Model model;
  std::cout << "Training " << model_name << " on " << dataset_name << ": "
            << dataset.training().count << " training and " << dataset.test().count
            << " test images, batch " << batch_size << ", " << optimizer_name
            << " with learning rate " << learning_rate << ", seed " << seed << ", "
            << omp_get_max_threads() << " threads" << std::endl;

  train::FitOptions fit{.epochs = epochs, .progress = true, .checkpoint_every = checkpoint_every};
  fit.on_epoch = [&](const train::EpochMetrics& m) {
    std::cout << train::describe(m, epochs) << std::endl;
  };
  std::vector<train::EpochMetrics> history;
  auto train_with = [&](auto& optimizer) {
    using Optimizer = std::remove_reference_t<decltype(optimizer)>;
    if (!resume.empty()) {
      auto state =
          io::load_checkpoint(std::filesystem::path(resume) / kCheckpointFile, model, &optimizer);
      CT_CHECK_AS(ValueError, state.model == model_name,
                  "--resume: the checkpoint holds a '{}' model, not '{}'", state.model, model_name);
      CT_CHECK_AS(ValueError, state.seed == seed,
                  "--resume: the checkpoint was trained with seed {}, not {}", state.seed, seed);
      fit.start = {state.epoch, state.batch, std::strtod(state.extra["loss_sum"].c_str(), nullptr),
                   std::strtoll(state.extra["correct"].c_str(), nullptr, 10),
                   std::strtoll(state.extra["seen"].c_str(), nullptr, 10)};
      std::cout << "Resuming at epoch " << state.epoch + 1 << ", batch " << state.batch
                << std::endl;
    }
    fit.on_checkpoint = [&](const train::EpochProgress& p) {
      io::TrainingState state{model_name,
                              p.epoch,
                              p.batch,
                              0,
                              seed,
                              {{"loss_sum", hex_double(p.loss_sum)},
                               {"correct", std::to_string(p.correct)},
                               {"seen", std::to_string(p.seen)}}};
      io::save_checkpoint<Model, Optimizer>(output / kCheckpointFile, model, &optimizer, state);
    };
    history = train::fit(model, optimizer, dataset, fit);
  };
  if (optimizer_name == "sgd") {
    SGD optimizer(model, {.learning_rate = learning_rate});
    train_with(optimizer);
  } else {
    Adam optimizer(model, {.learning_rate = learning_rate});
    train_with(optimizer);
  }
  train::write_reports(output, history, model_name, dataset_name, batch_size, optimizer_name,
                       learning_rate, seed);
  if (!history.empty())
    std::cout << "Final test accuracy " << std::fixed << std::setprecision(2)
              << 100 * history.back().test_accuracy << "%; wrote "
              << (output / "summary.json").string() << " and " << (output / "metrics.csv").string()
              << std::endl;
  return 0;
}

template <class Model>
int run_evaluation(const Arguments& args, const io::Safetensors& file) {
  Model model;
  std::filesystem::path checkpoint = args.get("checkpoint", "");
  io::TrainingState state = io::load_checkpoint(file, checkpoint, model);
  std::string dataset_name = args.get("dataset", "mnist");
  data::DatasetOptions options;
  options.directory = args.get("data-dir", "");
  options.download = !args.values.count("no-download");
  data::ImageDataset dataset = load_dataset(dataset_name, 128, options);
  auto [loss, accuracy] = train::evaluate(model, dataset);
  std::cout << "Checkpoint " << checkpoint.string() << " (" << state.model << ", epoch "
            << state.epoch << "): test loss " << std::fixed << std::setprecision(4) << loss
            << ", accuracy " << std::setprecision(2) << 100 * accuracy << "% on "
            << dataset.test().count << " " << dataset_name << " test images" << std::endl;
  return 0;
}

int evaluate_command(const Arguments& args) {
  std::filesystem::path checkpoint = args.get("checkpoint", "");
  CT_CHECK_AS(ValueError, !checkpoint.empty(), "evaluate: --checkpoint FILE is required");
  io::Safetensors file = io::load_safetensors(checkpoint);  // read once, then dispatch on its model
  std::string model = file.metadata["model"];
  if (model == "mlp") return run_evaluation<models::MLP>(args, file);
  if (model == "cnn") return run_evaluation<models::CNN>(args, file);
  if (model == "lenet") return run_evaluation<models::LeNet>(args, file);
  throw ValueError(
      detail::format("evaluate: {} holds an unknown model '{}'", checkpoint.string(), model));
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "help") == 0) {
      std::cout << kUsage;
      return argc < 2 ? 2 : 0;
    }
    std::string command = argv[1];
    CT_CHECK_AS(ValueError, command == "train" || command == "evaluate",
                "unknown command '{}' (try: cotangent --help)", command);
    Arguments args = parse(argc, argv, 2);
    if (command == "evaluate") return evaluate_command(args);
    if (args.values.count("help")) {
      std::cout << kUsage;
      return 0;
    }
    std::string model = args.get("model", "cnn");
    if (model == "mlp") return run_training<models::MLP>(args, model);
    if (model == "cnn") return run_training<models::CNN>(args, model);
    if (model == "lenet") return run_training<models::LeNet>(args, model);
    throw ValueError(detail::format("--model: '{}' is not mlp, cnn or lenet", model));
  } catch (const ct::Error& e) {
    std::cerr << "cotangent: " << e.what() << std::endl;
    return 1;
  }
}
