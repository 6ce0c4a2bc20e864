#include "cotangent/data/files.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <pwd.h>
#include <openssl/evp.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <random>

#include "cotangent/core/error.hpp"

namespace ct::data {
namespace fs = std::filesystem;

std::vector<std::uint8_t> gunzip(const std::vector<std::uint8_t>& bytes, const std::string& what) {
  z_stream s{};
  CT_CHECK_AS(IOError, inflateInit2(&s, 15 + 32) == Z_OK, "{}: cannot start gzip decompression",
              what);
  std::vector<std::uint8_t> out;
  s.next_in = const_cast<Bytef*>(bytes.data());
  s.avail_in = uInt(bytes.size());
  int status = Z_OK;
  std::uint8_t chunk[1 << 16];
  while (status != Z_STREAM_END) {
    s.next_out = chunk;
    s.avail_out = sizeof(chunk);
    status = inflate(&s, Z_NO_FLUSH);
    if (status != Z_OK && status != Z_STREAM_END) {
      inflateEnd(&s);
      throw IOError(
          detail::format("{}: corrupt gzip data ({})", what, s.msg ? s.msg : "inflate failed"));
    }
    out.insert(out.end(), chunk, chunk + (sizeof(chunk) - s.avail_out));
    if (status != Z_STREAM_END && s.avail_in == 0 && s.avail_out != 0) {
      inflateEnd(&s);
      throw IOError(detail::format("{}: gzip data is truncated", what));
    }
  }
  inflateEnd(&s);
  return out;
}

std::vector<std::uint8_t> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  CT_CHECK_AS(IOError, in.good(), "{}: cannot open the file", path.string());
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(in.tellg()));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(bytes.data()), std::streamsize(bytes.size()));
  CT_CHECK_AS(IOError, in.good() || bytes.empty(), "{}: read failed", path.string());
  return bytes;
}

std::vector<std::uint8_t> read_file(const fs::path& path) {
  std::vector<std::uint8_t> bytes = read_bytes(path);
  if (bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b)
    return gunzip(bytes, path.string());
  return bytes;
}

std::string sha256_hex(const void* data, std::size_t size) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  CT_CHECK_AS(IOError, EVP_Digest(data, size, digest, &length, EVP_sha256(), nullptr) == 1,
              "sha256: digest failed");
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < length; ++i) out += hex[digest[i] >> 4], out += hex[digest[i] & 15];
  return out;
}

void write_file_atomically(const fs::path& path, const void* data, std::size_t size) {
  fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::string tmp = (dir / ("." + path.filename().string() + ".tmp-XXXXXX")).string();
  int fd = mkstemp(tmp.data());
  CT_CHECK_AS(IOError, fd >= 0, "{}: cannot create a temporary file in {}", path.string(),
              dir.string());
  const char* p = static_cast<const char*>(data);
  std::size_t left = size;
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      ::close(fd);
      ::unlink(tmp.c_str());
      throw IOError(detail::format("{}: write failed", path.string()));
    }
    p += n;
    left -= std::size_t(n);
  }
  bool ok = ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    throw IOError(detail::format("{}: could not be written and renamed into place", path.string()));
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);  // the rename itself is durable only once the directory is synced
    ::close(dfd);
  }
}

fs::path cache_directory() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return fs::path(xdg) / "cotangent" / "datasets";
  const char* home = std::getenv("HOME");
  if (!home || !*home)
    if (const passwd* user = getpwuid(getuid()))
      home = user->pw_dir;  // the same fallback as setup.sh
  return fs::path(home && *home ? home : ".") / ".cache" / "cotangent" / "datasets";
}

namespace {

size_t on_data(char* ptr, size_t size, size_t n, void* user) {
  auto* out = static_cast<std::vector<std::uint8_t>*>(user);
  out->insert(out->end(), ptr, ptr + size * n);
  return size * n;
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

/// The verified contents at `path`, or nothing (with the reason appended to `faults`).
std::optional<std::vector<std::uint8_t>> try_local(const fs::path& path, const RemoteFile& file,
                                                   std::vector<std::string>& faults) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    fs::path gzipped = path.string() + ".gz";  // packaged copies may be compressed
    if (fs::exists(gzipped, ec)) return try_local(gzipped, file, faults);
    return std::nullopt;
  }
  try {
    auto bytes = read_file(path);
    std::string fault = verify(file, bytes);
    if (fault.empty()) return bytes;
    faults.push_back(path.string() + ": " + fault);
  } catch (const IOError& e) {
    faults.push_back(e.what());
  }
  return std::nullopt;
}

}  // namespace

std::vector<std::uint8_t> download(
    const std::string& url, long timeout_seconds,
    const std::function<void(std::uint64_t, std::uint64_t)>& progress) {
  static const bool initialized = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  CT_CHECK_AS(IOError, initialized, "download: libcurl could not be initialized");
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  CT_CHECK_AS(IOError, curl != nullptr, "download: libcurl could not be initialized");
  std::vector<std::uint8_t> body;
  char error[CURL_ERROR_SIZE] = {};
  ProgressContext ctx{&progress};
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT, 15L);
  // A transfer slower than 1 KB/s for the timeout is stalled: give up rather than hang.
  curl_easy_setopt(curl.get(), CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(curl.get(), CURLOPT_LOW_SPEED_TIME, timeout_seconds);
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(curl.get(), CURLOPT_XFERINFODATA, &ctx);
  curl_easy_setopt(curl.get(), CURLOPT_NOPROGRESS, 0L);
  CURLcode code = curl_easy_perform(curl.get());
  if (code != CURLE_OK)
    throw IOError(
        detail::format("{}: download failed: {}", url, *error ? error : curl_easy_strerror(code)));
  return body;
}

std::vector<std::uint8_t> fetch(const std::string& dataset, const RemoteFile& file,
                                const FetchOptions& options) {
  std::vector<std::string> faults;
  fs::path directory = options.directory;
  if (directory.empty())
    if (const char* env = std::getenv("COTANGENT_DATA"); env && *env) directory = env;
  if (!directory.empty())
    if (auto bytes = try_local(directory / file.name, file, faults)) return *bytes;
  fs::path cached = cache_directory() / dataset / file.name;
  if (auto bytes = try_local(cached, file, faults)) return *bytes;
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
        auto bytes = download(url, options.timeout_seconds, show);
        if (options.progress && last) std::cerr << "\n";
        if (bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b) bytes = gunzip(bytes, url);
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
