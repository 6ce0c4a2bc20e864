#include "cotangent/train/tensorboard.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <string_view>

#include "cotangent/core/error.hpp"
#include "cotangent/core/files.hpp"

namespace ct::train {
namespace fs = std::filesystem;

namespace {

constexpr std::array<std::uint32_t, 256> kCrc32cTable = [] {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (crc & 1 ? 0x82f63b78u : 0);
    table[i] = crc;
  }
  return table;
}();

// Protobuf wire types.
enum Wire : std::uint32_t {
  kVarint = 0,
  kFixed64 = 1,
  kLength = 2,
  kStartGroup = 3,
  kEndGroup = 4,
  kFixed32 = 5
};

constexpr std::size_t kFlushBytes = 64 * 1024;
constexpr double kFlushSeconds = 10;

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string hostname() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == 0) return "localhost";
  std::string host(name);
  for (char& c : host)
    if (c == '/') c = '_';
  return host;
}

/// Whether `text` is well-formed UTF-8 (no overlong forms, surrogates or code points past
/// U+10FFFF): protobuf's readers, TensorBoard's among them, reject a string that is not.
bool valid_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    std::size_t n;
    std::uint32_t code;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      n = 1, code = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2, code = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3, code = c & 0x07;
    } else {
      return false;
    }
    if (text.size() - i - 1 < n) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) return false;
      code = code << 6 | (next & 0x3f);
    }
    if ((n == 2 && code < 0x800) || (n == 3 && code < 0x10000) || code > 0x10ffff ||
        (code >= 0xd800 && code <= 0xdfff))
      return false;
    i += n + 1;
  }
  return true;
}

void put_varint(std::string& out, std::uint64_t v) {
  for (; v >= 0x80; v >>= 7) out.push_back(static_cast<char>(v | 0x80));
  out.push_back(static_cast<char>(v));
}
/// `bytes` little-endian bytes of `v`, whatever the machine's order.
void put_fixed(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}
void put_key(std::string& out, std::uint32_t field, Wire wire) {
  put_varint(out, std::uint64_t(field) << 3 | wire);
}
void put_bytes(std::string& out, std::uint32_t field, std::string_view bytes) {
  put_key(out, field, kLength);
  put_varint(out, bytes.size());
  out.append(bytes);
}
void put_double(std::string& out, std::uint32_t field, double v) {
  put_key(out, field, kFixed64);
  put_fixed(out, std::bit_cast<std::uint64_t>(v), 8);
}

std::uint64_t get_fixed(const std::uint8_t* at, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= std::uint64_t(at[i]) << (8 * i);
  return v;
}

/// Protobuf fields of one record's data, read without trusting a single length or varint: what
/// is malformed is an IOError naming the file, the record's offset and the field's.
class Fields {
 public:
  Fields(const std::uint8_t* at, const std::uint8_t* end, const std::uint8_t* file,
         const fs::path& path, std::uint64_t record)
      : at_(at), end_(end), file_(file), path_(path), record_(record) {}

  bool done() const { return at_ == end_; }

  /// The next field's number and wire type.
  std::pair<std::uint32_t, Wire> key() {
    std::uint64_t key = varint();
    if (key >> 32 != 0 || key >> 3 == 0) fail("field number " + std::to_string(key >> 3));
    if ((key & 7) > kFixed32) fail("wire type " + std::to_string(key & 7));
    return {static_cast<std::uint32_t>(key >> 3), static_cast<Wire>(key & 7)};
  }

  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (at_ == end_) fail("the record ends inside a varint");
      std::uint8_t byte = *at_++;
      // The tenth byte holds the 64th bit only.
      if (shift == 63 && byte > 1) fail("a varint overflows 64 bits");
      v |= std::uint64_t(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return v;
    }
    fail("a varint is longer than 10 bytes");
  }

  std::uint64_t fixed(int bytes) {
    if (end_ - at_ < bytes) fail("the record ends inside a fixed-size field");
    std::uint64_t v = get_fixed(at_, bytes);
    at_ += bytes;
    return v;
  }

  /// The fields of a length-delimited field, as a message.
  Fields message() {
    std::uint64_t length = varint();
    if (length > std::uint64_t(end_ - at_))
      fail("a field of " + std::to_string(length) + " bytes runs past the end of its message");
    Fields inner(at_, at_ + length, file_, path_, record_);
    at_ += length;
    return inner;
  }

  std::string bytes() {
    Fields inner = message();
    return std::string(inner.at_, inner.end_);
  }

  /// Skips a field this reader does not use, of any wire type.
  void skip(std::uint32_t field, Wire wire, int depth = 0) {
    switch (wire) {
      case kVarint:
        varint();
        return;
      case kFixed64:
        fixed(8);
        return;
      case kFixed32:
        fixed(4);
        return;
      case kLength:
        message();
        return;
      case kStartGroup:
        if (depth > 64) fail("groups nested more than 64 deep");
        for (;;) {
          if (done()) fail("a group does not end");
          auto [inner, inner_wire] = key();
          if (inner_wire == kEndGroup) {
            if (inner != field) fail("a group ends with another's number");
            return;
          }
          skip(inner, inner_wire, depth + 1);
        }
      case kEndGroup:
        fail("a group ends that did not start");
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw IOError(
        detail::format("{}: the record at byte {} holds a malformed event: {} (at byte {})",
                       path_.string(), record_, what, at_ - file_));
  }

  const std::uint8_t* at_;
  const std::uint8_t* end_;
  const std::uint8_t* file_;
  const fs::path& path_;
  std::uint64_t record_;
};

/// Appends the scalars of an Event (wall_time = 1, step = 2, summary = 5) to `scalars`.
void read_event(Fields event, std::vector<TensorBoardScalar>& scalars) {
  double wall_time = 0;
  std::int64_t step = 0;
  std::vector<std::pair<std::string, float>> values;
  while (!event.done()) {
    auto [field, wire] = event.key();
    if (field == 1 && wire == kFixed64) {
      wall_time = std::bit_cast<double>(event.fixed(8));
    } else if (field == 2 && wire == kVarint) {
      step = static_cast<std::int64_t>(event.varint());
    } else if (field == 5 && wire == kLength) {
      // Summary { repeated Value value = 1 }, Value { string tag = 1; float simple_value = 2 }
      Fields summary = event.message();
      while (!summary.done()) {
        auto [summary_field, summary_wire] = summary.key();
        if (summary_field != 1 || summary_wire != kLength) {
          summary.skip(summary_field, summary_wire);
          continue;
        }
        Fields value = summary.message();
        std::string tag;
        float simple_value = 0;
        bool scalar = false;  // other kinds of values (images, histograms) lack simple_value
        while (!value.done()) {
          auto [value_field, value_wire] = value.key();
          if (value_field == 1 && value_wire == kLength) {
            tag = value.bytes();
          } else if (value_field == 2 && value_wire == kFixed32) {
            simple_value = std::bit_cast<float>(static_cast<std::uint32_t>(value.fixed(4)));
            scalar = true;
          } else {
            value.skip(value_field, value_wire);
          }
        }
        if (scalar) values.emplace_back(std::move(tag), simple_value);
      }
    } else {
      event.skip(field, wire);
    }
  }
  // The step and time may follow the summary: protobuf leaves the order of fields open.
  for (auto& [tag, value] : values) scalars.push_back({std::move(tag), step, wall_time, value});
}

}  // namespace

std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t crc) {
  auto bytes = static_cast<const std::uint8_t*>(data);
  crc = ~crc;
  for (std::size_t i = 0; i < size; ++i) crc = kCrc32cTable[(crc ^ bytes[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

std::uint32_t masked_crc32c(const void* data, std::size_t size) {
  std::uint32_t crc = crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

TensorBoardWriter::TensorBoardWriter(const fs::path& directory) {
  std::error_code ec;
  auto status = fs::status(directory, ec);
  if (fs::exists(status)) {
    CT_CHECK_AS(IOError, fs::is_directory(status),
                "tensorboard: cannot write events into {}: it is not a directory",
                directory.string());
  } else {
    fs::create_directories(directory, ec);
    CT_CHECK_AS(IOError, !ec, "tensorboard: cannot create the directory {}: {}", directory.string(),
                ec.message());
  }
  std::string name = "events.out.tfevents." + std::to_string(std::int64_t(now_seconds())) + "." +
                     hostname() + "." + std::to_string(::getpid());
  // A second writer in the same second and process gets a file of its own, numbered.
  int error = 0;
  for (int n = 0; n < 1000 && fd_ < 0; ++n) {
    std::string numbered = name;
    if (n > 0) numbered.append(".").append(std::to_string(n));
    path_ = directory / (numbered + ".cotangent");
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0666);
    error = errno;
    if (fd_ < 0 && error != EEXIST) break;
  }
  CT_CHECK_AS(IOError, fd_ >= 0, "tensorboard: cannot create {}: {}", path_.string(),
              std::strerror(error));
  std::string event;
  put_double(event, 1, now_seconds());
  put_bytes(event, 3, "brain.Event:2");
  append_event(event);
  try {
    flush();
  } catch (...) {
    ::close(fd_);
    fs::remove(path_, ec);
    throw;
  }
}

TensorBoardWriter::~TensorBoardWriter() {
  try {
    flush();
  } catch (const std::exception& e) {
    std::cerr << e.what() << '\n';
  }
  ::close(fd_);
}

void TensorBoardWriter::scalar(const std::string& tag, double value, std::int64_t step) {
  CT_CHECK_AS(ValueError, valid_utf8(tag), "tensorboard: the tag '{}' is not UTF-8", tag);
  std::string entry;
  put_bytes(entry, 1, tag);
  put_key(entry, 2, kFixed32);
  put_fixed(entry, std::bit_cast<std::uint32_t>(static_cast<float>(value)), 4);
  std::string summary;
  put_bytes(summary, 1, entry);
  double now = now_seconds();
  std::string event;
  put_double(event, 1, now);
  put_key(event, 2, kVarint);
  put_varint(event, static_cast<std::uint64_t>(step));
  put_bytes(event, 5, summary);
  append_event(event);
  if (buffer_.size() >= kFlushBytes || now - last_flush_ >= kFlushSeconds) flush();
}

void TensorBoardWriter::append_event(const std::string& event) {
  std::string header;
  put_fixed(header, event.size(), 8);
  buffer_ += header;
  put_fixed(buffer_, masked_crc32c(header.data(), header.size()), 4);
  buffer_ += event;
  put_fixed(buffer_, masked_crc32c(event.data(), event.size()), 4);
}

void TensorBoardWriter::flush() {
  std::size_t done = 0;
  while (done < buffer_.size()) {
    ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n > 0) {
      done += std::size_t(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    int error = n < 0 ? errno : ENOSPC;
    // A record cut short ends the file for every reader (its CRCs fail, and nothing after it
    // can be found): cut it off, so that the next flush writes the buffer again after the last
    // whole record. Should that fail too, the reader's message names where the file tore.
    bool cut = done == 0 || ::ftruncate(fd_, off_t(written_)) == 0;
    throw IOError(detail::format("tensorboard: cannot write to {}: {}{}", path_.string(),
                                 std::strerror(error),
                                 cut ? "" : " (a partial record is left at its end)"));
  }
  written_ += buffer_.size();
  buffer_.clear();
  last_flush_ = now_seconds();
}

std::vector<TensorBoardScalar> read_tensorboard_scalars(const fs::path& file) {
  std::vector<std::uint8_t> bytes = read_bytes(file);
  const std::uint8_t* data = bytes.data();
  const std::uint64_t size = bytes.size();
  std::vector<TensorBoardScalar> scalars;
  for (std::uint64_t at = 0; at < size;) {
    std::uint64_t left = size - at;
    CT_CHECK_AS(IOError, left >= 12,
                "{}: the file ends inside the record at byte {}: {} of its 12 header bytes are "
                "there",
                file.string(), at, left);
    std::uint64_t length = get_fixed(data + at, 8);
    CT_CHECK_AS(IOError, get_fixed(data + at + 8, 4) == masked_crc32c(data + at, 8),
                "{}: length CRC mismatch in the record at byte {}", file.string(), at);
    CT_CHECK_AS(IOError, left >= 16 && length <= left - 16,
                "{}: the file ends inside the record at byte {}: it holds {} bytes of data and a "
                "CRC, and {} bytes follow its header",
                file.string(), at, length, left - 12);
    const std::uint8_t* event = data + at + 12;
    CT_CHECK_AS(IOError, get_fixed(event + length, 4) == masked_crc32c(event, std::size_t(length)),
                "{}: data CRC mismatch in the record at byte {}", file.string(), at);
    read_event(Fields(event, event + length, data, file, at), scalars);
    at += 16 + length;
  }
  return scalars;
}

}  // namespace ct::train
