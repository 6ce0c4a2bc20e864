// libFuzzer target for the safetensors loader: any bytes must parse or throw IOError, never
// crash, hang or read out of bounds (built with AddressSanitizer and UBSan).
//   cmake -S . -B build-fuzz -DCOTANGENT_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ && cmake --build
//   build-fuzz build-fuzz/fuzz/safetensors_fuzz -max_total_time=60 fuzz/corpus
#include <cotangent/io/safetensors.hpp>

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    auto file = ct::io::from_safetensors(data, size, "fuzz");
    for (auto& t : file.tensors) (void)t.tensor.scalar_count();
  } catch (const ct::IOError&) {
  }
  return 0;
}
