#include "onednn_matmul.hpp"

#include <dnnl.hpp>

#include <array>
#include <map>

namespace ct::cpu::onednn {

void matmul_transposed_b(std::int64_t m, std::int64_t n, std::int64_t k, const float* a,
                         std::int64_t lda, const float* b, std::int64_t ldb, float* c,
                         std::int64_t ldc) {
  using dnnl::memory;
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  thread_local dnnl::stream stream(engine);
  struct Plan {
    memory::desc a, b, c;
    dnnl::matmul primitive;
  };
  // Created once per shape and thread (a training step has a handful of shapes).
  thread_local std::map<std::array<std::int64_t, 6>, Plan> plans;
  auto key = std::array{m, n, k, lda, ldb, ldc};
  auto found = plans.find(key);
  if (found == plans.end()) {
    if (plans.size() >= 256) plans.clear();  // shapes that keep changing: start over
    memory::desc ma({m, k}, memory::data_type::f32, {lda, 1});
    memory::desc mb({k, n}, memory::data_type::f32, {1, ldb});  // Bᵀ, read through strides
    memory::desc mc({m, n}, memory::data_type::f32, {ldc, 1});
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(ma, mb, mc), engine);
    found = plans.emplace(key, Plan{ma, mb, mc, dnnl::matmul(pd)}).first;
  }
  Plan& plan = found->second;
  plan.primitive.execute(stream, {{DNNL_ARG_SRC, memory(plan.a, engine, const_cast<float*>(a))},
                                  {DNNL_ARG_WEIGHTS, memory(plan.b, engine, const_cast<float*>(b))},
                                  {DNNL_ARG_DST, memory(plan.c, engine, c)}});
  stream.wait();
}

}  // namespace ct::cpu::onednn
