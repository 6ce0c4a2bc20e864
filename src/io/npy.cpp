#include "cotangent/io/npy.hpp"

#include <bit>
#include <charconv>
#include <cstring>
#include <numeric>

#include "cotangent/backend/backend.hpp"
#include "cotangent/core/files.hpp"
#include "cotangent/ops/shape.hpp"

namespace ct::io {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicSize = 6;

/// The header's dict, read as far as .npy needs: 'descr' (a string), 'fortran_order' and
/// 'shape' (a tuple of integers), with keys in any order.
struct Header {
  std::string descr;
  bool fortran_order = false;
  std::vector<std::int64_t> shape;
};

class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& what) : text_(text), what_(what) {}

  Header parse() {
    Header h;
    bool have_descr = false, have_order = false, have_shape = false;
    expect('{');
    while (skip_space(), peek() != '}') {
      std::string key = string();
      expect(':');
      skip_space();
      if (key == "descr") {
        CT_CHECK_AS(IOError, peek() == '\'' || peek() == '"',
                    "{}: a structured dtype (a list of fields) is not supported; save each field "
                    "as its own array",
                    what_);
        h.descr = string(), have_descr = true;
      } else if (key == "fortran_order") {
        h.fortran_order = boolean(), have_order = true;
      } else if (key == "shape") {
        h.shape = tuple(), have_shape = true;
      } else {
        fail(detail::format("an unknown key '{}'", key));
      }
      separator('}');
    }
    ++at_;
    skip_space();
    if (at_ != text_.size()) fail("text after the dictionary");
    CT_CHECK_AS(IOError, have_descr && have_order && have_shape,
                "{}: the header lacks one of 'descr', 'fortran_order' and 'shape'", what_);
    return h;
  }

 private:
  /// After an item: a comma, or the `close` that ends the list (left for the caller).
  void separator(char close) {
    skip_space();
    if (peek() == ',')
      ++at_;
    else if (peek() != close)
      fail(detail::format("',' or '{}' expected", std::string(1, close)));
  }
  [[noreturn]] void fail(const std::string& problem) {
    throw IOError(detail::format("{}: not a valid .npy header ({} at byte {} of \"{}\")", what_,
                                 problem, at_, std::string(text_.substr(0, 120))));
  }
  char peek() {
    if (at_ >= text_.size()) fail("it ends early");
    return text_[at_];
  }
  void skip_space() {
    while (at_ < text_.size() && (text_[at_] == ' ' || text_[at_] == '\n')) ++at_;
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) fail(detail::format("'{}' expected", std::string(1, c)));
    ++at_;
  }
  std::string string() {
    skip_space();
    char quote = peek();
    if (quote != '\'' && quote != '"') fail("a quoted string expected");
    std::size_t end = text_.find(quote, ++at_);
    if (end == std::string_view::npos) fail("an unterminated string");
    std::string s(text_.substr(at_, end - at_));
    at_ = end + 1;
    return s;
  }
  bool boolean() {
    for (auto [word, value] : {std::pair{"True", true}, std::pair{"False", false}})
      if (text_.substr(at_, std::strlen(word)) == word) return at_ += std::strlen(word), value;
    fail("True or False expected");
  }
  std::vector<std::int64_t> tuple() {
    expect('(');
    std::vector<std::int64_t> dims;
    while (skip_space(), peek() != ')') {
      std::uint64_t d = 0;
      std::size_t start = at_;
      while (peek() >= '0' && peek() <= '9') {
        if (__builtin_mul_overflow(d, 10u, &d) || __builtin_add_overflow(d, peek() - '0', &d) ||
            d > (1ull << 40))
          fail("a dimension too large");
        ++at_;
      }
      if (at_ == start) fail("a dimension expected");
      dims.push_back(std::int64_t(d));
      if (dims.size() > std::size_t(Shape::kMaxRank))
        fail(detail::format("more than {} dimensions", Shape::kMaxRank));
      separator(')');
    }
    ++at_;
    return dims;
  }

  std::string_view text_;
  const std::string& what_;
  std::size_t at_ = 0;
};

/// How a .npy dtype is read: its byte size, kind ('f', 'i', 'u', 'b') and the DType it becomes.
struct Element {
  char kind;
  std::size_t size;
  bool big_endian;
  DType dtype;
};

Element element_of(const std::string& descr, const std::string& what) {
  CT_CHECK_AS(IOError, descr.size() >= 3, "{}: dtype '{}' is not supported", what, descr);
  char order = descr[0], kind = descr[1];
  int size = 0;
  auto [end, error] = std::from_chars(descr.data() + 2, descr.data() + descr.size(), size);
  CT_CHECK_AS(IOError, error == std::errc() && end == descr.data() + descr.size(),
              "{}: dtype '{}' is not supported", what, descr);
  CT_CHECK_AS(IOError, order == '<' || order == '>' || order == '|' || order == '=',
              "{}: dtype '{}' has an unknown byte order", what, descr);
  auto dtype = [&]() -> std::optional<DType> {
    if (kind == 'f' && size == 4) return DType::float32;
    if (kind == 'f' && size == 8) return DType::float64;
    if (kind == 'b' && size == 1) return DType::boolean;
    if (kind == 'i' && (size == 1 || size == 2 || size == 4)) return DType::int32;
    if (kind == 'u' && (size == 1 || size == 2)) return DType::int32;
    if ((kind == 'i' && size == 8) || (kind == 'u' && (size == 4 || size == 8)))
      return DType::int64;
    return std::nullopt;
  }();
  CT_CHECK_AS(IOError,
              dtype.has_value() && descr == std::string(1, order) + kind + std::to_string(size),
              "{}: dtype '{}' is not supported (booleans, integers and float32/float64 are); "
              "convert it with astype() first",
              what, descr);
  return {kind, std::size_t(size), order == '>', *dtype};
}

/// Reads element `i` of `data` as T (T is the wider type the element becomes).
template <class T>
T element(const std::uint8_t* data, std::size_t i, const Element& e) {
  // The element's bytes gathered in the host's (little-endian) order, whatever the file's.
  std::size_t size = std::min<std::size_t>(e.size, 8);
  std::uint64_t word = 0;
  for (std::size_t k = 0; k < size; ++k)
    word |= std::uint64_t(data[i * size + k]) << (8 * (e.big_endian ? size - 1 - k : k));
  auto as = [&](auto v) {
    std::memcpy(&v, &word, sizeof v);
    return v;
  };
  if (e.kind == 'f') return e.size == 4 ? T(as(float{})) : T(as(double{}));
  if (e.kind == 'b') return T(word != 0);
  if (e.kind == 'i') {
    switch (e.size) {
      case 1:
        return T(as(std::int8_t{}));
      case 2:
        return T(as(std::int16_t{}));
      case 4:
        return T(as(std::int32_t{}));
      default:
        return T(as(std::int64_t{}));
    }
  }
  switch (e.size) {
    case 1:
      return T(as(std::uint8_t{}));
    case 2:
      return T(as(std::uint16_t{}));
    case 4:
      return T(as(std::uint32_t{}));
    default:
      return T(as(std::uint64_t{}));
  }
}

}  // namespace

AnyTensor parse_npy(const std::vector<std::uint8_t>& bytes, const std::string& what) {
  CT_CHECK_AS(IOError, bytes.size() >= 10 && std::memcmp(bytes.data(), kMagic, kMagicSize) == 0,
              "{}: not a .npy file (bad magic number)", what);
  int major = bytes[6];
  CT_CHECK_AS(IOError, major >= 1 && major <= 3, "{}: .npy version {}.{} is not supported", what,
              major, int(bytes[7]));
  std::size_t length_bytes = major == 1 ? 2 : 4, start = 8 + length_bytes;
  CT_CHECK_AS(IOError, bytes.size() >= start, "{}: truncated .npy header", what);
  std::size_t header_size = 0;
  for (std::size_t i = 0; i < length_bytes; ++i)
    header_size |= std::size_t(bytes[8 + i]) << (8 * i);
  CT_CHECK_AS(IOError, header_size <= bytes.size() - start,
              "{}: the .npy header claims {} bytes but the file has {} after it", what, header_size,
              bytes.size() - start);
  std::string_view text(reinterpret_cast<const char*>(bytes.data()) + start, header_size);
  Header header = HeaderParser(text, what).parse();
  Element e = element_of(header.descr, what);

  // Zero dimensions count as one in the bound, so that (0, 2^40, 2^40) is refused too: an
  // empty array's other dimensions still make its strides.
  std::uint64_t count = 1, span = 1;
  for (auto d : header.shape) {
    CT_CHECK_AS(
        IOError,
        !__builtin_mul_overflow(span, std::max<std::uint64_t>(std::uint64_t(d), 1), &span) &&
            span <= (1ull << 40),
        "{}: shape {} is implausibly large", what, Shape(header.shape));
    count *= std::uint64_t(d);  // at most span
  }
  std::size_t data_start = start + header_size, held = bytes.size() - data_start;
  CT_CHECK_AS(IOError, held == count * e.size,
              "{}: the header promises {} values of {} bytes ({} bytes) but the file holds {}",
              what, count, e.size, count * e.size, held);

  // Read in file order, into the shape as stored: a Fortran-order array is the transpose of
  // its reversed shape laid out in C order.
  std::vector<std::int64_t> stored = header.shape;
  if (header.fortran_order) std::reverse(stored.begin(), stored.end());
  const std::uint8_t* data = bytes.data() + data_start;
  return visit_dtype(e.dtype, [&](auto tag) -> AnyTensor {
    using T = decltype(tag);
    // Booleans are held as one byte each, 0 or 1, as the tensor stores them.
    using Held = std::conditional_t<std::is_same_v<T, bool>, std::uint8_t, T>;
    std::vector<Held> values(count);
    bool same = !std::is_same_v<T, bool> && !e.big_endian && e.size == sizeof(T) &&
                (e.kind == 'f') == is_floating(e.dtype) && e.kind != 'u' && e.kind != 'b';
    if (same && count) std::memcpy(values.data(), data, count * sizeof(T));  // as stored
    for (std::size_t i = 0; i < (same ? 0 : count); ++i) {
      if constexpr (std::is_same_v<T, std::int64_t>) {
        if (e.kind == 'u' && e.size == 8) {
          auto v = element<std::uint64_t>(data, i, e);
          CT_CHECK_AS(IOError, v <= std::uint64_t(std::numeric_limits<std::int64_t>::max()),
                      "{}: value {} at {} is past int64's range", what, v, i);
        }
      }
      values[i] = Held(element<T>(data, i, e));
    }
    Tensor<T> x(AnyTensor(backend_for(Device::cpu())  // host edge: files load to the CPU
                              .upload(values.data(), Shape(stored), e.dtype)));
    if (!header.fortran_order || stored.size() < 2) return reshape(x, Shape(header.shape));
    std::vector<int> reverse(stored.size());
    std::iota(reverse.rbegin(), reverse.rend(), 0);
    return contiguous(transpose(x, reverse));
  });
}

std::vector<std::uint8_t> encode_npy(const AnyTensor& x) {
  CT_CHECK_AS(ValueError, x.defined(), "encode_npy: the tensor is undefined");
  const char* descr = visit_dtype(x.dtype(), [](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float>) return "<f4";
    if constexpr (std::is_same_v<T, double>) return "<f8";
    if constexpr (std::is_same_v<T, std::int32_t>) return "<i4";
    if constexpr (std::is_same_v<T, std::int64_t>) return "<i8";
    if constexpr (std::is_same_v<T, bool>) return "|b1";
  });
  std::string shape;
  for (int i = 0; i < x.rank(); ++i) shape += (i ? ", " : "") + std::to_string(x.shape(i));
  if (x.rank() == 1) shape += ',';  // Python's one-element tuple
  std::string header =
      std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (" + shape + "), }";
  // Padded with spaces and a newline so that the data starts on a 64-byte boundary.
  std::size_t total = kMagicSize + 4 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i < kMagicSize; ++i) out.push_back(std::uint8_t(kMagic[i]));
  for (auto b : {1, 0, int(header.size() & 0xff), int(header.size() >> 8)})
    out.push_back(std::uint8_t(b));
  out.insert(out.end(), header.begin(), header.end());
  static_assert(std::endian::native == std::endian::little,
                "the writer assumes a little-endian host");
  std::size_t data_bytes = std::size_t(x.scalar_count()) * dtype_size(x.dtype());
  std::size_t at = out.size();
  out.resize(at + data_bytes);
  RawTensor dense = x.raw().is_contiguous() ? x.raw() : backend_for(x.device()).contiguous(x.raw());
  if (data_bytes) backend_for(dense.device).read(dense, out.data() + at);  // host edge: a save
  return out;
}

AnyTensor read_npy(const std::filesystem::path& path) {
  return parse_npy(read_bytes(path), path.string());
}

void write_npy(const std::filesystem::path& path, const AnyTensor& x) {
  auto bytes = encode_npy(x);
  write_file_atomically(path, bytes.data(), bytes.size());
}

}  // namespace ct::io
