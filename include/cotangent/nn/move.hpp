#pragma once
// Moving models and optimizer state between devices over CT_FIELDS, as S4TF's move(to:):
//   move(model, device); move(optimizer, device);
#include "cotangent/autodiff/fields.hpp"
#include <optional>

#include "cotangent/ops/creation.hpp"

namespace ct {

/// An optimizer: a model-shaped state per moment, and a host step count that stays put.
template <class O>
concept HasMoments = requires(O& o) {
  o.moments.states;
};

/// Moves every tensor leaf (parameters and non-trainable state such as running statistics) to
/// `device`; leaves already there are not copied. State kept in a Parameter is shared by copies
/// of the model (as S4TF's Parameter is a reference), so it moves for every copy.
template <class M>
requires(!HasMoments<M>) void move(M& model, Device device) {
  for_each_tensor([&](const std::string&, auto& t) { t = to(t, device); }, "", model);
}

/// Moves an optimizer's moments to `device`; its step count stays a host integer, so learning
/// rate schedules read nothing from the device.
template <HasMoments O>
void move(O& optimizer, Device device) {
  for (auto& state : optimizer.moments.states) move(state, device);
}

/// The device of a model's first tensor leaf (the CPU for a model without tensors).
template <class M>
Device device_of(const M& model) {
  std::optional<Device> found;
  for_each_tensor(
      [&](const std::string&, const auto& t) {
        if (!found) found = t.device();
      },
      "", model);
  return found.value_or(Device::cpu());  // host edge: a model without tensors
}

}  // namespace ct
