#pragma once
// Compiling generated C++ with the system compiler into a shared library, cached on disk by a
// SHA-256 of the source, the compiler's identity, the flags and the CPU (PyTorch Inductor's
// codecache does the same). Entries are written under a lock with an atomic rename, and each
// is loaded only after its checksum matches: a corrupt or truncated entry is rebuilt.
#include <filesystem>
#include <memory>
#include <string>

namespace ct::lazy {

/// A loaded shared library; unloaded when the last program using it goes.
class Library {
 public:
  explicit Library(void* handle) : handle_(handle) {}
  ~Library();
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;
  void* symbol(const std::string& name) const;

 private:
  void* handle_;
};

struct Compiled {
  std::shared_ptr<Library> library;
  std::string source_path;  // the saved source, for error messages and dumps
  bool ran_compiler = false;
};

/// Whether a C++ compiler runs (CT_LAZY_CXX, else the one the library was built with, else
/// c++). Without one the lazy device runs its graphs node by node on the eager kernels.
bool compiler_available();
/// The directory of compiled programs: CT_CACHE_DIR, else the user's cache dir + "lazy".
std::filesystem::path program_cache_directory();
/// The library for `source`, from the disk cache or freshly compiled. A compiler error is an
/// Error naming the saved source and quoting the compiler.
Compiled compile_cached(const std::string& source);

}  // namespace ct::lazy
