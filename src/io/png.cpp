#include "cotangent/io/png.hpp"

#include <zlib.h>

#include "cotangent/core/error.hpp"

namespace ct::io {

namespace {
void put_u32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(std::uint8_t(v >> shift));
}

// A chunk: length, type, data, and the CRC of type and data.
void put_chunk(std::vector<std::uint8_t>& out, const char (&type)[5],
               const std::vector<std::uint8_t>& data) {
  put_u32(out, std::uint32_t(data.size()));
  std::size_t start = out.size();
  out.insert(out.end(), type, type + 4);
  out.insert(out.end(), data.begin(), data.end());
  put_u32(out, std::uint32_t(crc32(0, out.data() + start, uInt(out.size() - start))));
}
}  // namespace

std::vector<std::uint8_t> encode_png(const std::uint8_t* pixels, std::int64_t width,
                                     std::int64_t height, int channels) {
  CT_CHECK_AS(ValueError, width > 0 && height > 0 && width < (1 << 24) && height < (1 << 24),
              "encode_png: a {}x{} image; both sides must be from 1 to 2^24 - 1", width, height);
  CT_CHECK_AS(ValueError, channels == 1 || channels == 3,
              "encode_png: {} channels; 1 (grey) or 3 (RGB) are written", channels);
  CT_CHECK_AS(ValueError, pixels != nullptr, "encode_png: no pixels");
  // Each row starts with its filter type: 0, none.
  std::size_t row = std::size_t(width) * std::size_t(channels);
  std::vector<std::uint8_t> raw;
  raw.reserve((row + 1) * std::size_t(height));
  for (std::int64_t y = 0; y < height; ++y) {
    raw.push_back(0);
    const std::uint8_t* line = pixels + std::size_t(y) * row;
    raw.insert(raw.end(), line, line + row);
  }
  uLongf size = compressBound(uLong(raw.size()));
  std::vector<std::uint8_t> packed(size);
  CT_CHECK_AS(ValueError, compress2(packed.data(), &size, raw.data(), uLong(raw.size()), 9) == Z_OK,
              "encode_png: zlib could not compress a {}x{} image", width, height);
  packed.resize(size);

  std::vector<std::uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<std::uint8_t> header;
  put_u32(header, std::uint32_t(width));
  put_u32(header, std::uint32_t(height));
  header.insert(header.end(), {8, std::uint8_t(channels == 1 ? 0 : 2), 0, 0, 0});
  put_chunk(png, "IHDR", header);
  put_chunk(png, "IDAT", packed);
  put_chunk(png, "IEND", {});
  return png;
}

std::string base64(const std::vector<std::uint8_t>& bytes) {
  static constexpr char kDigits[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    std::uint32_t n = std::uint32_t(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= std::uint32_t(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) n |= bytes[i + 2];
    out += kDigits[(n >> 18) & 63];
    out += kDigits[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kDigits[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kDigits[n & 63] : '=';
  }
  return out;
}

}  // namespace ct::io
