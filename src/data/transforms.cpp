#include "cotangent/data/transforms.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace ct::data {

double sample_uniform(std::uint64_t pass, std::int64_t index, std::uint64_t stream) {
  // splitmix64 over the three keys: cheap, and every bit of each key reaches the result, so
  // neighbouring samples and passes draw independent-looking values.
  using ct::detail::splitmix64;
  std::uint64_t z = splitmix64(splitmix64(splitmix64(pass) ^ std::uint64_t(index)) ^ stream);
  return double(z >> 11) * 0x1.0p-53;
}

namespace {

/// Checks a sample is an image [H, W, C] for `name`.
void check_image(const Shape& s, const std::string& name) {
  CT_CHECK_AS(ShapeError, s.rank() == 3, "{}: needs images [height, width, channels], not {}", name,
              s);
}

/// A draw in [0, n] (inclusive) from sample_uniform.
std::int64_t draw_offset(const HostBatch& b, std::int64_t i, std::uint64_t stream, std::int64_t n) {
  auto v = std::int64_t(sample_uniform(b.pass, b.indices[std::size_t(i)], b.stream + stream) *
                        double(n + 1));
  return std::min(v, n);
}

}  // namespace

Transform normalize(std::vector<float> mean, std::vector<float> stddev) {
  std::string name = "normalize";
  CT_CHECK_AS(ValueError, !mean.empty() && !stddev.empty(),
              "normalize: give a mean and a standard deviation (one, or one per channel)");
  for (float m : mean)
    CT_CHECK_AS(ValueError, std::isfinite(m), "normalize: the mean {} is not a finite number", m);
  for (float s : stddev)
    CT_CHECK_AS(ValueError, std::isfinite(s) && s > 0,
                "normalize: the standard deviation {} must be a positive finite number", s);
  auto shape = [mean, stddev](const Shape& s) {
    std::int64_t channels = s.rank() ? s.back() : 1;
    for (auto* v : {&mean, &stddev})
      CT_CHECK_AS(ShapeError, v->size() == 1 || std::int64_t(v->size()) == channels,
                  "normalize: {} values for samples {} with {} channels (the last axis)", v->size(),
                  s, channels);
    return s;
  };
  auto apply = [mean, stddev](HostBatch& b) {
    std::size_t channels = std::size_t(b.sample_shape.rank() ? b.sample_shape.back() : 1);
    std::vector<float> shift(channels), scale(channels);
    for (std::size_t c = 0; c < channels; ++c) {
      shift[c] = mean[mean.size() == 1 ? 0 : c];
      scale[c] = 1 / stddev[stddev.size() == 1 ? 0 : c];
    }
    for (std::size_t k = 0; k < b.values.size(); k += channels)
      for (std::size_t c = 0; c < channels; ++c)
        b.values[k + c] = (b.values[k + c] - shift[c]) * scale[c];
  };
  return {name, shape, apply};
}

Transform random_crop(std::int64_t height, std::int64_t width, std::int64_t padding) {
  std::string name = detail::format("random_crop({}, {}, padding {})", height, width, padding);
  CT_CHECK_AS(ValueError, height > 0 && width > 0 && padding >= 0,
              "{}: the window must be at least 1x1 and the padding not negative", name);
  auto shape = [=](const Shape& s) {
    check_image(s, name);
    CT_CHECK_AS(ShapeError, s[0] + 2 * padding >= height && s[1] + 2 * padding >= width,
                "{}: the window is larger than the padded images {}", name, s);
    return Shape{height, width, s[2]};
  };
  auto apply = [=](HostBatch& b) {
    Shape in = b.sample_shape;
    std::int64_t h = in[0], w = in[1], c = in[2], n = b.size();
    std::vector<float> out(std::size_t(n * height * width * c), 0.0f);
    for (std::int64_t i = 0; i < n; ++i) {
      // The window's corner in padded coordinates, then in the image's own.
      std::int64_t top = draw_offset(b, i, 1, h + 2 * padding - height) - padding;
      std::int64_t left = draw_offset(b, i, 2, w + 2 * padding - width) - padding;
      std::int64_t x0 = std::max<std::int64_t>(0, -left), x1 = std::min(width, w - left);
      if (x1 <= x0) continue;
      for (std::int64_t y = 0; y < height; ++y) {
        std::int64_t sy = top + y;
        if (sy < 0 || sy >= h) continue;  // padding rows stay zero
        const float* src = b.values.data() + ((i * h + sy) * w + left + x0) * c;
        float* dst = out.data() + ((i * height + y) * width + x0) * c;
        std::memcpy(dst, src, std::size_t((x1 - x0) * c) * sizeof(float));
      }
    }
    b.values = std::move(out);
    b.sample_shape = {height, width, c};
  };
  return {name, shape, apply};
}

Transform random_flip() {
  std::string name = "random_flip";
  auto shape = [name](const Shape& s) {
    check_image(s, name);
    return s;
  };
  auto apply = [](HostBatch& b) {
    std::int64_t h = b.sample_shape[0], w = b.sample_shape[1], c = b.sample_shape[2];
    for (std::int64_t i = 0; i < b.size(); ++i) {
      if (sample_uniform(b.pass, b.indices[std::size_t(i)], b.stream + 3) >= 0.5) continue;
      for (std::int64_t y = 0; y < h; ++y) {
        float* row = b.values.data() + (i * h + y) * w * c;
        for (std::int64_t x = 0; x < w / 2; ++x)
          std::swap_ranges(row + x * c, row + (x + 1) * c, row + (w - 1 - x) * c);
      }
    }
  };
  return {name, shape, apply};
}

Transformed::Transformed(std::shared_ptr<const Samples> source, std::vector<Transform> transforms)
    : source_(std::move(source)), transforms_(std::move(transforms)) {
  CT_CHECK_AS(ValueError, source_ != nullptr, "transformed: no source samples");
  shape_ = source_->sample_shape();
  for (const Transform& t : transforms_) {
    CT_CHECK_AS(ValueError, t.shape && t.apply, "transformed: transform '{}' is incomplete",
                t.name);
    shape_ = t.shape(shape_);
  }
}

void Transformed::read(HostBatch& batch) const {
  source_->read(batch);
  std::uint64_t stream = batch.stream;
  for (std::size_t k = 0; k < transforms_.size(); ++k) {
    batch.stream = stream + 16 * (k + 1);  // a block of streams per transform
    transforms_[k].apply(batch);
  }
  batch.stream = stream;
}

}  // namespace ct::data
