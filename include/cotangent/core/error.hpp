#pragma once
// Typed errors with messages that name the op and the shapes involved.
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace ct {

/// Base of every error the library throws.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
/// Operand shapes do not fit the op. `matmul: inner dimensions differ: [2, 3] vs [4, 5]`
struct ShapeError : Error {
  using Error::Error;
};
/// An axis or index is out of range.
struct IndexError : Error {
  using Error::Error;
};
/// The op does not support the operand's scalar type.
struct DTypeError : Error {
  using Error::Error;
};
/// Operands live on different devices, or the device cannot run the op.
struct DeviceError : Error {
  using Error::Error;
};
/// An argument has a bad value (negative size, overflow, bad option).
struct ValueError : Error {
  using Error::Error;
};
/// Memory for a tensor could not be allocated.
struct MemoryError : Error {
  using Error::Error;
};
/// A file or a download is missing, truncated, corrupt or fails its checksum.
struct IOError : Error {
  using Error::Error;
};
/// A process of a distributed run is lost, times out, or disagrees with the others.
struct DistributedError : Error {
  using Error::Error;
};

namespace detail {

inline void format_to(std::ostringstream& out, std::string_view fmt) { out << fmt; }

template <class Arg, class... Rest>
void format_to(std::ostringstream& out, std::string_view fmt, const Arg& arg, const Rest&... rest) {
  auto at = fmt.find("{}");
  if (at == std::string_view::npos) {
    out << fmt;
    return;
  }
  out << fmt.substr(0, at) << arg;
  format_to(out, fmt.substr(at + 2), rest...);
}

/// format("{} vs {}", a, b): each `{}` is replaced by the next argument's operator<<.
template <class... Args>
std::string format(std::string_view fmt, const Args&... args) {
  std::ostringstream out;
  format_to(out, fmt, args...);
  return out.str();
}

}  // namespace detail
}  // namespace ct

/// Throws `Kind` with a formatted message unless `cond` holds.
/// CT_CHECK_AS(ShapeError, a.rank() == 2, "matmul: {} is not a matrix", a.shape());
#define CT_CHECK_AS(Kind, cond, ...)                                  \
  do {                                                                \
    if (!(cond)) throw ::ct::Kind(::ct::detail::format(__VA_ARGS__)); \
  } while (0)
#define CT_CHECK(cond, ...) CT_CHECK_AS(ShapeError, cond, __VA_ARGS__)
