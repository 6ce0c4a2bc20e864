#pragma once
// Datasets with S4TF's batching: a training and a test set of Samples, shuffled per epoch and
// cut into batches. MNIST, Fashion-MNIST (IDX files) and CIFAR-10 (binary) are built in; a
// user's own data is any Samples (TensorSamples for tensors in memory or .npy files).
#include <memory>
#include <optional>
#include <utility>

#include "cotangent/data/files.hpp"
#include "cotangent/data/samples.hpp"
#include "cotangent/ops/ops.hpp"

namespace ct::data {

/// A parsed IDX file: dimensions and the raw unsigned bytes.
struct Idx {
  std::vector<std::int64_t> dims;
  std::vector<std::uint8_t> values;
};
/// Parses IDX (unsigned byte data only, as MNIST uses); throws IOError naming `what` on a bad
/// magic number, a size that does not match the header, or trailing bytes.
Idx parse_idx(const std::vector<std::uint8_t>& bytes, const std::string& what);

class Epoch;
class Epochs;

/// A training and a test set with S4TF's batching. ShapeError when the sets' samples differ
/// in shape, ValueError for an empty training set or a batch size below 1.
class Dataset {
 public:
  Dataset(std::shared_ptr<const Samples> training, std::shared_ptr<const Samples> test,
          std::int64_t batch_size, std::uint64_t seed = 0);
  /// From sources held by value: Dataset(TensorSamples(x, y), TensorSamples(tx, ty), 64).
  template <std::derived_from<Samples> A, std::derived_from<Samples> B>
  Dataset(A training, B test, std::int64_t batch_size, std::uint64_t seed = 0)
      : Dataset(std::make_shared<const A>(std::move(training)),
                std::make_shared<const B>(std::move(test)), batch_size, seed) {}

  /// Epochs `first` to `first + count - 1` of the training set, each shuffled from the seed and
  /// cut into equal batches (the remainder dropped), built one at a time as the loop reaches
  /// them: for (auto& epoch : dataset.training_epochs(12)) for (auto& [x, y] : epoch)
  Epochs training_epochs(std::int64_t count, std::int64_t first = 0) const;
  /// The test set in order, in batches (the last may be smaller).
  Epoch validation() const;

  std::int64_t batch_size() const { return batch_size_; }
  std::uint64_t seed() const { return seed_; }
  const Samples& training() const { return *training_; }
  const Samples& test() const { return *test_; }
  const std::shared_ptr<const Samples>& training_samples() const { return training_; }
  const std::shared_ptr<const Samples>& test_samples() const { return test_; }

 private:
  std::shared_ptr<const Samples> training_, test_;
  std::int64_t batch_size_;
  std::uint64_t seed_;
};

/// One pass over samples in a fixed order; iterating yields LabeledBatch values. Each batch is
/// built when the iterator reaches it: converting bytes to floats takes microseconds, and a
/// loader thread per batch measured 25% slower MLP epochs on two cores, where it preempts the
/// OpenMP team that the training step runs on.
class Epoch {
 public:
  /// The samples in `order`; `pass` keys random transforms (see HostBatch).
  Epoch(std::shared_ptr<const Samples> samples, std::vector<std::int64_t> order,
        std::int64_t batch_size, bool drop_remainder, std::uint64_t pass = 0);

  std::int64_t batch_count() const { return batches_; }
  std::int64_t sample_count() const { return std::int64_t(order_.size()); }
  const std::vector<std::int64_t>& order() const { return order_; }

  class iterator {
   public:
    using value_type = LabeledBatch;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    iterator(const Epoch* epoch, std::int64_t index);
    LabeledBatch& operator*() { return current_; }
    iterator& operator++();
    bool operator==(const iterator& o) const { return index_ == o.index_; }

   private:
    const Epoch* epoch_ = nullptr;
    std::int64_t index_ = 0;
    LabeledBatch current_;
  };
  iterator begin() const { return iterator(this, 0); }
  /// Starts at batch `first` (to resume an epoch part way).
  iterator begin_at(std::int64_t first) const { return iterator(this, first); }
  iterator end() const { return iterator(nullptr, batches_); }
  /// Batch `i` built synchronously; IndexError unless 0 <= i < batch_count().
  LabeledBatch batch(std::int64_t i) const;
  /// This rank's share of every batch for data-parallel training: slice `rank` of `ranks`
  /// equal slices of each batch, so that the ranks together see each batch once, and their
  /// averaged gradients are those of the whole batch. ValueError when the batch size does not
  /// split evenly.
  Epoch shard(std::int64_t rank, std::int64_t ranks) const;

 private:
  std::shared_ptr<const Samples> samples_;
  std::vector<std::int64_t> order_;
  std::int64_t batch_size_, batches_;
  std::uint64_t pass_;
};

/// A run of training epochs. Each Epoch, and its shuffled order of the whole training set, is
/// built only when an iterator reaches it, so a run of a million epochs costs no more memory
/// than one. Epoch k's order depends only on the seed and k: a resumed run sees the same.
class Epochs {
 public:
  Epochs(std::shared_ptr<const Samples> samples, std::int64_t batch_size, std::uint64_t seed,
         std::int64_t first, std::int64_t count);

  std::int64_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  /// Epoch `first + i`, built now; IndexError unless 0 <= i < size().
  Epoch operator[](std::int64_t i) const;

  class iterator {
   public:
    using value_type = Epoch;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    iterator(const Epochs* epochs, std::int64_t index) : epochs_(epochs), index_(index) {}
    Epoch& operator*();
    Epoch* operator->() { return &**this; }
    iterator& operator++();
    void operator++(int) { ++*this; }
    bool operator==(const iterator& o) const { return index_ == o.index_; }

   private:
    const Epochs* epochs_ = nullptr;
    std::int64_t index_ = 0;
    std::shared_ptr<Epoch> current_;  // built on first dereference, dropped on increment
  };
  iterator begin() const { return iterator(this, 0); }
  iterator end() const { return iterator(this, count_); }

 private:
  std::shared_ptr<const Samples> samples_;
  std::int64_t batch_size_;
  std::uint64_t seed_;
  std::int64_t first_, count_;
};

/// Options of the built-in datasets: where files come from, the shuffle seed, sample limits.
struct DatasetOptions : FetchOptions {
  std::uint64_t seed = 0;            // of the shuffling
  std::int64_t training_limit = -1;  // keep only the first N training samples (-1: all)
  std::int64_t test_limit = -1;
};

/// MNIST handwritten digits, 28×28×1: downloaded, verified and cached on first use.
Dataset MNIST(std::int64_t batch_size, const DatasetOptions& options = {});
/// Fashion-MNIST, the same format with clothing.
Dataset FashionMNIST(std::int64_t batch_size, const DatasetOptions& options = {});
/// CIFAR-10 from its binary batches (data_batch_1..5.bin, test_batch.bin) in `directory`.
Dataset CIFAR10(std::int64_t batch_size, const std::filesystem::path& directory,
                const DatasetOptions& options = {});
/// Parses CIFAR-10 binary records (1 label byte + 3072 bytes CHW) into NHWC bytes.
ByteSamples parse_cifar10(const std::vector<std::uint8_t>& bytes, const std::string& what);

/// The remote files of MNIST and Fashion-MNIST (mirrors, sizes and checksums).
std::vector<RemoteFile> mnist_files();
/// The remote files of Fashion-MNIST, in the same form.
std::vector<RemoteFile> fashion_mnist_files();

}  // namespace ct::data

namespace ct {
namespace detail {
/// The lazy view behind enumerate(): holds the range (by value when given a temporary), and
/// copies each element only when its iterator reaches it.
template <class Range>
class Enumerated {
 public:
  using Element = std::remove_cvref_t<decltype(*std::begin(std::declval<Range&>()))>;
  using Inner = decltype(std::begin(std::declval<Range&>()));
  explicit Enumerated(Range&& range) : range_(std::forward<Range>(range)) {}

  class iterator {
   public:
    using value_type = std::pair<std::int64_t, Element>;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(Inner inner) : inner_(std::move(inner)) {}
    value_type& operator*() {
      if (!current_) current_.emplace(index_, *inner_);
      return *current_;
    }
    iterator& operator++() {
      ++inner_, ++index_;
      current_.reset();
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(const iterator& o) const { return inner_ == o.inner_; }

   private:
    Inner inner_{};
    std::int64_t index_ = 0;
    std::optional<value_type> current_;
  };
  iterator begin() { return iterator(std::begin(range_)); }
  iterator end() { return iterator(std::end(range_)); }

 private:
  Range range_;  // a reference for an lvalue range, a value for a temporary one
};
}  // namespace detail

/// Pairs each element with its index, lazily: for (auto [i, x] : enumerate(range)).
template <class Range>
auto enumerate(Range&& range) {
  return detail::Enumerated<Range>(std::forward<Range>(range));
}
using data::FashionMNIST;
using data::MNIST;
}  // namespace ct
