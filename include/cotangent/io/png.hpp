#pragma once
// PNG images from 8-bit pixels (grey or RGB), for reports and notebooks: zlib's deflate and CRC,
// no filters (images of digits are small), and base64 for data: URLs.
#include <cstdint>
#include <string>
#include <vector>

namespace ct::io {

/// A PNG of `height` rows of `width` pixels of `channels` bytes each (1: grey, 3: RGB), row by
/// row; a ValueError for an empty size or another channel count.
std::vector<std::uint8_t> encode_png(const std::uint8_t* pixels, std::int64_t width,
                                     std::int64_t height, int channels);

/// RFC 4648 base64, padded (for `data:image/png;base64,` URLs).
std::string base64(const std::vector<std::uint8_t>& bytes);

}  // namespace ct::io
