#include "nvrtc_compiler.hpp"

#include <nvrtc.h>

#include <atomic>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <memory>
#include <thread>

#include "cotangent/core/error.hpp"
#include "cotangent/core/files.hpp"

namespace ct::cuda {

namespace fs = std::filesystem;

namespace {

fs::path cache_directory() {
  if (const char* dir = std::getenv("CT_CACHE_DIR"); dir && *dir) return dir;
  return user_cache_directory("cuda");
}

void check(nvrtcResult result, const char* what) {
  CT_CHECK_AS(DeviceError, result == NVRTC_SUCCESS, "NVRTC: {} failed: {}", what,
              nvrtcGetErrorString(result));
}

std::vector<std::string> options(const std::string& arch) {
  // No fast math and no contraction into FMAs: elementwise results then round as the CPU's
  // (the kernels are memory-bound, so this costs nothing). Unannotated functions (the shared
  // .def helpers) are device code.
  return {"--gpu-architecture=" + arch,
          "--std=c++20",
          "-default-device",
          "--ftz=false",
          "--prec-div=true",
          "--prec-sqrt=true",
          "--fmad=false",
          "-w"};
}

std::vector<std::uint8_t> compile(const std::string& source, const std::string& arch,
                                  const fs::path& saved_source) {
  nvrtcProgram program;
  check(nvrtcCreateProgram(&program, source.c_str(), "cotangent_kernels.cu", 0, nullptr, nullptr),
        "nvrtcCreateProgram");
  std::unique_ptr<nvrtcProgram, void (*)(nvrtcProgram*)> owner(
      &program, [](nvrtcProgram* p) { nvrtcDestroyProgram(p); });
  std::vector<std::string> opts = options(arch);
  std::vector<const char*> argv;
  for (const std::string& o : opts) argv.push_back(o.c_str());
  nvrtcResult result = nvrtcCompileProgram(program, int(argv.size()), argv.data());
  if (result != NVRTC_SUCCESS) {
    std::size_t size = 0;
    nvrtcGetProgramLogSize(program, &size);
    std::string log(size, '\0');
    if (size) nvrtcGetProgramLog(program, log.data());
    std::error_code ec;
    fs::create_directories(saved_source.parent_path(), ec);
    try {
      write_file_atomically(saved_source, source.data(), source.size());
    } catch (const Error&) {
    }
    throw Error(
        detail::format("NVRTC could not compile the CUDA kernels for {} ({}); source "
                       "saved as {}:\n{}",
                       arch, nvrtcGetErrorString(result), saved_source.string(), log));
  }
  std::size_t size = 0;
  check(nvrtcGetCUBINSize(program, &size), "nvrtcGetCUBINSize");
  std::vector<std::uint8_t> cubin(size);
  check(nvrtcGetCUBIN(program, reinterpret_cast<char*>(cubin.data())), "nvrtcGetCUBIN");
  return cubin;
}

}  // namespace

std::vector<std::uint8_t> compile_cubin(const std::string& source, const std::string& arch) {
  int major = 0, minor = 0;
  check(nvrtcVersion(&major, &minor), "nvrtcVersion");
  std::string keyed =
      source + '\0' + arch + '\0' + std::to_string(major) + "." + std::to_string(minor);
  for (const std::string& o : options(arch)) keyed += '\0' + o;
  std::string key = sha256_hex(keyed.data(), keyed.size());
  fs::path dir = cache_directory();
  fs::path cubin_path = dir / (key + ".cubin"), sum_path = dir / (key + ".cubin.sha256");

  std::error_code ec;
  if (fs::exists(cubin_path, ec) && fs::exists(sum_path, ec)) {
    try {
      std::vector<std::uint8_t> cubin = read_bytes(cubin_path, 1ull << 30);
      std::vector<std::uint8_t> sum = read_bytes(sum_path, 128);
      if (std::string(sum.begin(), sum.end()) == sha256_hex(cubin.data(), cubin.size()))
        return cubin;
    } catch (const Error&) {
      // Unreadable: compile again and replace it.
    }
  }
  std::vector<std::uint8_t> cubin = compile(source, arch, dir / (key + ".cu"));
  fs::create_directories(dir, ec);
  try {
    // The cubin first: a reader that sees the new checksum finds the bytes it covers.
    write_file_atomically(cubin_path, cubin.data(), cubin.size());
    std::string sum = sha256_hex(cubin.data(), cubin.size());
    write_file_atomically(sum_path, sum.data(), sum.size());
  } catch (const IOError&) {
    // A read-only cache costs a compile per process, nothing else.
  }
  return cubin;
}

std::vector<std::vector<std::uint8_t>> compile_cubins(const std::vector<std::string>& sources,
                                                      const std::string& arch) {
  std::vector<std::vector<std::uint8_t>> cubins(sources.size());
  std::vector<std::exception_ptr> errors(sources.size());
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i; (i = next.fetch_add(1)) < sources.size();) {
      try {
        cubins[i] = compile_cubin(sources[i], arch);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    }
  };
  std::size_t threads =
      std::min<std::size_t>(sources.size(), std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  for (std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
  return cubins;
}

}  // namespace ct::cuda
