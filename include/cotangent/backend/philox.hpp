#pragma once
// Counter-based random numbers (Philox4x32-10, Salmon et al., SC'11): value i of a draw depends
// only on {seed, counter + i/k}, so every backend draws the same bits in any order, and
// advancing a generator reads nothing from a device.
#include <array>
#include <cmath>
#include <cstdint>

namespace ct {

/// Where a draw starts: the key and the first 64-bit counter it owns.
struct Philox {
  std::uint64_t seed = 0;
  std::uint64_t counter = 0;
};

/// What a random draw samples: uniform in [0, 1) or standard normal (Box-Muller).
enum class Distribution : std::uint8_t { uniform, normal };

namespace philox {

/// One Philox4x32-10 block: the 128-bit counter `c` encrypted under the 64-bit key `k`.
inline std::array<std::uint32_t, 4> block(std::array<std::uint32_t, 4> c,
                                          std::array<std::uint32_t, 2> k) {
  constexpr std::uint32_t kMul0 = 0xD2511F53, kMul1 = 0xCD9E8D57;
  constexpr std::uint32_t kWeyl0 = 0x9E3779B9, kWeyl1 = 0xBB67AE85;
  for (int round = 0; round < 10; ++round) {
    std::uint64_t p0 = std::uint64_t(kMul0) * c[0], p1 = std::uint64_t(kMul1) * c[2];
    c = {std::uint32_t(p1 >> 32) ^ c[1] ^ k[0], std::uint32_t(p1),
         std::uint32_t(p0 >> 32) ^ c[3] ^ k[1], std::uint32_t(p0)};
    k[0] += kWeyl0, k[1] += kWeyl1;
  }
  return c;
}

/// The words at 64-bit `counter` of `stream` under `seed`.
inline std::array<std::uint32_t, 4> block(std::uint64_t seed, std::uint64_t counter,
                                          std::uint32_t stream = 0) {
  return block({std::uint32_t(counter), std::uint32_t(counter >> 32), stream, 0},
               {std::uint32_t(seed), std::uint32_t(seed >> 32)});
}

/// How many values of a draw one counter gives: four float uniforms (24 bits each), else two
/// (53-bit uniforms, or normals from two such uniforms).
inline std::uint64_t values_per_counter(Distribution distribution, bool is_double) {
  return distribution == Distribution::uniform && !is_double ? 4 : 2;
}

/// Counters a draw of n values reserves.
inline std::uint64_t counters_for(Distribution distribution, std::uint64_t n, bool is_double) {
  std::uint64_t per = values_per_counter(distribution, is_double);
  return (n + per - 1) / per;
}

/// Uniform in [0, 1): 24 random bits for float, 53 for double.
inline float uniform_float(std::uint32_t word) { return float(word >> 8) * 0x1.0p-24f; }
/// Uniform in [0, 1) for double, from the top 53 bits of two words.
inline double uniform_double(std::uint32_t hi, std::uint32_t lo) {
  return double(((std::uint64_t(hi) << 32) | lo) >> 11) * 0x1.0p-53;
}

/// Value j of one counter, from its block w (stream 0) and, for normals, v (stream 1).
template <class T>
T value_in_block(Distribution distribution, const std::array<std::uint32_t, 4>& w,
                 const std::array<std::uint32_t, 4>& v, std::uint64_t j) {
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  if (distribution == Distribution::uniform && sizeof(T) == 4) return T(uniform_float(w[j]));
  double u = uniform_double(w[2 * j], w[2 * j + 1]);
  if (distribution == Distribution::uniform) return T(u);
  // Box-Muller; 1 - u keeps the logarithm finite.
  return T(std::sqrt(-2.0 * std::log(1.0 - u)) *
           std::cos(kTwoPi * uniform_double(v[2 * j], v[2 * j + 1])));
}

/// Values [0, n) of a draw at `at` into `out`, one block per counter.
template <class T>
void fill(Distribution distribution, Philox at, T* out, std::uint64_t n) {
  std::uint64_t per = values_per_counter(distribution, sizeof(T) == 8);
  std::array<std::uint32_t, 4> v{};
  for (std::uint64_t c = 0; c * per < n; ++c) {
    auto w = block(at.seed, at.counter + c);
    if (distribution == Distribution::normal) v = block(at.seed, at.counter + c, 1);
    for (std::uint64_t j = 0; j < per && c * per + j < n; ++j)
      out[c * per + j] = value_in_block<T>(distribution, w, v, j);
  }
}

/// Value i of a draw at `at`: what fill writes at out[i].
template <class T>
T value(Distribution distribution, Philox at, std::uint64_t i) {
  std::uint64_t per = values_per_counter(distribution, sizeof(T) == 8);
  Philox from{at.seed, at.counter + i / per};
  T out[4];
  fill<T>(distribution, from, out, i % per + 1);
  return out[i % per];
}

}  // namespace philox
}  // namespace ct
