// The `cotangent` command line: train the talk's models and report what happened.
//   cotangent train --model cnn --dataset mnist --epochs 12 --output runs/cnn
#include <cotangent/cotangent.hpp>
#include <cotangent/io/checkpoint.hpp>
#include <cotangent/models/classifiers.hpp>
#include <cotangent/train/callbacks.hpp>
#include <cotangent/train/stop_signals.hpp>
#include <cotangent/train/trainer.hpp>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstring>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <limits>
#include <new>
#include <optional>

#include "launch.hpp"
#include "options.hpp"

using namespace ct;
using cli::Option;
using Kind = cli::Option::Kind;

namespace {

const char* kCheckpointFile = "checkpoint.safetensors";
constexpr double kLargest = double(std::numeric_limits<std::int64_t>::max());

cli::Options train_options() {
  return {
      "train",
      {{"model",
        Kind::choice,
        "mlp|cnn|lenet  the talk's models (default cnn)",
        0,
        0,
        false,
        {"mlp", "cnn", "lenet"}},
       {"dataset",
        Kind::choice,
        "mnist|fashion-mnist  (default mnist)",
        0,
        0,
        false,
        {"mnist", "fashion-mnist"}},
       {"epochs", Kind::integer, "N  epochs in all, counting resumed ones (default 12)", 1, 1e6},
       {"batch-size", Kind::integer, "B  (default 128)", 1, 1 << 20},
       {"optimizer", Kind::choice, "sgd|adam  (default sgd)", 0, 0, false, {"sgd", "adam"}},
       {"learning-rate", Kind::number, "LR  (default 0.1 for sgd, 0.001 for adam)", 0, 1e3, true},
       {"schedule",
        Kind::choice,
        "constant|cosine|step  the learning rate over the run (default constant; cosine: down "
        "to 0 by the last epoch; step: halved every 4 epochs)",
        0,
        0,
        false,
        {"constant", "cosine", "step"}},
       {"early-stop", Kind::integer,
        "N  stop when --monitor has not improved for N epochs in a row", 1, kLargest},
       {"monitor",
        Kind::choice,
        "METRIC  what --early-stop watches: test_loss (default), test_accuracy, training_loss, "
        "training_accuracy",
        0,
        0,
        false,
        {"test_loss", "test_accuracy", "training_loss", "training_accuracy"}},
       {"seed", Kind::integer, "S  initialization and shuffling (default 1)", 0, kLargest},
       {"device",
        Kind::choice,
        "cpu|lazy|cuda  (default cpu; lazy: traced, fused and compiled; cuda: GPU 0)",
        0,
        0,
        false,
        {"cpu", "lazy", "cuda"}},
       {"threads", Kind::integer, "N  CPU threads (default: one per core)", 1, 4096},
       {"output", Kind::text,
        "DIR  where summary.json, metrics.csv and checkpoints go (default runs/MODEL-DATASET)"},
       {"data-dir", Kind::text, "DIR  read the dataset's files from DIR"},
       {"limit", Kind::integer, "N  train on the first N images only (quick runs)", 1, kLargest},
       {"no-download", Kind::flag, "use only local files and the cache"},
       {"checkpoint-every", Kind::integer,
        "N  save DIR/checkpoint.safetensors every N batches and each epoch", 0, kLargest},
       {"resume", Kind::text, "DIR  continue the run whose checkpoint is in DIR"},
       {"tensorboard", Kind::text, "DIR  also write TensorBoard event files into DIR"},
       {"deterministic", Kind::flag,
        "the same result bit for bit whatever --threads (products in fixed tiles; slower)"},
       {"quiet", Kind::flag, "-q  print only the final result and errors"},
       {"verbose", Kind::flag, "-v  also print the running loss every 10 batches"},
       {"help", Kind::flag, "print this help"}}};
}

cli::Options evaluate_options() {
  return {"evaluate",
          {{"checkpoint", Kind::text, "FILE  a checkpoint written by cotangent train (required)"},
           {"dataset",
            Kind::choice,
            "mnist|fashion-mnist  (default mnist)",
            0,
            0,
            false,
            {"mnist", "fashion-mnist"}},
           {"batch-size", Kind::integer, "B  (default 128)", 1, 1 << 20},
           {"threads", Kind::integer, "N  CPU threads (default: one per core)", 1, 4096},
           {"data-dir", Kind::text, "DIR  read the dataset's files from DIR"},
           {"no-download", Kind::flag, "use only local files and the cache"},
           {"help", Kind::flag, "print this help"}}};
}

void print_usage(std::ostream& out) {
  out << "usage: cotangent train [options]\n"
      << "       cotangent evaluate --checkpoint FILE [options]\n"
      << "       cotangent launch --nproc N [--master-port P] -- cotangent train [options]\n\n"
      << "cotangent train:\n"
      << train_options().usage() << "\ncotangent evaluate:\n"
      << evaluate_options().usage()
      << "\nCtrl-C stops training after the batch in progress (saving a checkpoint when\n"
         "--checkpoint-every is set) and exits with status 130; a second Ctrl-C exits at once.\n"
         "Under a launcher (cotangent launch, torchrun, mpirun, srun) train runs data-parallel\n"
         "over the ranks it started (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT; Open MPI's and\n"
         "Slurm's variables too): --batch-size is the global batch, split evenly over the ranks.\n"
         "\nThe progress bar shows on a terminal only (on stderr); per-epoch lines go to stdout,\n"
         "errors to stderr, one line each. Exit status: 0 done (also when stopped early), 1 an\n"
         "error (the message names it), 2 no command given, 130 interrupted (Ctrl-C or SIGTERM).\n";
}

/// Holds an exclusive lock on DIR/.lock for the life of the process, so two runs never write
/// one directory; the kernel drops it when the process ends, however it ends.
class DirectoryLock {
 public:
  explicit DirectoryLock(const std::filesystem::path& directory) {
    auto path = directory / ".lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    CT_CHECK_AS(IOError, fd_ >= 0, "cannot create {}: {}", path.string(), std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      char owner[32] = {};
      [[maybe_unused]] auto n = ::pread(fd_, owner, sizeof owner - 1, 0);
      ::close(fd_);
      throw IOError(detail::format(
          "{} is in use by another cotangent process (pid {}); wait for it or choose another "
          "--output",
          directory.string(), std::strtol(owner, nullptr, 10)));
    }
    std::string pid = std::to_string(::getpid()) + "\n";
    [[maybe_unused]] int ok = ::ftruncate(fd_, 0);
    [[maybe_unused]] auto n = ::pwrite(fd_, pid.data(), pid.size(), 0);
  }
  ~DirectoryLock() { ::close(fd_); }
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

 private:
  int fd_ = -1;
};

/// How OpenMP's idle threads wait in this process, as the environment chose it.
std::string openmp_waiting() {
  if (const char* policy = std::getenv("OMP_WAIT_POLICY"))
    return "OMP_WAIT_POLICY=" + std::string(policy);
  if (const char* spins = std::getenv("GOMP_SPINCOUNT"))
    return "GOMP_SPINCOUNT=" + std::string(spins);
  return "default waiting";
}

std::string hex_double(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%a", v);  // exact, so a resumed run reports the same metrics
  return buf;
}

data::Dataset load_dataset(const std::string& name, std::int64_t batch_size,
                           const data::DatasetOptions& options) {
  if (name == "mnist") return MNIST(batch_size, options);
  return FashionMNIST(batch_size, options);
}

/// A setting a resumed run must share with its checkpoint: the metadata key, the option, and
/// the value as recorded (exact) and as shown to the user.
struct Setting {
  const char* key;
  const char* option;
  std::string recorded, shown;
};

std::string shown_learning_rate(double rate) { return detail::format("{}", rate); }
std::string shown_limit(const std::string& limit) { return limit == "0" ? "none" : limit; }

std::vector<Setting> run_settings(const train::RunDescription& run, std::int64_t limit) {
  std::string batch = std::to_string(run.batch_size), images = std::to_string(limit);
  return {{"dataset", "--dataset", run.dataset, run.dataset},
          {"batch_size", "--batch-size", batch, batch},
          {"optimizer", "--optimizer", run.optimizer, run.optimizer},
          {"learning_rate", "--learning-rate", hex_double(run.learning_rate),
           shown_learning_rate(run.learning_rate)},
          {"limit", "--limit", images, shown_limit(images)},
          {"schedule", "--schedule", run.schedule, run.schedule}};
}

/// Refuses to resume with settings other than the checkpoint's, in the words of the options.
void check_resume(const io::Safetensors& file, const std::filesystem::path& directory,
                  const train::RunDescription& run, std::int64_t limit) {
  auto recorded = [&](const char* key) {
    auto it = file.metadata.find(key);
    return it == file.metadata.end() ? std::string() : it->second;
  };
  auto refuse = [&](const std::string& option, const std::string& then, const std::string& now) {
    throw ValueError(detail::format(
        "--resume: the run in {} was trained with {} {}, not {}; resume with the same settings "
        "or start a new run",
        directory.string(), option, then, now));
  };
  if (recorded("model") != run.model) refuse("--model", recorded("model"), run.model);
  if (recorded("seed") != std::to_string(run.seed))
    refuse("--seed", recorded("seed"), std::to_string(run.seed));
  for (const Setting& now : run_settings(run, limit)) {
    std::string then = recorded(now.key);
    if (then.empty() || then == now.recorded) continue;  // older checkpoints lack some settings
    std::string key = now.key;
    std::string shown = key == "learning_rate"
                            ? shown_learning_rate(std::strtod(then.c_str(), nullptr))
                        : key == "limit" ? shown_limit(then)
                                         : then;
    refuse(now.option, shown, now.shown);
  }
}

/// True when every parameter of the model is finite (checked before a checkpoint replaces the
/// last good one).
template <class Model>
bool parameters_finite(const Model& model) {
  // One sum over all parameters, read once: a single wait for the device (and on the lazy
  // device one program) however many parameters there are. A NaN or infinity anywhere makes
  // the sum non-finite.
  Tensor<float> total;
  for_each_parameter(
      [&](const auto& p) {
        auto s = sum(abs(Tensor<float>(p)));
        total = total.defined() ? total + s : s;
      },
      model);
  return !total.defined() || std::isfinite(double(total.scalar()));
}

template <class Model>
int run_training(const cli::Options& args, const std::string& model_name,
                 const train::StopSignals& stop) {
  train::RunDescription run;
  run.model = model_name;
  run.dataset = args.text("dataset", "mnist");
  run.optimizer = args.text("optimizer", "sgd");
  run.epochs_planned = args.integer("epochs", 12);
  run.batch_size = args.integer("batch-size", 128);
  run.seed = std::uint64_t(args.integer("seed", 1));
  run.learning_rate = args.number("learning-rate", run.optimizer == "sgd" ? 0.1 : 0.001);
  run.schedule = args.text("schedule", "constant");
  std::int64_t limit = args.integer("limit", 0);
  std::int64_t checkpoint_every = args.integer("checkpoint-every", 0);
  std::filesystem::path output = args.text("output", "runs/" + model_name + "-" + run.dataset);
  std::filesystem::path resume = args.text("resume", "");

  // Data-parallel when a launcher started several ranks (cotangent launch, torchrun, mpirun,
  // srun): rank 0 alone prints and writes the output directory.
  distributed::GroupOptions ranks = distributed::options_from_environment();
  bool leader = ranks.rank == 0;
  CT_CHECK_AS(ValueError, run.batch_size % ranks.size == 0,
              "--batch-size {} does not split evenly over {} ranks", run.batch_size, ranks.size);

  // Everything that can be refused is, before any training: the output directory, its lock,
  // the checkpoint to resume and its settings, the dataset.
  std::optional<DirectoryLock> lock;
  if (leader) {
    data::check_writable_directory(output);
    lock.emplace(output);
  }
  std::optional<io::Safetensors> resumed;
  if (!resume.empty()) {
    resumed = io::load_safetensors(resume / kCheckpointFile);
    check_resume(*resumed, resume, run, limit);
    auto recorded = resumed->metadata.find("world_size");
    std::string was = recorded == resumed->metadata.end() ? "1" : recorded->second;
    CT_CHECK_AS(ValueError, was == std::to_string(ranks.size),
                "--resume: the run in {} trained on {} ranks and this one has {}: each rank's "
                "place in the epoch depends on the number of ranks, so resume with {}",
                resume.string(), was, ranks.size, was);
  }

  data::DatasetOptions options;
  options.seed = run.seed;
  options.directory = args.text("data-dir", "");
  options.download = !args.has("no-download");
  if (limit > 0) options.training_limit = limit;
  data::Dataset dataset = load_dataset(run.dataset, run.batch_size, options);
  std::int64_t images = dataset.training().size();
  CT_CHECK_AS(ValueError, images >= run.batch_size,
              "--batch-size {} is larger than the {} training images{}: no full batch to train on",
              run.batch_size, images, limit > 0 ? " (--limit)" : "");

  std::unique_ptr<distributed::ProcessGroup> group;
  if (ranks.size > 1) group = std::make_unique<distributed::ProcessGroup>(ranks);

  default_generator().reseed(run.seed);
  Context::local().random.reseed(run.seed + 1);
  Model model;
  std::string device_name = args.text("device", "cpu");
  Device device = device_name == "lazy"   ? Device::default_lazy()
                  : device_name == "cuda" ? Device::cuda()
                                          : Device::cpu();
  move(model, device);
  if (group) distributed::broadcast_parameters(*group, model);
  // Rank 0 speaks for the run; the other ranks' output goes nowhere.
  // With --quiet only the outcome (and errors) show.
  bool quiet = args.has("quiet");
  std::ostringstream nowhere;
  std::ostream& say = leader ? std::cout : nowhere;
  std::ostream& chatter = leader && !quiet ? std::cout : nowhere;
  chatter << "Training " << model_name << " (" << parameter_count(model) << " parameters) on "
          << run.dataset << ": " << images << " training and " << dataset.test().size()
          << " test images, batch " << run.batch_size << ", " << run.optimizer
          << " with learning rate " << run.learning_rate << ", seed " << run.seed << ", "
          << thread_count() << " threads (OpenMP " << openmp_waiting() << ")"
          << (group ? detail::format(", {} ranks of batch {}", ranks.size,
                                     run.batch_size / ranks.size)
                    : std::string())
          << std::endl;

  std::vector<train::EpochMetrics> history;
  train::FitOptions fit{.epochs = run.epochs_planned,
                        .progress = leader && !quiet,
                        .checkpoint_every = checkpoint_every};
  if (args.has("verbose"))
    fit.callbacks.push_back([&chatter](train::Event event, train::LoopState& state) {
      if (event == train::Event::batch_end && state.batch % 10 == 0 && state.batch < state.batches)
        chatter << detail::format("Epoch {}/{}  batch {}/{}  running loss {}", state.epoch,
                                  state.epochs, state.batch, state.batches, state.running_loss)
                << std::endl;
    });
  fit.group = group.get();
  fit.stop_requested = [&stop] { return stop.requested(); };
  // report.html shows the last epoch's confusion matrix and mistakes.
  train::EvaluationDetails last_details;
  fit.evaluation_details = leader;
  fit.callbacks.push_back([&](train::Event event, train::LoopState& state) {
    if (event == train::Event::validation_end && state.details) last_details = *state.details;
  });
  if (run.schedule == "cosine") fit.callbacks.push_back(train::cosine_decay(run.learning_rate));
  if (run.schedule == "step") fit.callbacks.push_back(train::step_decay(run.learning_rate, 0.5, 4));
  if (args.has("tensorboard"))
    fit.callbacks.push_back(train::tensorboard_logger(args.text("tensorboard")));
  std::optional<train::EarlyStopping> early;
  if (args.has("early-stop")) {
    early.emplace(train::EarlyStoppingOptions{
        .monitor = train::metric_named(args.text("monitor", "test_loss")),
        .patience = args.integer("early-stop", 3)});
    fit.callbacks.push_back(*early);
  }
  fit.on_epoch = [&](const train::EpochMetrics& m) {
    chatter << train::describe(m, run.epochs_planned) << std::endl;
    history.push_back(m);
    run.status = "running";
    if (leader)
      train::write_reports(output, history, run, &last_details,
                           &dataset.test());  // so an open run can be looked at
  };
  auto train_with = [&](auto& optimizer) {
    using Optimizer = std::remove_reference_t<decltype(optimizer)>;
    if (resumed) {
      auto state = io::load_checkpoint(*resumed, resume / kCheckpointFile, model, &optimizer);
      CT_CHECK_AS(ValueError, state.batch > 0 || state.epoch < run.epochs_planned,
                  "--resume: the run in {} has already trained its {} epochs; pass --epochs with "
                  "more to train further",
                  resume.string(), state.epoch);
      fit.start = {state.epoch, state.batch, std::strtod(state.extra["loss_sum"].c_str(), nullptr),
                   std::strtoll(state.extra["correct"].c_str(), nullptr, 10),
                   std::strtoll(state.extra["seen"].c_str(), nullptr, 10)};
      history = train::decode_history(state.extra["history"]);
      // Early stopping goes on counting from the epochs already trained.
      if (early) early->replay(history);
      chatter << "Resuming at epoch " << state.epoch + 1 << ", batch " << state.batch << std::endl;
    }
    auto save = [&](const train::EpochProgress& p) {
      if (!parameters_finite(model))
        throw train::Diverged(detail::format(
            "training diverged: the parameters are no longer finite at epoch {}, batch {}",
            p.epoch + 1, p.batch));
      std::map<std::string, std::string> extra;
      for (const Setting& setting : run_settings(run, limit)) extra[setting.key] = setting.recorded;
      extra["loss_sum"] = hex_double(p.loss_sum);
      extra["correct"] = std::to_string(p.correct);
      extra["seen"] = std::to_string(p.seen);
      extra["history"] = train::encode_history(history);
      extra["world_size"] = std::to_string(ranks.size);
      io::TrainingState state{model_name, p.epoch, p.batch, 0, run.seed, extra};
      io::save_checkpoint<Model, Optimizer>(output / kCheckpointFile, model, &optimizer, state);
    };
    // Every rank stops at the same batches (fit sums the metrics over the ranks there); rank 0
    // alone writes.
    fit.on_checkpoint = [&](const train::EpochProgress& p) {
      if (leader) save(p);
    };
    fit.on_stop = [&](const train::EpochProgress& p) {
      run.status = "interrupted";
      if (leader && checkpoint_every > 0) save(p);
    };
    train::fit(model, optimizer, dataset, fit);
  };

  try {
    if (run.optimizer == "sgd") {
      SGD optimizer(model, {.learning_rate = run.learning_rate});
      train_with(optimizer);
    } else {
      Adam optimizer(model, {.learning_rate = run.learning_rate});
      train_with(optimizer);
    }
  } catch (const train::Diverged& e) {
    run.status = "diverged";
    run.message = e.what();
    if (leader) train::write_reports(output, history, run, &last_details, &dataset.test());
    throw train::Diverged(std::string(e.what()) +
                          (checkpoint_every > 0 ? "; the last good checkpoint is kept" : ""));
  }
  if (run.status == "interrupted") {
    run.message = "interrupted by a signal";
    if (leader) train::write_reports(output, history, run, &last_details, &dataset.test());
    say << "Interrupted after " << history.size() << " complete epochs; wrote "
        << (output / "summary.json").string()
        << (checkpoint_every > 0 ? " and the checkpoint (continue with --resume)" : "")
        << std::endl;
    return 130;
  }
  run.status = "completed";
  if (early && early->stopped()) {
    run.status = "stopped early";
    run.message =
        detail::format("{} has not improved for {} epochs; the best, {}, was at epoch {}",
                       train::metric_name(train::metric_named(args.text("monitor", "test_loss"))),
                       args.integer("early-stop", 3), early->best(), early->best_epoch());
    say << "Stopped early: " << run.message << std::endl;
  }
  if (leader) train::write_reports(output, history, run, &last_details, &dataset.test());
  if (device.mode == Device::Mode::lazy) chatter << lazy::metrics_summary() << std::endl;
  if (group) {
    double total = 0;
    for (const auto& m : history) total += m.seconds;
    chatter << detail::format(
                   "Rank 0 spent {} s of {} s of training in collectives ({}%)",
                   std::round(group->communication_seconds() * 10) / 10,
                   std::round(total * 10) / 10,
                   total > 0 ? std::round(100 * group->communication_seconds() / total) : 0.0)
            << std::endl;
  }
  say << "Final test accuracy " << std::fixed << std::setprecision(2)
      << 100 * history.back().test_accuracy << "%; wrote " << (output / "summary.json").string()
      << " and " << (output / "metrics.csv").string() << std::endl;
  return 0;
}

template <class Model>
int run_evaluation(const cli::Options& args, const io::Safetensors& file) {
  Model model;
  std::filesystem::path checkpoint = args.text("checkpoint");
  io::TrainingState state = io::load_checkpoint(file, checkpoint, model);
  std::string dataset_name = args.text("dataset", "mnist");
  data::DatasetOptions options;
  options.directory = args.text("data-dir", "");
  options.download = !args.has("no-download");
  data::Dataset dataset = load_dataset(dataset_name, args.integer("batch-size", 128), options);
  auto [loss, accuracy] = train::evaluate(model, dataset);
  std::cout << "Checkpoint " << checkpoint.string() << " (" << state.model << ", epoch "
            << state.epoch << "): test loss " << std::fixed << std::setprecision(4) << loss
            << ", accuracy " << std::setprecision(2) << 100 * accuracy << "% on "
            << dataset.test().size() << " " << dataset_name << " test images" << std::endl;
  return 0;
}

int evaluate_command(const cli::Options& args) {
  std::filesystem::path checkpoint = args.text("checkpoint");
  CT_CHECK_AS(ValueError, !checkpoint.empty(), "evaluate: --checkpoint FILE is required");
  io::Safetensors file = io::load_safetensors(checkpoint);  // read once, then dispatch on its model
  std::string model = file.metadata["model"];
  if (model == "mlp") return run_evaluation<models::MLP>(args, file);
  if (model == "cnn") return run_evaluation<models::CNN>(args, file);
  if (model == "lenet") return run_evaluation<models::LeNet>(args, file);
  throw ValueError(
      detail::format("evaluate: {} holds an unknown model '{}'", checkpoint.string(), model));
}

int run(int argc, char** argv) {
  std::string command = argc < 2 ? "" : argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    print_usage(std::cout);
    return 0;
  }
  if (command == "launch") return cli::launch(argc, argv);
  if (command != "train" && command != "evaluate") {
    print_usage(std::cerr);
    if (command.empty()) return 2;
    throw ValueError(detail::format(
        "unknown command '{}' (the commands are train, evaluate and launch)", command));
  }
  cli::Options args = command == "train" ? train_options() : evaluate_options();
  args.parse(argc, argv, 2);
  // Contradictions among the options, before any work.
  CT_CHECK_AS(ValueError, !(args.has("quiet") && args.has("verbose")),
              "--quiet and --verbose: choose one");
  CT_CHECK_AS(ValueError, !args.has("monitor") || args.has("early-stop"),
              "--monitor names what --early-stop watches: give --early-stop N too");
  if (args.has("help")) {
    std::cout << "usage: cotangent " << command
              << (command == "train" ? " [options]\n" : " --checkpoint FILE [options]\n")
              << args.usage();
    return 0;
  }
  if (command == "evaluate") {
    if (args.has("threads")) set_thread_count(int(args.integer("threads", 1)));
    return evaluate_command(args);
  }
  // Before any thread starts, so that every thread inherits the signals' block.
  train::StopSignals stop([](int) {
    std::cerr << "\ncotangent: interrupted after the batch in progress; stopping (Ctrl-C again to "
                 "quit at once)"
              << std::endl;
  });
  if (args.has("threads")) set_thread_count(int(args.integer("threads", 1)));
  if (args.has("deterministic")) set_deterministic(true);
  std::string model = args.text("model", "cnn");
  if (model == "mlp") return run_training<models::MLP>(args, model, stop);
  if (model == "lenet") return run_training<models::LeNet>(args, model, stop);
  return run_training<models::CNN>(args, model, stop);
}

}  // namespace

int main(int argc, char** argv) {
  ct::choose_openmp_waiting(argv);
  // Every failure ends here as one line on stderr and status 1: never an uncaught exception.
  try {
    return run(argc, argv);
  } catch (const ct::Error& e) {
    std::cerr << "cotangent: " << e.what() << std::endl;
  } catch (const std::bad_alloc&) {
    std::cerr << "cotangent: out of memory" << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "cotangent: unexpected error: " << e.what() << std::endl;
  } catch (...) {
    std::cerr << "cotangent: unexpected error" << std::endl;
  }
  return 1;
}
