#pragma once
// NumPy's .npy format (versions 1 to 3): how most data leaves Python. A header (magic, version,
// a Python dict literal naming dtype, order and shape) then the values. The reader checks the
// header and that the data is exactly the size it promises before using a byte of it.
//
//   AnyTensor x = io::read_npy("features.npy");  // e.g. float64 [1000, 20]
//   io::write_npy("predictions.npy", logits);
#include <filesystem>
#include <string>
#include <vector>

#include "cotangent/core/tensor.hpp"

namespace ct::io {

/// Parses .npy bytes into a CPU tensor. Reads booleans, signed and unsigned integers of 1 to 8
/// bytes and 4- or 8-byte floats, in either byte order and C or Fortran order. Types are widened
/// to the nearest that cotangent holds: int8, int16, uint8 and uint16 to int32; uint32 to int64.
/// IOError naming `what` for anything else: a bad magic number or header, a structured or
/// object dtype, float16, a uint64 past int64's range, or data shorter or longer than the header
/// promises.
AnyTensor parse_npy(const std::vector<std::uint8_t>& bytes, const std::string& what = "npy");
/// The .npy bytes of `x` (version 1.0, C order, little-endian), readable by numpy.load.
std::vector<std::uint8_t> encode_npy(const AnyTensor& x);

/// Reads and parses a .npy file (IOError naming the path on failure).
AnyTensor read_npy(const std::filesystem::path& path);
/// Writes a .npy file atomically (see write_file_atomically).
void write_npy(const std::filesystem::path& path, const AnyTensor& x);

}  // namespace ct::io
