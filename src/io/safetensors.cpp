#include "cotangent/io/safetensors.hpp"

#include <algorithm>
#include <cstring>
#include <sstream>

#include "cotangent/backend/backend.hpp"
#include "cotangent/data/files.hpp"

namespace ct::io {
namespace {

constexpr std::uint64_t kMaxHeader = 100 << 20;  // as the reference implementation: 100 MB
// The metadata key of the data section's SHA-256 (64 hex digits), written by to_safetensors and
// checked on reading when present; files of other writers lack it and load unchecked.
constexpr const char* kChecksumKey =
    "cotangent.data_sha256";  // namespaced: other writers may use "sha256"

const char* dtype_code(DType d) {
  switch (d) {
    case DType::float32:
      return "F32";
    case DType::float64:
      return "F64";
    case DType::int32:
      return "I32";
    case DType::int64:
      return "I64";
    case DType::boolean:
      return "BOOL";
  }
  return "?";
}

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\', out += c;
    else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else
      out += c;
  }
  return out;
}

/// A strict parser for the JSON subset of safetensors headers: objects, arrays, strings,
/// non-negative integers. Depth, lengths and numbers are bounded; anything else is an error.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& what) : s_(text), what_(what) {}

  Safetensors parse(std::vector<std::pair<std::uint64_t, std::uint64_t>>& ranges) {
    Safetensors out;
    expect('{');
    if (!consume('}')) {
      do {
        std::string key = string();
        expect(':');
        if (key == "__metadata__") {
          expect('{');
          if (!consume('}')) {
            do {
              std::string k = string();
              expect(':');
              out.metadata[k] = string();
            } while (consume(','));
            expect('}');
          }
          continue;
        }
        fail_if(key.empty(), "a tensor has an empty name");
        for (auto& t : out.tensors) fail_if(t.name == key, "tensor '" + key + "' appears twice");
        std::string dtype;
        std::vector<std::uint64_t> shape, offsets;
        bool has_dtype = false, has_shape = false, has_offsets = false;
        expect('{');
        do {
          std::string field = string();
          expect(':');
          if (field == "dtype")
            dtype = string(), has_dtype = true;
          else if (field == "shape")
            shape = integers(Shape::kMaxRank), has_shape = true;
          else if (field == "data_offsets")
            offsets = integers(2), has_offsets = true;
          else
            fail("tensor '" + key + "' has an unknown field '" + field + "'");
        } while (consume(','));
        expect('}');
        fail_if(!has_dtype || !has_shape || !has_offsets,
                "tensor '" + key + "' lacks dtype, shape or data_offsets");
        fail_if(offsets.size() != 2 || offsets[0] > offsets[1],
                "tensor '" + key + "' has bad data_offsets");
        DType d;
        if (dtype == "F32")
          d = DType::float32;
        else if (dtype == "F64")
          d = DType::float64;
        else if (dtype == "I32")
          d = DType::int32;
        else if (dtype == "I64")
          d = DType::int64;
        else if (dtype == "BOOL")
          d = DType::boolean;
        else
          fail("tensor '" + key + "' has unsupported dtype '" + dtype + "'");
        std::uint64_t count = 1;
        for (auto n : shape)
          fail_if(n > (1ull << 62) || __builtin_mul_overflow(count, n, &count),
                  "tensor '" + key + "' has a shape that overflows");
        std::uint64_t bytes;
        fail_if(__builtin_mul_overflow(count, dtype_size(d), &bytes),
                "tensor '" + key + "' is too large");
        fail_if(bytes != offsets[1] - offsets[0],
                "tensor '" + key + "': shape and dtype need " + std::to_string(bytes) +
                    " bytes but data_offsets span " + std::to_string(offsets[1] - offsets[0]));
        RawTensor raw;
        raw.shape = Shape(std::vector<std::int64_t>(shape.begin(), shape.end()));
        raw.dtype = d;
        out.tensors.push_back({key, AnyTensor(raw)});
        ranges.emplace_back(offsets[0], offsets[1]);
      } while (consume(','));
      expect('}');
    }
    space();
    fail_if(pos_ != s_.size(), "trailing characters after the header");
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& why) {
    throw IOError(
        detail::format("{}: invalid safetensors header at byte {}: {}", what_, pos_, why));
  }
  void fail_if(bool bad, const std::string& why) {
    if (bad) fail(why);
  }
  void space() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t' || s_[pos_] == '\r'))
      ++pos_;
  }
  bool consume(char c) {
    space();
    if (pos_ < s_.size() && s_[pos_] == c) return ++pos_, true;
    return false;
  }
  void expect(char c) {
    if (!consume(c)) fail(std::string("expected '") + c + "'");
  }
  std::string string() {
    expect('"');
    std::string out;
    while (true) {
      fail_if(pos_ >= s_.size(), "unterminated string");
      char c = s_[pos_++];
      if (c == '"') return out;
      fail_if(static_cast<unsigned char>(c) < 0x20, "control character in a string");
      if (c == '\\') {
        fail_if(pos_ >= s_.size(), "unterminated escape");
        char e = s_[pos_++];
        switch (e) {
          case '"':
          case '\\':
          case '/':
            out += e;
            break;
          case 'n':
            out += '\n';
            break;
          case 't':
            out += '\t';
            break;
          case 'r':
            out += '\r';
            break;
          case 'b':
            out += '\b';
            break;
          case 'f':
            out += '\f';
            break;
          case 'u': {
            fail_if(pos_ + 4 > s_.size(), "short \\u escape");
            unsigned v = 0;
            for (int i = 0; i < 4; ++i) {
              char h = s_[pos_++];
              v <<= 4;
              if (h >= '0' && h <= '9')
                v |= unsigned(h - '0');
              else if (h >= 'a' && h <= 'f')
                v |= unsigned(h - 'a' + 10);
              else if (h >= 'A' && h <= 'F')
                v |= unsigned(h - 'A' + 10);
              else
                fail("bad \\u escape");
            }
            if (v < 0x80)
              out += char(v);
            else if (v < 0x800)
              out += char(0xc0 | (v >> 6)), out += char(0x80 | (v & 0x3f));
            else
              out += char(0xe0 | (v >> 12)), out += char(0x80 | ((v >> 6) & 0x3f)),
                  out += char(0x80 | (v & 0x3f));
            break;
          }
          default:
            fail("bad escape");
        }
      } else {
        out += c;
      }
    }
  }
  std::vector<std::uint64_t> integers(std::size_t max_count) {
    std::vector<std::uint64_t> out;
    expect('[');
    if (consume(']')) return out;
    do {
      space();
      fail_if(pos_ >= s_.size() || s_[pos_] < '0' || s_[pos_] > '9',
              "expected a non-negative integer");
      std::uint64_t v = 0;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
        fail_if(__builtin_mul_overflow(v, 10u, &v) ||
                    __builtin_add_overflow(v, std::uint64_t(s_[pos_] - '0'), &v),
                "integer overflows");
        ++pos_;
      }
      out.push_back(v);
      fail_if(out.size() > max_count, "too many integers in an array");
    } while (consume(','));
    expect(']');
    return out;
  }

  std::string_view s_;
  const std::string& what_;
  std::size_t pos_ = 0;
};

}  // namespace

const AnyTensor* Safetensors::find(const std::string& name) const {
  for (auto& t : tensors)
    if (t.name == name) return &t.tensor;
  return nullptr;
}

std::vector<std::uint8_t> to_safetensors(const std::vector<NamedTensor>& tensors,
                                         const std::map<std::string, std::string>& metadata) {
  // The checksum covers the data, which follows the header: the header holds a placeholder of
  // the digest's length, filled in once the data is in place.
  std::map<std::string, std::string> meta = metadata;
  meta[kChecksumKey] = std::string(64, '0');
  std::ostringstream header;
  header << "{\"__metadata__\":{";
  std::size_t checksum_at = 0;
  for (auto it = meta.begin(); it != meta.end(); ++it) {
    header << (it == meta.begin() ? "" : ",") << '"' << escape(it->first) << "\":\"";
    if (it->first == kChecksumKey) checksum_at = std::size_t(header.tellp());
    header << escape(it->second) << '"';
  }
  header << '}';
  std::uint64_t offset = 0;
  for (auto& t : tensors) {
    CT_CHECK_AS(ValueError, t.tensor.defined(), "save: tensor '{}' is undefined", t.name);
    std::uint64_t bytes = std::uint64_t(t.tensor.scalar_count()) * dtype_size(t.tensor.dtype());
    header << ",\"" << escape(t.name) << "\":{\"dtype\":\"" << dtype_code(t.tensor.dtype())
           << "\",\"shape\":[";
    for (int i = 0; i < t.tensor.rank(); ++i) header << (i ? "," : "") << t.tensor.shape()[i];
    header << "],\"data_offsets\":[" << offset << ',' << offset + bytes << "]}";
    offset += bytes;
  }
  header << '}';
  std::string h = header.str();
  h.append((8 - h.size() % 8) % 8, ' ');  // align the data to 8 bytes, as the reference writer does
  std::vector<std::uint8_t> out(8 + h.size() + offset);
  std::uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out[i] = std::uint8_t(n >> (8 * i));
  std::memcpy(out.data() + 8, h.data(), h.size());
  std::uint8_t* data = out.data() + 8 + h.size();
  for (auto& t : tensors) {
    std::size_t bytes = std::size_t(t.tensor.scalar_count()) * dtype_size(t.tensor.dtype());
    RawTensor dense = t.tensor.raw().is_contiguous()
                          ? t.tensor.raw()
                          : backend_for(t.tensor.device()).contiguous(t.tensor.raw());
    if (bytes) backend_for(dense.device).read(dense, data);  // checkpoint save: a host edge
    data += bytes;
  }
  std::string checksum = data::sha256_hex(out.data() + 8 + h.size(), offset);
  std::memcpy(out.data() + 8 + checksum_at, checksum.data(), checksum.size());
  return out;
}

Safetensors from_safetensors(const std::uint8_t* data, std::size_t size, const std::string& what) {
  CT_CHECK_AS(IOError, size >= 8, "{}: {} bytes is too short for a safetensors file", what, size);
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= std::uint64_t(data[i]) << (8 * i);
  CT_CHECK_AS(IOError, n <= kMaxHeader, "{}: header length {} exceeds the limit of {}", what, n,
              kMaxHeader);
  CT_CHECK_AS(IOError, n <= size - 8,
              "{}: header length {} runs past the end of the file ({} bytes)", what, n, size);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
  Safetensors file =
      HeaderParser(std::string_view(reinterpret_cast<const char*>(data) + 8, n), what)
          .parse(ranges);
  std::uint64_t data_size = size - 8 - n;
  // The byte ranges must tile the data exactly: sorted, contiguous, no gaps, no overlaps.
  std::vector<std::size_t> order(ranges.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](auto a, auto b) { return ranges[a] < ranges[b]; });
  std::uint64_t expected = 0;
  for (auto i : order) {
    CT_CHECK_AS(IOError, ranges[i].first == expected,
                "{}: tensor '{}' starts at byte {} of the data, expected {} (gap or overlap)", what,
                file.tensors[i].name, ranges[i].first, expected);
    expected = ranges[i].second;
  }
  CT_CHECK_AS(
      IOError, expected == data_size,
      "{}: tensors cover {} bytes but the file holds {} bytes of data (truncated or padded)", what,
      expected, data_size);
  const std::uint8_t* base = data + 8 + n;
  // Structure alone cannot catch a flipped bit in the data; the writer's checksum can.
  if (auto it = file.metadata.find(kChecksumKey); it != file.metadata.end()) {
    std::string actual = data::sha256_hex(base, data_size);
    CT_CHECK_AS(IOError, actual == it->second,
                "{}: checksum mismatch: the file is corrupt (the data's SHA-256 is {}, the header "
                "records {})",
                what, actual, it->second.substr(0, 64));
  }
  for (std::size_t i = 0; i < file.tensors.size(); ++i) {
    RawTensor shape_only = file.tensors[i].tensor.raw();
    auto bytes = ranges[i].second - ranges[i].first;
    if (shape_only.dtype == DType::boolean)
      for (std::uint64_t k = 0; k < bytes; ++k)
        CT_CHECK_AS(IOError, base[ranges[i].first + k] <= 1,
                    "{}: tensor '{}' holds a bool that is neither 0 nor 1", what,
                    file.tensors[i].name);
    file.tensors[i].tensor =
        AnyTensor(backend_for(Device::cpu())  // host edge: files load to the CPU
                      .upload(base + ranges[i].first, shape_only.shape, shape_only.dtype));
  }
  return file;
}

void save_safetensors(const std::filesystem::path& path, const std::vector<NamedTensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  auto bytes = to_safetensors(tensors, metadata);
  data::write_file_atomically(path, bytes.data(), bytes.size());
}

Safetensors load_safetensors(const std::filesystem::path& path) {
  std::vector<std::uint8_t> bytes = data::read_bytes(path);
  return from_safetensors(bytes.data(), bytes.size(), path.string());
}

}  // namespace ct::io
