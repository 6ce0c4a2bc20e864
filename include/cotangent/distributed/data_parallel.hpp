#pragma once
// Data-parallel training: each rank trains a copy of the model on its shard of every batch, and
// the ranks average their gradients before the update, so N ranks at batch B/N take the steps
// one process takes at batch B.
//
//   broadcast_parameters(group, model);                  // every rank starts from rank 0's
//   auto [loss, grad] = value_with_gradient(model, f);   // on this rank's shard
//   optimizer.update(model, average_gradients(group, grad));
#include <cstdint>
#include <string>
#include <vector>

#include "cotangent/autodiff/fields.hpp"
#include "cotangent/backend/backend.hpp"
#include "cotangent/distributed/process_group.hpp"
#include "cotangent/nn/move.hpp"

namespace ct::distributed {

namespace detail {
/// A 64-bit FNV-1a hash of every parameter's path, shape and dtype.
template <class M>
std::int64_t parameter_signature(const M& model) {
  std::uint64_t h = 1469598103934665603ull;
  auto mix = [&](const std::string& s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  };
  for_each_named_parameter(
      [&](const std::string& path, const auto& t) {
        mix(path);
        for (int i = 0; i < t.rank(); ++i) mix(std::to_string(t.shape()[i]) + ",");
        mix(std::string(dtype_name(t.dtype())));
      },
      "", model);
  return std::int64_t(h);
}

/// Applies `body(bucket_leaves)` to the float (then double) parameters of `tree` in groups of
/// at most `bucket_bytes`.
template <class T, class Tree, class Body>
void for_each_bucket(Tree& tree, std::size_t bucket_bytes, Body&& body) {
  std::vector<Tensor<T>*> bucket;
  std::size_t bytes = 0;
  for_each_parameter(
      [&](auto& leaf) {
        if constexpr (std::is_same_v<std::remove_cvref_t<decltype(leaf)>, Tensor<T>>) {
          std::size_t size = std::size_t(leaf.shape().count()) * sizeof(T);
          if (!bucket.empty() && bytes + size > bucket_bytes) {
            body(bucket);
            bucket.clear(), bytes = 0;
          }
          bucket.push_back(&leaf), bytes += size;
        }
      },
      tree);
  if (!bucket.empty()) body(bucket);
}

/// x's values into `host` (a host read: the gradient leaves the device for the network).
template <class T>
void copy_to_host(const Tensor<T>& x, T* host) {
  const RawTensor& r = x.raw();
  RawTensor dense =
      r.is_contiguous() ? r : backend_for(r.device, Op::contiguous, r.dtype).contiguous(r);
  if (dense.count() > 0) backend_for(r.device).read(dense, host);  // host edge: to the network
}

template <class T>
void average_bucket(ProcessGroup& group, std::vector<Tensor<T>*>& leaves) {
  // One host buffer per bucket: each leaf is copied in once and out once.
  std::int64_t total = 0;
  for (Tensor<T>* leaf : leaves) total += leaf->shape().count();
  std::vector<T> flat(static_cast<std::size_t>(total));
  std::int64_t at = 0;
  for (Tensor<T>* leaf : leaves) {
    copy_to_host(*leaf, flat.data() + at);
    at += leaf->shape().count();
  }
  group.allreduce_host(flat.data(), total, dtype_of<T>, Reduction::average);
  at = 0;
  for (Tensor<T>* leaf : leaves) {
    std::int64_t count = leaf->shape().count();
    *leaf = Tensor<T>(AnyTensor(
        backend_for(leaf->device()).upload(flat.data() + at, leaf->shape(), dtype_of<T>)));
    at += count;
  }
}
}  // namespace detail

/// Gives every rank rank `root`'s parameters. First checks that all ranks hold the same
/// parameters (paths, shapes, dtypes): a DistributedError before any training otherwise.
template <class M>
requires(!HasMoments<M>) void broadcast_parameters(ProcessGroup& group, M& model, int root = 0) {
  auto signatures = group.all_gather(Tensor<std::int64_t>({detail::parameter_signature(model)}))
                        .scalars();  // host edge: a host tensor
  for (int r = 0; r < group.size(); ++r)
    CT_CHECK_AS(DistributedError, signatures[r] == signatures[root],
                "rank {}'s model has other parameters (names, shapes or dtypes) than rank {}'s: "
                "every rank must build the same model",
                r, root);
  for_each_parameter([&](auto& leaf) { leaf = group.broadcast(leaf, root); }, model);
}

/// Gives every rank rank `root`'s optimizer state (moments), as for a resumed run.
template <HasMoments O>
void broadcast_parameters(ProcessGroup& group, O& optimizer, int root = 0) {
  for (auto& state : optimizer.moments.states) broadcast_parameters(group, state, root);
}

/// The mean over the ranks of each rank's gradient, allreduced in buckets of `bucket_bytes`.
template <class G>
G average_gradients(ProcessGroup& group, const G& gradient,
                    std::size_t bucket_bytes = std::size_t(25) << 20) {
  G out = gradient;
  if (group.size() == 1) return out;
  detail::for_each_bucket<float>(out, bucket_bytes,
                                 [&](auto& leaves) { detail::average_bucket(group, leaves); });
  detail::for_each_bucket<double>(out, bucket_bytes,
                                  [&](auto& leaves) { detail::average_bucket(group, leaves); });
  return out;
}

}  // namespace ct::distributed
