#pragma once
// Scalars of a training run in TensorBoard's event files, and a reader of them for tests and
// tools. The protobuf messages are encoded by hand: a scalar needs four fields, not a dependency.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace ct::train {

/// Appends scalar summaries to a TensorBoard event file (TFRecord framing: u64 length, masked
/// CRC32C of the length, the Event protobuf, masked CRC32C of the data). One thread at a time.
class TensorBoardWriter {
 public:
  /// Creates `directory` if needed and a new file events.out.tfevents.<unix seconds>.<hostname>.
  /// <pid>.cotangent in it, whose first record is the file_version event ("brain.Event:2").
  /// Throws IOError naming the path when either cannot be created.
  explicit TensorBoardWriter(const std::filesystem::path& directory);
  /// Flushes (an error is reported on stderr, as a destructor cannot throw) and closes.
  ~TensorBoardWriter();
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  /// Buffers `tag` = `value` (stored as a float) at `step`, stamped with the time now. The
  /// buffer is flushed once it holds 64 KiB or 10 seconds have passed since the last flush.
  /// Throws ValueError when `tag` is not UTF-8, which TensorBoard cannot read.
  void scalar(const std::string& tag, double value, std::int64_t step);
  /// Writes what is buffered to the file (no fsync); throws IOError on a failed write, keeping
  /// the buffer for the next try.
  void flush();
  /// The event file.
  const std::filesystem::path& path() const { return path_; }

 private:
  void append_event(const std::string& event);

  std::filesystem::path path_;
  int fd_ = -1;
  std::uint64_t written_ = 0;  // bytes of whole records in the file
  std::string buffer_;
  double last_flush_ = 0;  // seconds since the epoch
};

/// One scalar of an event file.
struct TensorBoardScalar {
  std::string tag;
  std::int64_t step = 0;
  double wall_time = 0;  // seconds since the epoch
  float value = 0;
};

/// Reads every scalar of an event file, checking each record's two CRCs; a torn or corrupt
/// record is an IOError naming the file, the byte offset and what was wrong. Records that are
/// not scalar summaries (the file_version event) are skipped.
std::vector<TensorBoardScalar> read_tensorboard_scalars(const std::filesystem::path& file);

/// The CRC32C (Castagnoli) of bytes; pass a previous result as `crc` to continue it.
std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t crc = 0);
/// TFRecord's mask of the CRC32C of bytes: ((crc >> 15 | crc << 17) + 0xa282ead8).
std::uint32_t masked_crc32c(const void* data, std::size_t size);

}  // namespace ct::train
