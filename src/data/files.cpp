#include "cotangent/data/files.hpp"

#include <curl/curl.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <utility>

#include "cotangent/core/error.hpp"

namespace ct::data {
namespace fs = std::filesystem;

fs::path cache_directory() { return user_cache_directory("datasets"); }

namespace {

/// Where a download's body goes, and how much of it is allowed.
struct Body {
  std::vector<std::uint8_t> bytes;
  std::uint64_t limit;
  bool too_long = false, out_of_memory = false;
};

size_t on_data(char* ptr, size_t size, size_t n, void* user) {
  auto* body = static_cast<Body*>(user);
  std::size_t count = size * n;
  // Returning less than was offered makes libcurl abort the transfer.
  if (body->bytes.size() + count > body->limit) {
    body->too_long = true;
    return 0;
  }
  try {
    body->bytes.insert(body->bytes.end(), ptr, ptr + count);
  } catch (const std::exception&) {  // nothing may unwind through libcurl
    body->out_of_memory = true;
    return 0;
  }
  return count;
}

struct ProgressContext {
  const std::function<void(std::uint64_t, std::uint64_t)>* progress;
};

int on_progress(void* user, curl_off_t total, curl_off_t done, curl_off_t, curl_off_t) {
  auto* ctx = static_cast<ProgressContext*>(user);
  if (*ctx->progress) (*ctx->progress)(std::uint64_t(done), std::uint64_t(total));
  return 0;
}

/// What is wrong with `bytes` as the contents of `file` (empty when nothing).
std::string verify(const RemoteFile& file, const std::vector<std::uint8_t>& bytes) {
  if (bytes.size() != file.size)
    return detail::format("size {} bytes, expected {} (truncated or wrong file)", bytes.size(),
                          file.size);
  std::string sum = sha256_hex(bytes.data(), bytes.size());
  if (sum != file.sha256)
    return detail::format("SHA-256 {} does not match the published {}", sum, file.sha256);
  return {};
}

/// The verified contents at `path` (or at `path`.gz), or nothing: with `fault` saying why when
/// a file is there but wrong, empty when there is none.
std::optional<std::vector<std::uint8_t>> try_local(const fs::path& path, const RemoteFile& file,
                                                   std::string& fault) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    fs::path gzipped = path.string() + ".gz";  // packaged copies may be compressed
    if (fs::exists(gzipped, ec)) return try_local(gzipped, file, fault);
    return std::nullopt;
  }
  try {
    // Bounded by the expected size: a corrupt or hostile file fails before filling memory.
    auto bytes = read_file(path, file.size);
    fault = verify(file, bytes);
    if (fault.empty()) return bytes;
    fault = path.string() + ": " + fault;
  } catch (const IOError& e) {
    fault = e.what();
  }
  return std::nullopt;
}

}  // namespace

std::vector<std::uint8_t> download(
    const std::string& url, long timeout_seconds,
    const std::function<void(std::uint64_t, std::uint64_t)>& progress, std::uint64_t limit) {
  static const bool initialized = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  CT_CHECK_AS(IOError, initialized, "download: libcurl could not be initialized");
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  CT_CHECK_AS(IOError, curl != nullptr, "download: libcurl could not be initialized");
  Body body{{}, limit};
  char error[CURL_ERROR_SIZE] = {};
  ProgressContext ctx{&progress};
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT, 15L);
  // A Content-Length past the limit is refused before any of the body is read.
  if (limit < std::uint64_t(LLONG_MAX))
    curl_easy_setopt(curl.get(), CURLOPT_MAXFILESIZE_LARGE, curl_off_t(limit));
  // A transfer slower than 1 KB/s for the timeout is stalled: give up rather than hang.
  curl_easy_setopt(curl.get(), CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(curl.get(), CURLOPT_LOW_SPEED_TIME, timeout_seconds);
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(curl.get(), CURLOPT_XFERINFODATA, &ctx);
  curl_easy_setopt(curl.get(), CURLOPT_NOPROGRESS, 0L);
  CURLcode code = curl_easy_perform(curl.get());
  // libcurl refuses an announced length over the limit, and (from 8.4) stops an unannounced
  // body at it; the write callback stops it otherwise: one message for all three.
  CT_CHECK_AS(IOError, code != CURLE_FILESIZE_EXCEEDED && !body.too_long,
              "{}: download stopped: the body is longer than the limit of {} bytes", url, limit);
  CT_CHECK_AS(IOError, !body.out_of_memory, "{}: download aborted: out of memory after {} bytes",
              url, body.bytes.size());
  if (code != CURLE_OK)
    throw IOError(
        detail::format("{}: download failed: {}", url, *error ? error : curl_easy_strerror(code)));
  return std::move(body.bytes);
}

std::vector<std::uint8_t> fetch(const std::string& dataset, const RemoteFile& file,
                                const FetchOptions& options) {
  std::vector<std::string> faults;
  std::string fault;
  fs::path directory = options.directory;
  if (directory.empty())
    if (const char* env = std::getenv("COTANGENT_DATA"); env && *env) directory = env;
  if (!directory.empty()) {
    if (auto bytes = try_local(directory / file.name, file, fault)) return *bytes;
    // The user pointed at this file: taking the cached copy instead would train on data they
    // did not choose, without a word. Only a file that is absent falls through to the cache.
    CT_CHECK_AS(IOError, fault.empty(),
                "{} ({}): the copy in the data directory {} is rejected: {}; replace or remove it",
                file.name, dataset, directory.string(), fault);
  }
  fs::path cached = cache_directory() / dataset / file.name;
  if (auto bytes = try_local(cached, file, fault)) return *bytes;
  if (!fault.empty()) faults.push_back(fault);
  if (options.download) {
    for (const auto& mirror : file.mirrors) {
      std::string url = mirror + file.name + file.remote_suffix;
      try {
        std::uint64_t last = 0;
        auto show = [&](std::uint64_t done, std::uint64_t total) {
          if (!options.progress || done - last < (1u << 20)) return;
          last = done;
          std::cerr << "\rdownloading " << file.name << ": " << done / 1024 << " KiB";
          if (total) std::cerr << " of " << total / 1024 << " KiB";
          std::cerr << std::flush;
        };
        // Either form of the file is at most its size plus gzip's framing: a mirror that sends
        // more (an endless body, a wrong file) is cut off rather than filling memory.
        auto bytes = download(url, options.timeout_seconds, show, gzip_size_bound(file.size));
        if (options.progress && last) std::cerr << "\n";
        if (bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b)
          bytes = gunzip(bytes, url, file.size);
        std::string fault = verify(file, bytes);
        if (!fault.empty()) {
          faults.push_back(url + ": " + fault);
          continue;
        }
        try {
          write_file_atomically(cached, bytes.data(), bytes.size());
        } catch (const IOError& e) {
          std::cerr << "warning: " << e.what() << " (continuing without the cache)\n";
        }
        return bytes;
      } catch (const IOError& e) {
        faults.push_back(e.what());
      }
    }
  }
  std::string message = detail::format("{} ({}): no valid copy found", file.name, dataset);
  if (faults.empty())
    message += detail::format("; not in {}{}", cached.parent_path().string(),
                              options.download ? " and no mirrors" : " and downloads are off");
  for (auto& f : faults) message += "\n  - " + f;
  throw IOError(message);
}

}  // namespace ct::data
