#include "compiler.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <vector>

#include "cotangent/core/error.hpp"
#include "cotangent/core/files.hpp"

extern char** environ;

namespace ct::lazy {
namespace fs = std::filesystem;

namespace {
/// Bumped whenever the printer changes what a given source means.
constexpr const char* kCodegenVersion = "cotangent lazy codegen 1";

std::string compiler() {
  if (const char* cxx = std::getenv("CT_LAZY_CXX"); cxx && *cxx) return cxx;
#ifdef COTANGENT_LAZY_CXX
  return COTANGENT_LAZY_CXX;
#else
  return "c++";
#endif
}

std::vector<std::string> flags() {
  // The eager kernels' floating-point flags, and never -ffast-math: lazy results then differ
  // from eager ones only by contraction and summation order.
  std::vector<std::string> f = {"-std=c++20", "-O3", "-fno-math-errno", "-fopenmp", "-fPIC",
                                "-shared",    "-w"};
#ifdef COTANGENT_LAZY_NATIVE
  f.push_back("-march=native");
#endif
  return f;
}

struct ProcessResult {
  bool started = false;
  int status = -1;
  std::string output;
};

/// Runs `argv` with its output in `log`, waits, and returns its status and output.
ProcessResult run_process(const std::vector<std::string>& argv, const fs::path& log) {
  ProcessResult result;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // The compiler takes Ctrl-C as a shell's child would, whatever this thread blocks or ignores
  // (train::StopSignals blocks SIGINT and SIGTERM in every thread of the library).
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  int error = posix_spawnp(&pid, args[0], &actions, &attributes, args.data(), environ);
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  if (error == 0) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    result.started = true;
    // posix_spawnp reports a missing program as exit 127 on some C libraries.
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (result.status == 127) result.started = false;
  }
  std::ifstream in(log);
  std::ostringstream text;
  text << in.rdbuf();
  result.output = text.str();
  std::error_code ec;
  fs::remove(log, ec);
  return result;
}

/// The compiler's first line of --version: part of the cache key. Empty when none runs. Asked
/// once per compiler name (CT_LAZY_CXX may change between graphs).
std::string compiler_identity() {
  static std::mutex mutex;
  static std::map<std::string, std::string> known;
  std::string cxx = compiler();
  std::lock_guard lock(mutex);
  if (auto it = known.find(cxx); it != known.end()) return it->second;
  fs::path log = fs::temp_directory_path() / temporary_name("cotangent-cxx-version");
  ProcessResult r = run_process({cxx, "--version"}, log);
  std::string identity =
      r.started && r.status == 0 ? r.output.substr(0, r.output.find('\n')) : std::string();
  return known[cxx] = identity;
}

/// The CPU model and feature flags: -march=native code is only valid on the same kind of CPU.
const std::string& cpu_identity() {
  static const std::string identity = [] {
    std::ifstream in("/proc/cpuinfo");
    std::string line, model, features;
    while (std::getline(in, line) && (model.empty() || features.empty())) {
      if (model.empty() && line.starts_with("model name")) model = line;
      if (features.empty() && line.starts_with("flags")) features = line;
    }
    return model + "\n" + features;
  }();
  return identity;
}

/// The cached library when its bytes match the checksum written beside it; else nothing.
std::shared_ptr<Library> load_verified(const fs::path& so, const fs::path& sum) {
  std::error_code ec;
  if (!fs::exists(so, ec) || !fs::exists(sum, ec)) return nullptr;
  try {
    std::vector<std::uint8_t> bytes = read_bytes(so, 1ull << 30);
    std::vector<std::uint8_t> expected = read_bytes(sum, 256);
    std::string digest = sha256_hex(bytes.data(), bytes.size());
    if (std::string(expected.begin(), expected.end()) != digest + "\n") return nullptr;
  } catch (const IOError&) {
    return nullptr;
  }
  void* handle = ::dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
  return handle ? std::make_shared<Library>(handle) : nullptr;
}

/// An exclusive lock on a file, so that two processes compiling one program do it once.
class FileLock {
 public:
  explicit FileLock(const fs::path& path)
      : fd_(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666)) {
    CT_CHECK_AS(IOError, fd_ >= 0, "{}: cannot open the lock file: {}", path.string(),
                std::strerror(errno));
    while (::flock(fd_, LOCK_EX) != 0)
      CT_CHECK_AS(IOError, errno == EINTR, "{}: cannot lock: {}", path.string(),
                  std::strerror(errno));
  }
  ~FileLock() { ::close(fd_); }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_;
};
}  // namespace

Library::~Library() { ::dlclose(handle_); }

void* Library::symbol(const std::string& name) const {
  void* f = ::dlsym(handle_, name.c_str());
  CT_CHECK(f != nullptr, "lazy device: the compiled program has no {} (an internal error)", name);
  return f;
}

bool compiler_available() { return !compiler_identity().empty(); }

fs::path program_cache_directory() {
  if (const char* dir = std::getenv("CT_CACHE_DIR"); dir && *dir) return dir;
  return user_cache_directory("lazy");
}

Compiled compile_cached(const std::string& source) {
  fs::path dir = program_cache_directory();
  std::error_code ec;
  fs::create_directories(dir, ec);
  CT_CHECK_AS(IOError, !ec, "{}: cannot create the lazy device's program cache: {}", dir.string(),
              ec.message());
  std::string keyed = source;
  for (const std::string& part :
       {compiler_identity(), cpu_identity(), std::string(kCodegenVersion)})
    keyed += '\0' + part;
  for (const std::string& f : flags()) keyed += '\0' + f;
  std::string key = sha256_hex(keyed.data(), keyed.size());
  fs::path so = dir / (key + ".so"), sum = dir / (key + ".so.sha256"), cpp = dir / (key + ".cpp");

  if (auto library = load_verified(so, sum)) return {library, cpp.string(), false};
  FileLock lock(dir / (key + ".lock"));
  if (auto library = load_verified(so, sum)) return {library, cpp.string(), false};

  write_file_atomically(cpp, source.data(), source.size());
  fs::path output = dir / temporary_name(key + ".so");
  std::vector<std::string> argv = {compiler()};
  for (const std::string& f : flags()) argv.push_back(f);
  for (const std::string& a :
       {cpp.string(), std::string("-o"), output.string(), std::string("-lm")})
    argv.push_back(a);
  ProcessResult r = run_process(argv, dir / temporary_name(key + ".log"));
  if (!r.started || r.status != 0) {
    fs::remove(output, ec);
    std::string quoted;
    std::istringstream lines(r.output);
    std::string line;
    for (int i = 0; i < 20 && std::getline(lines, line); ++i) quoted += "\n  " + line;
    throw Error(detail::format(
        "lazy device: the C++ compiler '{}' {} on the generated program saved at {}{}", compiler(),
        r.started ? detail::format("failed (exit {})", r.status) : "could not be run", cpp.string(),
        quoted));
  }
  std::vector<std::uint8_t> bytes = read_bytes(output);
  std::string digest = sha256_hex(bytes.data(), bytes.size()) + "\n";
  if (std::rename(output.c_str(), so.c_str()) != 0) {
    int error = errno;
    fs::remove(output, ec);
    throw IOError(detail::format("{}: cannot move the compiled program into place: {}", so.string(),
                                 std::strerror(error)));
  }
  write_file_atomically(sum, digest.data(), digest.size());
  auto library = load_verified(so, sum);
  CT_CHECK_AS(IOError, library != nullptr, "{}: the compiled program does not load: {}",
              so.string(), ::dlerror() ? ::dlerror() : "its checksum does not match");
  return {library, cpp.string(), true};
}

}  // namespace ct::lazy
