#include "cotangent/data/datasets.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <memory>
#include <numeric>

namespace ct::data {

namespace {
/// The shuffles' generator (xoshiro256**, seeded by splitmix64): kept apart from the tensors'
/// counter-based Generator so that every epoch's order stays what it has always been, and a
/// checkpoint of any version resumes mid-epoch into the order it was saved in.
class ShuffleGenerator {
 public:
  explicit ShuffleGenerator(std::uint64_t seed) {
    for (auto& s : state_) {
      s = ct::detail::splitmix64(seed);
      seed += 0x9e3779b97f4a7c15ULL;
    }
  }
  /// Uniform integer in [0, n).
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next() % n; }

 private:
  std::uint64_t next() {
    auto rotl = [](std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); };
    std::uint64_t result = rotl(state_[1] * 5, 7) * 9, t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }
  std::array<std::uint64_t, 4> state_{};
};
}  // namespace

Idx parse_idx(const std::vector<std::uint8_t>& bytes, const std::string& what) {
  CT_CHECK_AS(IOError, bytes.size() >= 4, "{}: too short for an IDX header ({} bytes)", what,
              bytes.size());
  CT_CHECK_AS(IOError, bytes[0] == 0 && bytes[1] == 0, "{}: not an IDX file (bad magic number)",
              what);
  char type[8];
  std::snprintf(type, sizeof type, "0x%02x", unsigned(bytes[2]));
  CT_CHECK_AS(IOError, bytes[2] == 0x08,
              "{}: IDX data type {} is not supported; expected unsigned byte (0x08)", what, type);
  int rank = bytes[3];
  CT_CHECK_AS(IOError, rank >= 1 && rank <= 4, "{}: IDX rank {} is not supported", what, rank);
  std::size_t header = 4 + 4 * std::size_t(rank);
  CT_CHECK_AS(IOError, bytes.size() >= header, "{}: truncated IDX header", what);
  std::uint64_t held = bytes.size() - header;
  Idx idx;
  // Each product is checked before it can wrap: dimensions 2^20, 2^20, 2^24 multiply to 2^64,
  // which wraps to 0 and would pass for an empty file. Zero dimensions are skipped so that the
  // other dimensions (the image size, for an empty set) are still bounded.
  std::uint64_t count = 1, span = 1;
  for (int i = 0; i < rank; ++i) {
    const std::uint8_t* p = bytes.data() + 4 + 4 * i;
    std::uint64_t d = (std::uint64_t(p[0]) << 24) | (p[1] << 16) | (p[2] << 8) | p[3];
    idx.dims.push_back(std::int64_t(d));
    CT_CHECK_AS(
        IOError,
        !__builtin_mul_overflow(span, std::max<std::uint64_t>(d, 1), &span) && span <= (1ull << 40),
        "{}: IDX dimensions {} are implausibly large", what, Shape(idx.dims));
    count *= d;  // at most span
  }
  CT_CHECK_AS(IOError, held == count, "{}: IDX header promises {} values but the file holds {}",
              what, count, held);
  idx.values.assign(bytes.begin() + std::ptrdiff_t(header), bytes.end());
  return idx;
}

Dataset::Dataset(std::shared_ptr<const Samples> training, std::shared_ptr<const Samples> test,
                 std::int64_t batch_size, std::uint64_t seed)
    : training_(std::move(training)), test_(std::move(test)), batch_size_(batch_size), seed_(seed) {
  CT_CHECK_AS(ValueError, batch_size > 0, "dataset: batch size must be positive, got {}",
              batch_size);
  CT_CHECK_AS(ValueError, training_ && test_, "dataset: the training or the test set is missing");
  CT_CHECK_AS(ValueError, training_->size() > 0, "dataset: the training set has no samples");
  CT_CHECK_AS(ShapeError, training_->sample_shape() == test_->sample_shape(),
              "dataset: training samples {} and test samples {} differ in shape",
              training_->sample_shape(), test_->sample_shape());
}

Epochs Dataset::training_epochs(std::int64_t count, std::int64_t first) const {
  return Epochs(training_, batch_size_, seed_, first, count);
}

Epochs::Epochs(std::shared_ptr<const Samples> samples, std::int64_t batch_size, std::uint64_t seed,
               std::int64_t first, std::int64_t count)
    : samples_(std::move(samples)),
      batch_size_(batch_size),
      seed_(seed),
      first_(first),
      count_(count) {
  CT_CHECK_AS(ValueError, first >= 0 && count >= 0,
              "training_epochs: the first epoch ({}) and the count ({}) must not be negative",
              first, count);
}

Epoch Epochs::operator[](std::int64_t i) const {
  CT_CHECK_AS(IndexError, i >= 0 && i < count_, "epoch {} is past the end of the run ({} epochs)",
              i, count_);
  // Each epoch's order depends only on the seed and its index, so a resumed run sees the same.
  std::uint64_t e = std::uint64_t(first_ + i);
  std::vector<std::int64_t> order(samples_->size());
  std::iota(order.begin(), order.end(), 0);
  std::uint64_t key = seed_ * 0x9e3779b97f4a7c15ULL + e + 1;
  ShuffleGenerator gen(key);
  for (std::int64_t k = std::int64_t(order.size()) - 1; k > 0; --k)
    std::swap(order[k], order[gen.below(std::uint64_t(k) + 1)]);
  return Epoch(samples_, std::move(order), batch_size_, true, key);
}

Epoch& Epochs::iterator::operator*() {
  if (!current_) current_ = std::make_shared<Epoch>((*epochs_)[index_]);
  return *current_;
}

Epochs::iterator& Epochs::iterator::operator++() {
  ++index_;
  current_.reset();  // the next epoch is built when it is reached
  return *this;
}

Epoch Dataset::validation() const {
  std::vector<std::int64_t> order(test_->size());
  std::iota(order.begin(), order.end(), 0);
  return Epoch(test_, std::move(order), batch_size_, false);
}

Epoch::Epoch(std::shared_ptr<const Samples> samples, std::vector<std::int64_t> order,
             std::int64_t batch_size, bool drop_remainder, std::uint64_t pass)
    : samples_(std::move(samples)), order_(std::move(order)), batch_size_(batch_size), pass_(pass) {
  std::int64_t n = std::int64_t(order_.size());
  batches_ = drop_remainder ? n / batch_size : (n + batch_size - 1) / batch_size;
}

Epoch Epoch::shard(std::int64_t rank, std::int64_t ranks) const {
  CT_CHECK_AS(ValueError, ranks >= 1 && rank >= 0 && rank < ranks,
              "shard: rank {} of {} is out of range", rank, ranks);
  CT_CHECK_AS(ValueError, batch_size_ % ranks == 0,
              "shard: a batch of {} does not split evenly over {} ranks", batch_size_, ranks);
  std::int64_t part = batch_size_ / ranks;
  std::vector<std::int64_t> order;
  order.reserve(std::size_t(batches_ * part));
  for (std::int64_t b = 0; b < batches_; ++b) {
    std::int64_t start = b * batch_size_ + rank * part;
    std::int64_t end = std::min<std::int64_t>(start + part, std::int64_t(order_.size()));
    if (end - start < part) break;  // a short last batch does not split evenly
    order.insert(order.end(), order_.begin() + start, order_.begin() + end);
  }
  return Epoch(samples_, std::move(order), part, true, pass_);
}

LabeledBatch Epoch::batch(std::int64_t i) const {
  CT_CHECK_AS(IndexError, i >= 0 && i < batches_,
              "batch {} is past the end of the epoch ({} batches)", i, batches_);
  std::int64_t start = i * batch_size_;
  std::int64_t n = std::min<std::int64_t>(batch_size_, std::int64_t(order_.size()) - start);
  return samples_->batch(std::span<const std::int64_t>(order_.data() + start, std::size_t(n)),
                         pass_);
}

Epoch::iterator::iterator(const Epoch* epoch, std::int64_t index) : epoch_(epoch), index_(index) {
  if (epoch_ && index_ < epoch_->batches_) current_ = epoch_->batch(index_);
}

Epoch::iterator& Epoch::iterator::operator++() {
  ++index_;
  if (index_ < epoch_->batches_) current_ = epoch_->batch(index_);
  return *this;
}

namespace {

ByteSamples images_and_labels(const std::string& dataset, const RemoteFile& images_file,
                              const RemoteFile& labels_file, const FetchOptions& options) {
  Idx images = parse_idx(fetch(dataset, images_file, options), images_file.name);
  Idx labels = parse_idx(fetch(dataset, labels_file, options), labels_file.name);
  CT_CHECK_AS(
      IOError,
      images.dims.size() == 3 && labels.dims.size() == 1 && images.dims[0] == labels.dims[0],
      "{}: {} images but {} labels", dataset, images.dims.empty() ? 0 : images.dims[0],
      labels.dims.empty() ? 0 : labels.dims[0]);
  ByteSamples s;
  s.count = images.dims[0];
  s.height = images.dims[1];
  s.width = images.dims[2];
  s.channels = 1;
  s.images = std::move(images.values);
  s.labels.assign(labels.values.begin(), labels.values.end());
  for (auto l : s.labels)
    CT_CHECK_AS(IOError, l < 10, "{}: label {} is out of range", labels_file.name, l);
  return s;
}

Dataset idx_dataset(const std::string& name, const std::vector<RemoteFile>& files,
                    std::int64_t batch_size, const DatasetOptions& options) {
  ByteSamples training = images_and_labels(name, files[0], files[1], options);
  ByteSamples test = images_and_labels(name, files[2], files[3], options);
  training.truncate(options.training_limit);
  test.truncate(options.test_limit);
  return Dataset(std::move(training), std::move(test), batch_size, options.seed);
}

}  // namespace

std::vector<RemoteFile> mnist_files() {
  std::vector<std::string> mirrors = {"https://ossci-datasets.s3.amazonaws.com/mnist/",
                                      "https://storage.googleapis.com/cvdf-datasets/mnist/"};
  return {
      {"train-images-idx3-ubyte", mirrors, ".gz", 47040016,
       "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"},
      {"train-labels-idx1-ubyte", mirrors, ".gz", 60008,
       "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"},
      {"t10k-images-idx3-ubyte", mirrors, ".gz", 7840016,
       "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"},
      {"t10k-labels-idx1-ubyte", mirrors, ".gz", 10008,
       "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"},
  };
}

std::vector<RemoteFile> fashion_mnist_files() {
  std::vector<std::string> mirrors = {
      "https://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
      "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"};
  return {
      {"train-images-idx3-ubyte", mirrors, ".gz", 47040016,
       "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"},
      {"train-labels-idx1-ubyte", mirrors, ".gz", 60008,
       "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"},
      {"t10k-images-idx3-ubyte", mirrors, ".gz", 7840016,
       "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"},
      {"t10k-labels-idx1-ubyte", mirrors, ".gz", 10008,
       "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"},
  };
}

Dataset MNIST(std::int64_t batch_size, const DatasetOptions& options) {
  return idx_dataset("mnist", mnist_files(), batch_size, options);
}

Dataset FashionMNIST(std::int64_t batch_size, const DatasetOptions& options) {
  return idx_dataset("fashion-mnist", fashion_mnist_files(), batch_size, options);
}

ByteSamples parse_cifar10(const std::vector<std::uint8_t>& bytes, const std::string& what) {
  constexpr std::size_t record = 1 + 3 * 32 * 32;
  CT_CHECK_AS(IOError, !bytes.empty() && bytes.size() % record == 0,
              "{}: {} bytes is not a whole number of CIFAR-10 records of {} bytes", what,
              bytes.size(), record);
  ByteSamples s;
  s.count = std::int64_t(bytes.size() / record);
  s.height = s.width = 32;
  s.channels = 3;
  s.images.resize(std::size_t(s.count) * 3 * 32 * 32);
  for (std::int64_t i = 0; i < s.count; ++i) {
    const std::uint8_t* r = bytes.data() + i * record;
    CT_CHECK_AS(IOError, r[0] < 10, "{}: record {} has label {}", what, i, int(r[0]));
    s.labels.push_back(r[0]);
    for (int c = 0; c < 3; ++c)  // CHW on disk, HWC in memory
      for (int p = 0; p < 32 * 32; ++p) s.images[(i * 32 * 32 + p) * 3 + c] = r[1 + c * 1024 + p];
  }
  return s;
}

Dataset CIFAR10(std::int64_t batch_size, const std::filesystem::path& directory,
                const DatasetOptions& options) {
  // Every published batch file holds 10000 records: a bound on what a (gzip) file may inflate to.
  constexpr std::uint64_t kBatchFileBytes = 10000 * (1 + 3 * 32 * 32);
  ByteSamples training;
  for (int b = 1; b <= 5; ++b) {
    auto path = directory / ("data_batch_" + std::to_string(b) + ".bin");
    ByteSamples part = parse_cifar10(read_file(path, kBatchFileBytes), path.string());
    if (b == 1) {
      training = std::move(part);
      continue;
    }
    training.count += part.count;
    training.images.insert(training.images.end(), part.images.begin(), part.images.end());
    training.labels.insert(training.labels.end(), part.labels.begin(), part.labels.end());
  }
  auto test_path = directory / "test_batch.bin";
  ByteSamples test = parse_cifar10(read_file(test_path, kBatchFileBytes), test_path.string());
  training.truncate(options.training_limit);
  test.truncate(options.test_limit);
  return Dataset(std::move(training), std::move(test), batch_size, options.seed);
}

}  // namespace ct::data
