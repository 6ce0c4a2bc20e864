#pragma once
// The safetensors format (8-byte little-endian header length, a JSON header naming each
// tensor's dtype, shape and byte range, then the data): readable by the PyTorch and NumPy world.
// The reader validates every length, offset and size before using a byte of data, and the data
// against the SHA-256 this writer records in the metadata ("cotangent.data_sha256"), when a file
// has one.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "cotangent/core/tensor.hpp"

namespace ct::io {

/// A named tensor of a safetensors file.
struct NamedTensor {
  std::string name;
  AnyTensor tensor;
};

/// A parsed safetensors file: its tensors (on the CPU) and metadata; find(name) is null if absent.
struct Safetensors {
  std::vector<NamedTensor> tensors;             // in file order
  std::map<std::string, std::string> metadata;  // the "__metadata__" block
  const AnyTensor* find(const std::string& name) const;
};

/// Serializes to bytes (tensors are written contiguously, in the given order). The metadata gets
/// "cotangent.data_sha256", the checksum of the data section (replacing any given under that key).
std::vector<std::uint8_t> to_safetensors(const std::vector<NamedTensor>& tensors,
                                         const std::map<std::string, std::string>& metadata = {});
/// Parses and validates bytes; throws IOError naming `what` and the first problem found (a
/// "checksum mismatch" when the data does not match the recorded SHA-256).
Safetensors from_safetensors(const std::uint8_t* data, std::size_t size,
                             const std::string& what = "safetensors");

/// Writes atomically and durably: a temporary file, fsync, rename, fsync of the directory.
void save_safetensors(const std::filesystem::path& path, const std::vector<NamedTensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});
/// Reads and parses a file (as from_safetensors; the IOError names the path).
Safetensors load_safetensors(const std::filesystem::path& path);

}  // namespace ct::io
