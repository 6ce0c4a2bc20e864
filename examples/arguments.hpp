#pragma once
// The examples' one argument, EPOCHS: a whole number from 1 up, or the default.
#include <cotangent/core/error.hpp>

#include <charconv>
#include <cstring>

namespace examples {

inline int epochs(int argc, char** argv, int fallback = 12) {
  CT_CHECK_AS(ValueError, argc <= 2, "usage: {} [EPOCHS]", argv[0]);
  if (argc < 2) return fallback;
  int n = 0;
  const char* end = argv[1] + std::strlen(argv[1]);
  auto [at, error] = std::from_chars(argv[1], end, n);
  CT_CHECK_AS(ValueError, error == std::errc() && at == end && n >= 1,
              "EPOCHS '{}' is not a whole number from 1 up (usage: {} [EPOCHS])", argv[1], argv[0]);
  return n;
}

}  // namespace examples
