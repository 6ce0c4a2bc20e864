#pragma once
// The examples' arguments: [EPOCHS] [--device cpu|lazy|cuda]. EPOCHS is a whole number from 1 up;
// --device lazy runs the same code traced, fused and compiled (S4TF's X10); cuda on GPU 0.
#include <cotangent/core/device.hpp>
#include <cotangent/core/error.hpp>

#include <charconv>
#include <cstring>
#include <string_view>

namespace examples {

struct Arguments {
  int epochs = 12;
  ct::Device device = ct::Device::cpu();
};

inline Arguments parse(int argc, char** argv, int default_epochs = 12) {
  Arguments parsed{default_epochs};
  const char* usage = "[EPOCHS] [--device cpu|lazy|cuda]";
  bool have_epochs = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--device") {
      CT_CHECK_AS(ValueError, i + 1 < argc, "--device needs cpu, lazy or cuda (usage: {} {})",
                  argv[0], usage);
      std::string_view name = argv[++i];
      CT_CHECK_AS(ValueError, name == "cpu" || name == "lazy" || name == "cuda",
                  "--device {}: not one of cpu, lazy, cuda (usage: {} {})", name, argv[0], usage);
      parsed.device = name == "lazy"   ? ct::Device::default_lazy()
                      : name == "cuda" ? ct::Device::cuda()
                                       : ct::Device::cpu();
      continue;
    }
    CT_CHECK_AS(ValueError, !have_epochs && !arg.starts_with("--"), "usage: {} {}", argv[0], usage);
    const char* end = argv[i] + arg.size();
    auto [at, error] = std::from_chars(argv[i], end, parsed.epochs);
    CT_CHECK_AS(ValueError, error == std::errc() && at == end && parsed.epochs >= 1,
                "EPOCHS '{}' is not a whole number from 1 up (usage: {} {})", arg, argv[0], usage);
    have_epochs = true;
  }
  return parsed;
}

}  // namespace examples
