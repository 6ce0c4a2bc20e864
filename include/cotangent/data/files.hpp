#pragma once
// Fetching a dataset's verified files from a directory, the cache or a list of mirrors (the
// file helpers they use are in core/files.hpp).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "cotangent/core/files.hpp"

namespace ct::data {

// The file helpers of core/files.hpp, by their names of before.
using ct::check_writable_directory;
using ct::gunzip;
using ct::gzip_size_bound;
using ct::kNoSizeLimit;
using ct::read_bytes;
using ct::read_file;
using ct::sha256_hex;
using ct::sweep_stale_temporaries;
using ct::write_file_atomically;

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

/// Where fetch may look for a dataset's files and how it downloads them.
struct FetchOptions {
  std::filesystem::path directory;  // checked first when set (else $COTANGENT_DATA, if set)
  bool download = true;             // allow the network
  bool progress = true;             // show a progress line on stderr while downloading
  long timeout_seconds = 60;        // per mirror, for a stalled transfer
};

/// The verified contents of `file`: from the named directory, else the cache (subfolder
/// `dataset`), else downloaded from the first mirror that serves the right bytes (then cached).
/// A file present in the named directory but rejected (wrong size or checksum, corrupt, a
/// directory) is an IOError saying why: the cache is not used in its place. Throws IOError
/// naming the file and each fault (missing, truncated, wrong checksum, mirror unreachable) when
/// no source works.
std::vector<std::uint8_t> fetch(const std::string& dataset, const RemoteFile& file,
                                const FetchOptions& options = {});

/// Downloads `url` into memory (HTTPS or HTTP, redirects followed); throws IOError with the
/// transfer's error. `progress(done, total)` is called as bytes arrive. A body longer than
/// `limit` bytes (announced or sent) aborts the transfer with IOError naming the URL and limit.
std::vector<std::uint8_t> download(
    const std::string& url, long timeout_seconds,
    const std::function<void(std::uint64_t, std::uint64_t)>& progress = {},
    std::uint64_t limit = kNoSizeLimit);

}  // namespace ct::data
