// A model without CT_FIELDS: differentiating it must not compile (it would train nothing).
// expect: needs CT_FIELDS
#include <cotangent/cotangent.hpp>

struct Model {
  ct::Dense<float> dense{4, 2};
  ct::Tensor<float> operator()(const ct::Tensor<float>& x) const { return dense(x); }
};

int main() {
  Model model;
  auto x = ct::zeros<float>({1, 4});
  auto [loss, grad] = ct::value_with_gradient(model, [&](const Model& m) { return ct::sum(m(x)); });
}
