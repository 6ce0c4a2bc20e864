#pragma once
// Shape: up to kMaxRank dimensions stored inline, so making a tensor allocates nothing for it.
#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <span>
#include <vector>

#include "cotangent/core/error.hpp"

namespace ct {

/// A tensor's dimensions, outermost first: Shape{2, 3} is 2 rows of 3; at most kMaxRank of them.
class Shape {
 public:
  static constexpr int kMaxRank = 8;

  Shape() = default;
  Shape(std::initializer_list<std::int64_t> dims) { assign(dims.begin(), dims.end()); }
  explicit Shape(std::span<const std::int64_t> dims) { assign(dims.begin(), dims.end()); }
  explicit Shape(const std::vector<std::int64_t>& dims) { assign(dims.begin(), dims.end()); }
  static Shape filled(int rank, std::int64_t value) {
    Shape s;
    s.resize(rank, value);
    return s;
  }

  int rank() const { return rank_; }
  bool empty() const { return rank_ == 0; }
  std::int64_t operator[](int i) const { return dims_[i]; }
  std::int64_t& operator[](int i) { return dims_[i]; }
  const std::int64_t* begin() const { return dims_.data(); }
  const std::int64_t* end() const { return dims_.data() + rank_; }
  std::int64_t* begin() { return dims_.data(); }
  std::int64_t* end() { return dims_.data() + rank_; }
  std::int64_t back() const { return dims_[rank_ - 1]; }
  std::span<const std::int64_t> dims() const { return {dims_.data(), std::size_t(rank_)}; }
  std::vector<std::int64_t> vector() const { return {begin(), end()}; }

  void push_back(std::int64_t d) {
    CT_CHECK(rank_ < kMaxRank, "shape: rank exceeds the maximum of {}", kMaxRank);
    dims_[rank_++] = d;
  }
  void resize(int rank, std::int64_t value = 1) {
    CT_CHECK(rank >= 0 && rank <= kMaxRank, "shape: rank {} outside [0, {}]", rank, kMaxRank);
    for (int i = rank_; i < rank; ++i) dims_[i] = value;
    rank_ = rank;
  }
  void insert(int at, std::int64_t d) {
    push_back(0);
    for (int i = rank_ - 1; i > at; --i) dims_[i] = dims_[i - 1];
    dims_[at] = d;
  }
  void erase(int at) {
    for (int i = at; i + 1 < rank_; ++i) dims_[i] = dims_[i + 1];
    --rank_;
  }

  /// Number of elements; throws ValueError on overflow or a negative dimension.
  std::int64_t count() const {
    std::int64_t n = 1;
    for (int i = 0; i < rank_; ++i) {
      CT_CHECK_AS(ValueError, dims_[i] >= 0, "shape: negative dimension in {}", *this);
      CT_CHECK_AS(ValueError, !__builtin_mul_overflow(n, dims_[i], &n),
                  "shape: element count of {} overflows", *this);
    }
    return n;
  }

  friend bool operator==(const Shape& a, const Shape& b) {
    return a.rank_ == b.rank_ && std::equal(a.begin(), a.end(), b.begin());
  }
  friend std::ostream& operator<<(std::ostream& out, const Shape& s) {
    out << '[';
    for (int i = 0; i < s.rank_; ++i) out << (i ? ", " : "") << s.dims_[i];
    return out << ']';
  }

 private:
  template <class It>
  void assign(It first, It last) {
    auto n = std::distance(first, last);
    CT_CHECK(n <= kMaxRank, "shape: rank {} exceeds the maximum of {}", n, kMaxRank);
    std::copy(first, last, dims_.begin());
    rank_ = int(n);
  }

  std::array<std::int64_t, kMaxRank> dims_{};
  int rank_ = 0;
};

/// Row-major strides (in elements) of a contiguous tensor of `shape`.
inline Shape contiguous_strides(const Shape& shape) {
  Shape strides = Shape::filled(shape.rank(), 1);
  for (int i = shape.rank() - 2; i >= 0; --i) strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

/// Maps a possibly negative axis into [0, rank), throwing IndexError naming `op`.
inline int normalize_axis(int axis, int rank, const char* op) {
  CT_CHECK_AS(IndexError, axis >= -rank && axis < rank, "{}: axis {} is out of range for rank {}",
              op, axis, rank);
  return axis < 0 ? axis + rank : axis;
}

/// NumPy broadcasting of two shapes; throws ShapeError naming `op`.
inline Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  int rank = std::max(a.rank(), b.rank());
  Shape out = Shape::filled(rank, 1);
  for (int i = 0; i < rank; ++i) {
    int ia = i - (rank - a.rank()), ib = i - (rank - b.rank());
    std::int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    CT_CHECK(da == db || da == 1 || db == 1, "{}: shapes {} and {} do not broadcast", op, a, b);
    out[i] = da == 1 ? db : da;
  }
  return out;
}

}  // namespace ct
