#pragma once
// Files for datasets: reading (raw or gzip), SHA-256, atomic writes, and fetching a verified file
// from a directory, the cache or a list of mirrors.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace ct::data {

/// The whole file as it is on disk.
std::vector<std::uint8_t> read_bytes(const std::filesystem::path& path);
/// The whole file, decompressed when it is gzip (by its magic bytes, not its name).
std::vector<std::uint8_t> read_file(const std::filesystem::path& path);
/// Decompresses gzip bytes; throws IOError naming `what` if they are truncated or corrupt.
std::vector<std::uint8_t> gunzip(const std::vector<std::uint8_t>& bytes, const std::string& what);
/// Lower-case hex SHA-256.
std::string sha256_hex(const void* data, std::size_t size);
/// Writes to a temporary file in the same directory, syncs it, renames it over `path`, and
/// syncs the directory: readers see the old file or the new one, never a torn one.
void write_file_atomically(const std::filesystem::path& path, const void* data, std::size_t size);

/// A file a dataset needs: its name, where to download it (each mirror + name, optionally gzip
/// compressed), and the size and SHA-256 of its decompressed contents.
struct RemoteFile {
  std::string name;                  // e.g. "train-images-idx3-ubyte"
  std::vector<std::string> mirrors;  // base URLs, tried in order
  std::string remote_suffix;         // appended to the name on the mirror, e.g. ".gz"
  std::uint64_t size = 0;
  std::string sha256;
};

/// Where datasets are cached: $XDG_CACHE_HOME/cotangent/datasets (or ~/.cache/…).
std::filesystem::path cache_directory();

struct FetchOptions {
  std::filesystem::path directory;  // checked first when set (else $COTANGENT_DATA, if set)
  bool download = true;             // allow the network
  bool progress = true;             // show a progress line on stderr while downloading
  long timeout_seconds = 60;        // per mirror, for a stalled transfer
};

/// The verified contents of `file`: from the named directory, else the cache (subfolder
/// `dataset`), else downloaded from the first mirror that serves the right bytes (then cached).
/// Throws IOError naming the file and each fault (missing, truncated, wrong checksum, mirror
/// unreachable) when no source works.
std::vector<std::uint8_t> fetch(const std::string& dataset, const RemoteFile& file,
                                const FetchOptions& options = {});

/// Downloads `url` into memory (HTTPS or HTTP, redirects followed); throws IOError with the
/// transfer's error. `progress(done, total)` is called as bytes arrive.
std::vector<std::uint8_t> download(
    const std::string& url, long timeout_seconds,
    const std::function<void(std::uint64_t, std::uint64_t)>& progress = {});

}  // namespace ct::data
