// TensorBoard event files: scalars round-trip exactly, what is not a scalar is skipped, and a
// torn, corrupt or malformed file is an IOError that says where.
#include <cotangent/core/error.hpp>
#include <cotangent/train/tensorboard.hpp>
#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>

using namespace ct;
namespace fs = std::filesystem;

namespace {

/// An empty folder of its own for one test, removed after it.
struct Scratch {
  fs::path dir;
  explicit Scratch(const std::string& name)
      : dir(fs::temp_directory_path() /
            ("cotangent-tensorboard-" + name + "-" + std::to_string(::getpid()))) {
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

double now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string varint(std::uint64_t v) {
  std::string out;
  for (; v >= 0x80; v >>= 7) out.push_back(char(v | 0x80));
  out.push_back(char(v));
  return out;
}
std::string fixed(std::uint64_t v, int bytes) {
  std::string out;
  for (int i = 0; i < bytes; ++i) out.push_back(char(v >> (8 * i)));
  return out;
}
std::string key(std::uint32_t field, std::uint32_t wire) { return varint(field << 3 | wire); }
std::string length_delimited(std::uint32_t field, const std::string& bytes) {
  return key(field, 2) + varint(bytes.size()) + bytes;
}

/// `data` as a TFRecord record with good CRCs.
std::string frame(const std::string& data) {
  std::string length = fixed(data.size(), 8);
  return length + fixed(train::masked_crc32c(length.data(), 8), 4) + data +
         fixed(train::masked_crc32c(data.data(), data.size()), 4);
}

/// Expects read_tensorboard_scalars(file) to throw IOError with each of `fragments`.
void expect_read_error(const fs::path& file, std::initializer_list<std::string> fragments) {
  try {
    train::read_tensorboard_scalars(file);
    ADD_FAILURE() << "no exception";
  } catch (const IOError& e) {
    for (auto& f : fragments)
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what() << " lacks " << f;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
}

/// An event file holding two scalars and then a third, and the offset of the third's record.
struct ThreeScalars {
  fs::path file;
  std::uint64_t last_record = 0;
  std::string bytes;
};
ThreeScalars three_scalars(const fs::path& dir) {
  ThreeScalars out;
  {
    train::TensorBoardWriter writer(dir);
    writer.scalar("loss", 0.5, 1);
    writer.scalar("loss", 0.25, 2);
    writer.flush();
    out.file = writer.path();
    out.last_record = fs::file_size(out.file);
    writer.scalar("loss", 0.125, 3);
  }
  out.bytes = read_file(out.file);
  return out;
}

}  // namespace

TEST(TensorBoard, Crc32cMatchesTheCheckValues) {
  EXPECT_EQ(train::crc32c("123456789", 9), 0xe3069283u);
  EXPECT_EQ(train::crc32c("", 0), 0u);
  std::string zeros(32, '\0'), ones(32, '\xff');
  EXPECT_EQ(train::crc32c(zeros.data(), zeros.size()), 0x8a9136aau);  // RFC 3720, B.4
  EXPECT_EQ(train::crc32c(ones.data(), ones.size()), 0x62a8ab43u);
  EXPECT_EQ(train::crc32c("56789", 5, train::crc32c("1234", 4)), 0xe3069283u);
  std::uint32_t crc = 0xe3069283u;
  EXPECT_EQ(train::masked_crc32c("123456789", 9), ((crc >> 15) | (crc << 17)) + 0xa282ead8u);
}

TEST(TensorBoard, ScalarsRoundTripExactly) {
  Scratch scratch("round-trip");
  fs::path dir = scratch.dir / "runs" / "first";  // made with its parents
  double before = now();
  fs::path file;
  std::vector<train::TensorBoardScalar> expected;
  {
    train::TensorBoardWriter writer(dir);
    file = writer.path();
    for (std::int64_t step = 0; step < 5; ++step) {
      for (std::string tag : {"loss/training", "loss/test", "accuracy"}) {
        double value = 1.0 / double(step + 3) + double(tag.size());
        writer.scalar(tag, value, step * 100);
        expected.push_back({tag, step * 100, 0, float(value)});
      }
    }
  }
  double after = now();
  EXPECT_EQ(file.parent_path(), dir);
  std::string name = file.filename().string();
  EXPECT_EQ(name.rfind("events.out.tfevents.", 0), 0u) << name;
  EXPECT_NE(name.find("." + std::to_string(::getpid()) + "."), std::string::npos) << name;
  EXPECT_TRUE(name.ends_with(".cotangent")) << name;

  auto scalars = train::read_tensorboard_scalars(file);
  ASSERT_EQ(scalars.size(), expected.size());
  for (std::size_t i = 0; i < scalars.size(); ++i) {
    EXPECT_EQ(scalars[i].tag, expected[i].tag);
    EXPECT_EQ(scalars[i].step, expected[i].step);
    EXPECT_EQ(scalars[i].value, expected[i].value);
    EXPECT_GE(scalars[i].wall_time, before - 2);
    EXPECT_LE(scalars[i].wall_time, after + 2);
  }
}

TEST(TensorBoard, FirstRecordIsTheFileVersion) {
  Scratch scratch("file-version");
  train::TensorBoardWriter writer(scratch.dir);
  std::string bytes = read_file(writer.path());  // the constructor wrote it
  ASSERT_GE(bytes.size(), 16u);
  std::uint64_t length = 0;
  for (int i = 0; i < 8; ++i) length |= std::uint64_t(std::uint8_t(bytes[i])) << (8 * i);
  ASSERT_EQ(bytes.size(), 16 + length);  // one record, nothing else
  EXPECT_EQ(bytes.substr(8, 4), fixed(train::masked_crc32c(bytes.data(), 8), 4));
  std::string data = bytes.substr(12, length);
  EXPECT_EQ(bytes.substr(12 + length), fixed(train::masked_crc32c(data.data(), length), 4));
  // file_version = 3, length-delimited
  EXPECT_NE(data.find(length_delimited(3, "brain.Event:2")), std::string::npos);
  EXPECT_TRUE(train::read_tensorboard_scalars(writer.path()).empty());
}

TEST(TensorBoard, FlushMakesScalarsVisibleAndEachWriterHasItsOwnFile) {
  Scratch scratch("flush");
  train::TensorBoardWriter first(scratch.dir), second(scratch.dir);
  EXPECT_NE(first.path(), second.path());
  first.scalar("a", 1, 1);
  second.scalar("b", 2, 1);
  first.flush();
  second.flush();
  auto scalars = train::read_tensorboard_scalars(first.path());
  ASSERT_EQ(scalars.size(), 1u);
  EXPECT_EQ(scalars[0].tag, "a");
  scalars = train::read_tensorboard_scalars(second.path());
  ASSERT_EQ(scalars.size(), 1u);
  EXPECT_EQ(scalars[0].tag, "b");
}

TEST(TensorBoard, LargeStepsUnicodeTagsAndExtremeValuesRoundTrip) {
  Scratch scratch("extremes");
  const std::int64_t big = std::int64_t(1) << 40;
  const std::vector<std::pair<std::string, std::int64_t>> tags = {
      {"損失/訓練", big},
      {"λ → θ ✓", -1},
      {"émoji 😀", std::numeric_limits<std::int64_t>::max()},
      {"", std::numeric_limits<std::int64_t>::min()},
  };
  const std::vector<double> values = {
      -1.5, -3.4e38, -1e-45, -0.0, 0.1, -1e300, -std::numeric_limits<double>::infinity()};
  fs::path file;
  {
    train::TensorBoardWriter writer(scratch.dir);
    file = writer.path();
    for (auto& [tag, step] : tags)
      for (double v : values) writer.scalar(tag, v, step);
    writer.scalar("nan", std::nan(""), big);
  }
  auto scalars = train::read_tensorboard_scalars(file);
  ASSERT_EQ(scalars.size(), tags.size() * values.size() + 1);
  std::size_t i = 0;
  for (auto& [tag, step] : tags) {
    for (double v : values) {
      EXPECT_EQ(scalars[i].tag, tag);
      EXPECT_EQ(scalars[i].step, step);
      EXPECT_EQ(std::bit_cast<std::uint32_t>(scalars[i].value),
                std::bit_cast<std::uint32_t>(float(v)))
          << tag << " " << v;  // the sign of -0 and the denormal too
      ++i;
    }
  }
  EXPECT_TRUE(std::isnan(scalars[i].value));
}

TEST(TensorBoard, TagThatIsNotUtf8IsAValueErrorAndWritesNothing) {
  Scratch scratch("utf8");
  train::TensorBoardWriter writer(scratch.dir);
  for (std::string tag : {"\xff", "loss\xc0\x80", "\xed\xa0\x80", "\xe6\x90", "\xf4\x90\x80\x80"})
    EXPECT_THROW(writer.scalar(tag, 1, 1), ValueError) << tag;
  writer.flush();
  EXPECT_TRUE(train::read_tensorboard_scalars(writer.path()).empty());
}

TEST(TensorBoard, DirectoryThatIsAFileIsAnIOError) {
  Scratch scratch("not-a-directory");
  fs::path file = scratch.dir / "plain";
  write_file(file, "x");
  try {
    train::TensorBoardWriter writer(file);
    ADD_FAILURE() << "no exception";
  } catch (const IOError& e) {
    std::string message = e.what();
    EXPECT_NE(message.find(file.string()), std::string::npos) << message;
    EXPECT_NE(message.find("not a directory"), std::string::npos) << message;
  }
  try {
    train::TensorBoardWriter writer(file / "below");
    ADD_FAILURE() << "no exception";
  } catch (const IOError& e) {
    std::string message = e.what();
    EXPECT_NE(message.find("cannot create"), std::string::npos) << message;
    EXPECT_NE(message.find((file / "below").string()), std::string::npos) << message;
  }
  EXPECT_EQ(read_file(file), "x");
}

TEST(TensorBoard, FileEndingMidRecordIsAnIOErrorNamingTheOffset) {
  Scratch scratch("torn");
  ThreeScalars run = three_scalars(scratch.dir);
  std::string at = "byte " + std::to_string(run.last_record);
  // Inside the last record's header, inside its data, and inside its data CRC.
  for (std::uint64_t size : {run.last_record + 5, run.last_record + 14, run.bytes.size() - 1}) {
    write_file(run.file, run.bytes.substr(0, size));
    expect_read_error(run.file, {run.file.string(), "ends inside the record", at});
  }
  write_file(run.file, run.bytes.substr(0, run.last_record));  // cut between records
  EXPECT_EQ(train::read_tensorboard_scalars(run.file).size(), 2u);
}

TEST(TensorBoard, FlippedDataByteFailsTheDataCrc) {
  Scratch scratch("data-crc");
  ThreeScalars run = three_scalars(scratch.dir);
  std::string bytes = run.bytes;
  bytes[run.last_record + 12 + 3] ^= 0x10;
  write_file(run.file, bytes);
  expect_read_error(run.file, {run.file.string(), "data CRC mismatch",
                               "byte " + std::to_string(run.last_record)});
}

TEST(TensorBoard, FlippedLengthByteFailsTheLengthCrc) {
  Scratch scratch("length-crc");
  ThreeScalars run = three_scalars(scratch.dir);
  // The low byte, and the high one: a length of petabytes is caught before it is believed.
  for (std::uint64_t at : {run.last_record, run.last_record + 7}) {
    std::string bytes = run.bytes;
    bytes[at] ^= 0x40;
    write_file(run.file, bytes);
    expect_read_error(run.file, {run.file.string(), "length CRC mismatch",
                                 "byte " + std::to_string(run.last_record)});
  }
}

TEST(TensorBoard, EmptyFileHasNoScalarsAndAMissingOneIsAnIOError) {
  Scratch scratch("empty");
  fs::path file = scratch.dir / "events.out.tfevents.empty";
  write_file(file, "");
  EXPECT_TRUE(train::read_tensorboard_scalars(file).empty());
  expect_read_error(scratch.dir / "missing", {(scratch.dir / "missing").string()});
}

TEST(TensorBoard, UnknownFieldsOfEveryWireTypeAreSkipped) {
  float a = -2.5f, b = 7.0f;
  std::string value_a = length_delimited(1, "a") + key(2, 5) +
                        fixed(std::bit_cast<std::uint32_t>(a), 4) +
                        length_delimited(7, "node name");
  std::string image = length_delimited(1, "picture") + length_delimited(4, "not a scalar");
  std::string value_b = key(2, 5) + fixed(std::bit_cast<std::uint32_t>(b), 4) +
                        length_delimited(1, "b");  // the order of fields is open
  std::string summary = length_delimited(1, value_a) + length_delimited(1, image) + key(9, 0) +
                        varint(5) + length_delimited(1, value_b);
  std::string event = key(1, 1) + fixed(std::bit_cast<std::uint64_t>(123.5), 8);
  event += key(9, 0) + varint(99);           // unknown fields: a varint,
  event += key(10, 5) + fixed(1, 4);         // a fixed32,
  event += key(11, 1) + fixed(2, 8);         // a fixed64,
  event += length_delimited(12, "unknown");  // bytes,
  event += key(13, 3) + key(1, 0) + varint(1) + key(14, 3) + key(14, 4) + key(13, 4);  // groups
  event += length_delimited(5, summary);
  event += key(2, 0) + varint(42);  // the step after the summary
  Scratch scratch("unknown-fields");
  fs::path file = scratch.dir / "events";
  write_file(file, frame(length_delimited(3, "brain.Event:2")) + frame(event));
  auto scalars = train::read_tensorboard_scalars(file);
  ASSERT_EQ(scalars.size(), 2u);
  EXPECT_EQ(scalars[0].tag, "a");
  EXPECT_EQ(scalars[0].value, a);
  EXPECT_EQ(scalars[1].tag, "b");
  EXPECT_EQ(scalars[1].value, b);
  for (auto& s : scalars) {
    EXPECT_EQ(s.step, 42);
    EXPECT_EQ(s.wall_time, 123.5);
  }
}

TEST(TensorBoard, MalformedEventIsAnIOErrorNotAnOverread) {
  Scratch scratch("malformed");
  fs::path file = scratch.dir / "events";
  const std::string ok = frame(length_delimited(3, "brain.Event:2"));
  const std::string record_at = "byte " + std::to_string(ok.size());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {key(2, 0) + std::string(10, '\xff') + "\x01", "overflows 64 bits"},
      {key(2, 0) + "\xff", "ends inside a varint"},
      {key(1, 1) + "\x01\x02", "ends inside a fixed-size field"},
      {length_delimited(5, "abcde").substr(0, 4), "runs past the end"},
      {key(5, 2) + varint(std::uint64_t(1) << 63), "runs past the end"},
      // A value whose length runs past its summary, though not past the event.
      {key(5, 2) + varint(3) + key(1, 2) + varint(5) + "x" + length_delimited(12, "padding"),
       "runs past the end"},
      {key(3, 6), "wire type 6"},
      {key(3, 7), "wire type 7"},
      {std::string(1, '\0'), "field number 0"},
      {key(13, 3) + key(1, 0) + varint(1), "does not end"},
      {key(13, 3) + key(12, 4), "ends with another's number"},
      {key(13, 4), "did not start"},
  };
  for (auto& [event, what] : cases) {
    write_file(file, ok + frame(event));
    expect_read_error(file, {file.string(), "malformed event", record_at, what});
  }
  std::string nested;
  for (int i = 0; i < 100; ++i) nested += key(13, 3);
  write_file(file, ok + frame(nested));
  expect_read_error(file, {file.string(), record_at, "nested"});
}
