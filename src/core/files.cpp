// Files on disk: bounded reads (raw or gzip), SHA-256, and atomic writes whose temporaries a
// killed writer leaves are swept. Datasets, checkpoints and the lazy device's program cache use
// them.
#include "cotangent/core/files.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <utility>

#include "cotangent/core/error.hpp"

namespace ct {
namespace fs = std::filesystem;

namespace {

std::string reason(int error = errno) { return std::strerror(error); }

/// Closes a file descriptor however the scope is left.
struct Descriptor {
  int fd;
  explicit Descriptor(int fd) : fd(fd) {}
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  ~Descriptor() {
    if (fd >= 0) ::close(fd);
  }
};

/// Opens `path` for reading and returns it with its status; a directory is an error here rather
/// than a read of nonsense sizes.
Descriptor open_for_reading(const fs::path& path, struct stat& status) {
  Descriptor file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  CT_CHECK_AS(IOError, file.fd >= 0, "{}: cannot open the file: {}", path.string(), reason());
  CT_CHECK_AS(IOError, ::fstat(file.fd, &status) == 0, "{}: cannot read the file's status: {}",
              path.string(), reason());
  CT_CHECK_AS(IOError, !S_ISDIR(status.st_mode), "{}: is a directory, not a file", path.string());
  return Descriptor(std::exchange(file.fd, -1));
}

/// Appends `n` bytes to `out`, turning an allocation failure into an IOError naming `what`.
void append(std::vector<std::uint8_t>& out, const std::uint8_t* data, std::size_t n,
            const std::string& what) {
  try {
    out.insert(out.end(), data, data + n);
  } catch (const std::bad_alloc&) {
    throw IOError(detail::format("{}: out of memory holding {} bytes", what, out.size() + n));
  } catch (const std::length_error&) {
    throw IOError(detail::format("{}: {} bytes is too large to hold", what, out.size() + n));
  }
}

/// Everything left to read from `file`, at most `limit` bytes (IOError past that). `gzip` says
/// the limit is what gzip needs for the size expected, for the message.
std::vector<std::uint8_t> read_all(const Descriptor& file, const struct stat& status,
                                   const fs::path& path, std::uint64_t limit, bool gzip = false) {
  std::vector<std::uint8_t> bytes;
  if (S_ISREG(status.st_mode)) {
    auto size = std::uint64_t(status.st_size);
    CT_CHECK_AS(IOError, size <= limit, "{}: {} bytes is more than {} {}", path.string(), size,
                gzip ? "gzip needs for the size expected, at most" : "the expected", limit);
    try {
      bytes.reserve(std::size_t(size));
    } catch (const std::exception&) {  // bad_alloc, or length_error past max_size
      throw IOError(detail::format("{}: out of memory reading its {} bytes", path.string(), size));
    }
  }
  // Read to the end rather than to the size seen: pipes and devices have none, and the limit
  // bounds an endless one such as /dev/zero.
  std::uint8_t chunk[1 << 16];
  while (true) {
    ssize_t n = ::read(file.fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    CT_CHECK_AS(IOError, n >= 0, "{}: read failed: {}", path.string(), reason());
    if (n == 0) return bytes;
    CT_CHECK_AS(IOError, bytes.size() + std::uint64_t(n) <= limit,
                "{}: holds more than the {} bytes expected", path.string(), limit);
    append(bytes, chunk, std::size_t(n), path.string());
  }
}

}  // namespace

std::uint64_t gzip_size_bound(std::uint64_t size) {
  // Incompressible data is stored in blocks of at most 64 KiB with 5 bytes of framing each; a
  // header with a file name or comment adds a little more. A generous margin costs nothing.
  std::uint64_t slack = size / 8 + (1 << 17);
  return size > kNoSizeLimit - slack ? kNoSizeLimit : size + slack;
}

std::vector<std::uint8_t> gunzip(const std::vector<std::uint8_t>& bytes, const std::string& what,
                                 std::uint64_t limit) {
  z_stream s{};
  CT_CHECK_AS(IOError, inflateInit2(&s, 15 + 32) == Z_OK, "{}: cannot start gzip decompression",
              what);
  std::unique_ptr<z_stream, int (*)(z_stream*)> end_inflate(&s, inflateEnd);
  std::vector<std::uint8_t> out;
  const std::uint8_t* next = bytes.data();
  std::size_t left = bytes.size();
  int status = Z_OK;
  std::uint8_t chunk[1 << 16];
  while (status != Z_STREAM_END) {
    if (s.avail_in == 0 && left > 0) {  // zlib counts input in 32 bits: feed it in slices
      s.next_in = const_cast<Bytef*>(next);
      s.avail_in = uInt(std::min<std::size_t>(left, UINT_MAX));
      next += s.avail_in;
      left -= s.avail_in;
    }
    s.next_out = chunk;
    s.avail_out = sizeof(chunk);
    status = inflate(&s, Z_NO_FLUSH);
    // No input left and no progress possible: the data ended mid-stream.
    CT_CHECK_AS(IOError, status != Z_BUF_ERROR || s.avail_in != 0 || left != 0,
                "{}: gzip data is truncated", what);
    if (status != Z_OK && status != Z_STREAM_END)
      throw IOError(
          detail::format("{}: corrupt gzip data ({})", what, s.msg ? s.msg : "inflate failed"));
    std::size_t produced = sizeof(chunk) - s.avail_out;
    // Checked per chunk: a few hundred KB of gzip can inflate to gigabytes.
    CT_CHECK_AS(IOError, out.size() + produced <= limit,
                "{}: gzip data inflates past {} bytes, more than the file can hold", what, limit);
    append(out, chunk, produced, what);
    if (status != Z_STREAM_END && s.avail_in == 0 && left == 0 && s.avail_out != 0)
      throw IOError(detail::format("{}: gzip data is truncated", what));
  }
  return out;
}

std::vector<std::uint8_t> read_bytes(const fs::path& path, std::uint64_t limit) {
  struct stat status;
  Descriptor file = open_for_reading(path, status);
  return read_all(file, status, path, limit);
}

std::vector<std::uint8_t> read_file(const fs::path& path, std::uint64_t limit) {
  struct stat status;
  Descriptor file = open_for_reading(path, status);
  // The first two bytes say whether the size limit applies to the file or to what it inflates to.
  std::uint8_t magic[2] = {};
  bool gzip = S_ISREG(status.st_mode) && ::pread(file.fd, magic, 2, 0) == 2 && magic[0] == 0x1f &&
              magic[1] == 0x8b;
  std::vector<std::uint8_t> bytes =
      read_all(file, status, path, gzip ? gzip_size_bound(limit) : limit, gzip);
  if (bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b)
    return gunzip(bytes, path.string(), limit);
  return bytes;  // read_all held it to `limit`
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

namespace {

constexpr const char* kTemporaryInfix = ".tmp.";

/// The writer's pid in a name made by temporary_name, or nothing for any other name.
std::optional<pid_t> temporary_writer(const std::string& name) {
  std::size_t dot = name.rfind('.');
  if (name.empty() || name[0] != '.' || dot == std::string::npos || dot + 1 == name.size())
    return std::nullopt;
  for (std::size_t i = dot + 1; i < name.size(); ++i)
    if (!std::isxdigit(static_cast<unsigned char>(name[i]))) return std::nullopt;
  std::size_t pid_start = name.rfind('.', dot - 1);
  if (pid_start == std::string::npos || pid_start + 1 == dot) return std::nullopt;
  std::string infix = kTemporaryInfix;
  std::size_t infix_start = pid_start + 1 - infix.size();
  if (pid_start + 1 < infix.size() + 2 || name.compare(infix_start, infix.size(), infix) != 0)
    return std::nullopt;
  long long pid = 0;
  for (std::size_t i = pid_start + 1; i < dot; ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    pid = pid * 10 + (name[i] - '0');
    if (pid > INT_MAX) return std::nullopt;
  }
  if (pid <= 0) return std::nullopt;  // kill() reads 0 and -1 as groups, never as one writer
  return pid_t(pid);
}

/// Sweeps `directory` the first time this process writes there: once is enough, since this
/// process's own writers are alive for as long as it is.
void sweep_once(const fs::path& directory) {
  static std::mutex mutex;
  static std::set<std::string> swept;
  std::error_code ec;
  fs::path key = fs::canonical(directory, ec);
  {
    std::lock_guard lock(mutex);
    if (!swept.insert((ec ? directory : key).string()).second) return;
  }
  try {
    sweep_stale_temporaries(directory);
  } catch (const IOError&) {  // tidying up is no reason to fail the write itself
  }
}

}  // namespace

std::string temporary_name(const std::string& name) {
  thread_local std::mt19937_64 random(std::random_device{}());
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, "%ld.%08x", long(::getpid()), unsigned(random()));
  // Room for the suffix within the usual 255-byte limit on a file name.
  return "." + name.substr(0, 200) + kTemporaryInfix + suffix;
}

/// How old a dead writer's temporary must be before it is swept.
constexpr std::chrono::hours kStaleAfter{1};

std::size_t sweep_stale_temporaries(const fs::path& directory) {
  std::error_code ec;
  fs::directory_iterator it(directory, ec);
  CT_CHECK_AS(IOError, !ec, "{}: cannot list the directory: {}", directory.string(), ec.message());
  std::size_t removed = 0;
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::optional<pid_t> writer = temporary_writer(it->path().filename().string());
    if (!writer) continue;
    // EPERM means the process exists under another user: alive.
    if (::kill(*writer, 0) == 0 || errno != ESRCH) continue;
    std::error_code type_error;
    if (!it->is_regular_file(type_error) || it->is_symlink(type_error)) continue;
    // A pid is only known dead in this host's and namespace's terms: a writer in a container or
    // on another machine sharing the directory looks dead too, so recent files are spared.
    auto written = fs::last_write_time(it->path(), type_error);
    if (type_error || fs::file_time_type::clock::now() - written < kStaleAfter) continue;
    if (::unlink(it->path().c_str()) == 0) ++removed;
  }
  return removed;
}

void check_writable_directory(const fs::path& directory) {
  std::error_code ec;
  CT_CHECK_AS(IOError, !fs::exists(directory, ec) || fs::is_directory(directory, ec),
              "{}: is a file, not a directory", directory.string());
  fs::create_directories(directory, ec);
  CT_CHECK_AS(IOError, !ec, "{}: cannot create the directory: {}", directory.string(),
              ec.message());
  // Named like a temporary, so a probe left by a killed process is swept like one.
  std::string probe = (directory / temporary_name("write-probe")).string();
  Descriptor file(::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666));
  CT_CHECK_AS(IOError, file.fd >= 0, "{}: cannot write files there: {}", directory.string(),
              reason());
  bool written = ::write(file.fd, "probe\n", 6) == 6;
  int error = errno;
  ::unlink(probe.c_str());
  CT_CHECK_AS(IOError, written, "{}: cannot write files there: {}", directory.string(),
              reason(error));
}

void write_file_atomically(const fs::path& path, const void* data, std::size_t size) {
  fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  std::error_code ec;
  fs::create_directories(dir, ec);
  CT_CHECK_AS(IOError, !ec, "{}: cannot create the directory {}: {}", path.string(), dir.string(),
              ec.message());
  sweep_once(dir);
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; fd < 0; ++attempt) {
    tmp = (dir / temporary_name(path.filename().string())).string();
    // Mode 0666 lets the umask decide, as for any file the user's programs create.
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    CT_CHECK_AS(IOError, fd >= 0 || (errno == EEXIST && attempt < 100),
                "{}: cannot create a file in {}: {}", path.string(), dir.string(), reason());
  }
  auto fail = [&](const char* step) {
    int error = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    throw IOError(detail::format("{}: {}: {}", path.string(), step, reason(error)));
  };
  // Replacing a file keeps its permissions, as rewriting it in place would.
  struct stat existing;
  if (::stat(path.c_str(), &existing) == 0 && S_ISREG(existing.st_mode) &&
      ::fchmod(fd, existing.st_mode & 07777) != 0)
    fail("cannot keep the permissions of the file it replaces");
  const char* p = static_cast<const char*>(data);
  std::size_t left = size;
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("write failed");
    p += n;
    left -= std::size_t(n);
  }
  if (::fsync(fd) != 0) fail("cannot sync the file to disk");
  if (::close(fd) != 0) {
    int error = errno;
    ::unlink(tmp.c_str());
    throw IOError(detail::format("{}: write failed: {}", path.string(), reason(error)));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int error = errno;
    ::unlink(tmp.c_str());
    throw IOError(detail::format("{}: cannot rename the new file into place: {}", path.string(),
                                 reason(error)));
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);  // the rename itself is durable only once the directory is synced
    ::close(dfd);
  }
}

fs::path user_cache_directory(std::string_view subfolder) {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return fs::path(xdg) / "cotangent" / subfolder;
  const char* home = std::getenv("HOME");
  if (!home || !*home)
    if (const passwd* user = getpwuid(getuid()))
      home = user->pw_dir;  // the same fallback as setup.sh
  return fs::path(home && *home ? home : ".") / ".cache" / "cotangent" / subfolder;
}

}  // namespace ct
