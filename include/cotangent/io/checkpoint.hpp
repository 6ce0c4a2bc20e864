#pragma once
// Checkpoints of any CT_FIELDS model and its optimizer as safetensors files. Tensors are named
// by field path ("conv1a/filter"); optimizer moments as "optimizer/<k>/<path>"; the training
// position (epoch, step, seed, random generator states) goes in the metadata block.
#include <sstream>

#include "cotangent/autodiff/fields.hpp"
#include "cotangent/io/safetensors.hpp"
#include "cotangent/nn/context.hpp"

namespace ct::io {

/// Where training stood when the checkpoint was written.
struct TrainingState {
  std::string model;       // the model's name, e.g. "cnn"
  std::int64_t epoch = 0;  // epochs completed
  std::int64_t batch = 0;  // batches completed within the next epoch
  std::int64_t optimizer_step = 0;
  std::uint64_t seed = 0;                    // of the data order
  std::map<std::string, std::string> extra;  // anything else (running metrics, …)
};

/// How load_checkpoint matches the file's tensors to the model's.
struct LoadOptions {
  /// Load the tensors whose names match and leave the rest untouched (fine-tuning); otherwise
  /// every name, shape and dtype must match exactly.
  bool partial = false;
};

/// The library and version save_checkpoint records in a checkpoint's "library" metadata.
inline constexpr const char* kLibraryVersion = "cotangent 0.2.0";

namespace detail {
inline std::string join_state(const Generator::State& s) {
  return ct::detail::format("philox {} {}", s.seed, s.counter);
}
/// A generator state: "philox SEED COUNTER", or the four words of the generator of version
/// 0.1.0 (xoshiro256**), which seed a Philox stream so that such checkpoints still load (their
/// random draws after the resume differ from what 0.1.0 would have drawn).
inline Generator::State split_state(const std::string& text) {
  std::istringstream in(text);
  std::string kind;
  Generator::State s;
  if (text.rfind("philox ", 0) == 0) {
    CT_CHECK_AS(IOError, static_cast<bool>(in >> kind >> s.seed >> s.counter),
                "checkpoint: bad generator state '{}'", text);
    return s;
  }
  std::array<std::uint64_t, 4> words{};
  for (auto& v : words)
    CT_CHECK_AS(IOError, static_cast<bool>(in >> v),
                "checkpoint: bad generator state '{}' (neither 'philox SEED COUNTER' nor the four "
                "words of version 0.1.0)",
                text);
  for (std::uint64_t w : words)
    s.seed = (s.seed ^ w) * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL;
  return s;
}
template <class Model>
void collect(std::vector<NamedTensor>& out, const std::string& prefix, const Model& m) {
  for_each_tensor(
      [&](const std::string& name, const auto& t) {
        out.push_back({name, t});
      },
      prefix, m);
}
}  // namespace detail

/// The tensors of a model (and of an optimizer's moments when given), named by field path.
template <class Model, class Optimizer = std::nullptr_t>
std::vector<NamedTensor> named_tensors(const Model& model, const Optimizer* optimizer = nullptr) {
  std::vector<NamedTensor> out;
  detail::collect(out, "", model);
  if constexpr (!std::is_same_v<Optimizer, std::nullptr_t>) {
    if (optimizer)
      for (std::size_t k = 0; k < optimizer->moments.states.size(); ++k)
        detail::collect(out, "optimizer/" + std::to_string(k), optimizer->moments.states[k]);
  }
  return out;
}

/// The number of steps an optimizer has taken (saved as the checkpoint's "optimizer_step").
template <class Optimizer>
std::int64_t optimizer_step(const Optimizer& o) {
  return o.moments.step;
}

/// Saves model, optimizer state and training position atomically to `path`.
template <class Model, class Optimizer = std::nullptr_t>
void save_checkpoint(const std::filesystem::path& path, const Model& model,
                     const Optimizer* optimizer = nullptr, TrainingState state = {}) {
  std::map<std::string, std::string> meta = state.extra;
  meta["library"] = kLibraryVersion;
  meta["model"] = state.model;
  meta["dtype"] = "float32";
  meta["epoch"] = std::to_string(state.epoch);
  meta["batch"] = std::to_string(state.batch);
  std::int64_t step = state.optimizer_step;
  if constexpr (!std::is_same_v<Optimizer, std::nullptr_t>)
    if (optimizer) step = optimizer_step(*optimizer);
  meta["optimizer_step"] = std::to_string(step);
  meta["seed"] = std::to_string(state.seed);
  meta["generator"] = detail::join_state(default_generator().state());
  meta["layer_random"] = detail::join_state(Context::local().random.state());
  save_safetensors(path, named_tensors(model, optimizer), meta);
}

/// Loads a checkpoint already read from `path` into `model` (and `optimizer`). Every tensor's
/// name, shape and dtype must match (unless options.partial); the error lists each one that does
/// not.
template <class Model, class Optimizer = std::nullptr_t>
TrainingState load_checkpoint(const Safetensors& file, const std::filesystem::path& path,
                              Model& model, Optimizer* optimizer = nullptr,
                              LoadOptions options = {}) {
  std::vector<NamedTensor> expected =
      named_tensors(model, static_cast<const Optimizer*>(optimizer));
  std::vector<std::string> problems;
  std::size_t matched = 0;
  for (auto& e : expected) {
    const AnyTensor* found = file.find(e.name);
    if (!found) {
      if (!options.partial) problems.push_back("missing '" + e.name + "'");
      continue;
    }
    if (found->dtype() != e.tensor.dtype() || !(found->shape() == e.tensor.shape())) {
      std::ostringstream m;
      m << "'" << e.name << "' is " << found->dtype() << " " << found->shape()
        << " in the file but " << e.tensor.dtype() << " " << e.tensor.shape() << " in the model";
      problems.push_back(m.str());
    }
    ++matched;
  }
  bool with_optimizer = false;
  if constexpr (!std::is_same_v<Optimizer, std::nullptr_t>) with_optimizer = optimizer != nullptr;
  if (!options.partial)
    for (auto& t : file.tensors) {
      if (!with_optimizer && t.name.rfind("optimizer/", 0) == 0)
        continue;  // loading the model alone
      bool known =
          std::any_of(expected.begin(), expected.end(), [&](auto& e) { return e.name == t.name; });
      if (!known) problems.push_back("unexpected '" + t.name + "'");
    }
  if (options.partial && matched == 0) problems.push_back("no tensor name matches the model");
  if (!problems.empty()) {
    std::string message = path.string() + ": the checkpoint does not fit the model:";
    for (auto& p : problems) message += "\n  - " + p;
    throw ShapeError(message);
  }
  auto assign = [&](const std::string& prefix, auto& target) {
    for_each_tensor(
        [&](const std::string& name, auto& t) {
          using T = std::remove_cvref_t<decltype(t)>;
          if (const AnyTensor* found = file.find(name)) t = to(T(*found), t.device());
        },
        prefix, target);
  };
  assign("", model);
  TrainingState state;
  auto meta = [&](const char* key) {
    auto it = file.metadata.find(key);
    return it == file.metadata.end() ? std::string() : it->second;
  };
  auto number = [&](const char* key) -> std::int64_t {
    std::string v = meta(key);
    try {
      return v.empty() ? 0 : std::stoll(v);
    } catch (const std::exception&) {
      throw IOError(
          ct::detail::format("{}: metadata '{}' is not a number: '{}'", path.string(), key, v));
    }
  };
  if constexpr (!std::is_same_v<Optimizer, std::nullptr_t>) {
    if (optimizer) {
      for (std::size_t k = 0; k < optimizer->moments.states.size(); ++k)
        assign("optimizer/" + std::to_string(k), optimizer->moments.states[k]);
      optimizer->moments.step = number("optimizer_step");
    }
  }
  state.model = meta("model");
  state.epoch = number("epoch");
  state.batch = number("batch");
  state.optimizer_step = number("optimizer_step");
  state.seed = std::uint64_t(number("seed"));
  if (!meta("generator").empty())
    default_generator().set_state(detail::split_state(meta("generator")));
  if (!meta("layer_random").empty())
    Context::local().random.set_state(detail::split_state(meta("layer_random")));
  state.extra = file.metadata;
  return state;
}

/// Reads the checkpoint at `path` and loads it (see above).
template <class Model, class Optimizer = std::nullptr_t>
TrainingState load_checkpoint(const std::filesystem::path& path, Model& model,
                              Optimizer* optimizer = nullptr, LoadOptions options = {}) {
  return load_checkpoint(load_safetensors(path), path, model, optimizer, options);
}

}  // namespace ct::io
