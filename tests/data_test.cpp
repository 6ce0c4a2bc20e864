#include <unistd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <fstream>
#include <numeric>

#include <zlib.h>

#include "op_check.hpp"

using namespace ct;
using namespace ct::testing;
namespace fs = std::filesystem;

namespace {

/// An IDX header of unsigned bytes with these dimensions (big-endian, as the format has them).
std::vector<std::uint8_t> idx_header(std::initializer_list<std::uint32_t> dims) {
  std::vector<std::uint8_t> b = {0, 0, 8, std::uint8_t(dims.size())};
  for (std::uint32_t d : dims)
    for (int shift : {24, 16, 8, 0}) b.push_back(std::uint8_t(d >> shift));
  return b;
}

std::vector<std::uint8_t> idx_images(std::uint32_t count, std::uint32_t h, std::uint32_t w) {
  std::vector<std::uint8_t> b = idx_header({count, h, w});
  for (std::uint32_t i = 0; i < count * h * w; ++i) b.push_back(std::uint8_t(i * 7));
  return b;
}

/// gzip of `size` zero bytes, made a megabyte at a time: 200 MB come to about 200 KB.
std::vector<std::uint8_t> gzip_bomb(std::size_t size) {
  z_stream s{};
  deflateInit2(&s, 9, Z_DEFLATED, 15 + 16, 8, Z_RLE);  // runs are all there is: the fast way
  std::vector<std::uint8_t> zeros(1 << 20), out, chunk(1 << 16);
  for (std::size_t left = size;;) {
    std::size_t n = std::min(left, zeros.size());
    left -= n;
    s.next_in = zeros.data();
    s.avail_in = uInt(n);
    int flush = left == 0 ? Z_FINISH : Z_NO_FLUSH;
    int status;
    do {
      s.next_out = chunk.data();
      s.avail_out = uInt(chunk.size());
      status = deflate(&s, flush);
      out.insert(out.end(), chunk.data(), chunk.data() + (chunk.size() - s.avail_out));
    } while (s.avail_out == 0);
    if (status == Z_STREAM_END) break;
  }
  deflateEnd(&s);
  return out;
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif
#else
constexpr bool kAddressSanitizer = false;
#endif

/// Runs `body` in a child process allowed only `extra` more bytes of address space than this
/// one has now; true when it returned normally (an allocation past the limit throws bad_alloc,
/// which ends the child).
bool runs_within(std::size_t extra, const std::function<void()>& body) {
  std::ifstream status("/proc/self/status");
  std::size_t used_kb = 0;
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmSize:", 0) == 0) used_kb = std::stoul(line.substr(7));
  rlimit limit{used_kb * 1024 + extra, used_kb * 1024 + extra};
  return succeeds_in_child([&] { return setrlimit(RLIMIT_AS, &limit) == 0; }, body);
}

std::vector<std::uint8_t> gzip(const std::vector<std::uint8_t>& raw) {
  z_stream s{};
  deflateInit2(&s, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::vector<std::uint8_t> out(deflateBound(&s, raw.size()) + 64);
  s.next_in = const_cast<Bytef*>(raw.data());
  s.avail_in = uInt(raw.size());
  s.next_out = out.data();
  s.avail_out = uInt(out.size());
  deflate(&s, Z_FINISH);
  out.resize(s.total_out);
  deflateEnd(&s);
  return out;
}

void write(const fs::path& p, const std::vector<std::uint8_t>& bytes) {
  std::ofstream(p, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

/// The fault-injecting HTTP server of support/http_server.py, on a free loopback port.
class LocalServer {
 public:
  explicit LocalServer(const fs::path& root) {
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe");
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      close(out[0]);
      std::string script = std::string(COTANGENT_TEST_SUPPORT) + "/http_server.py";
      execlp("python3", "python3", script.c_str(), root.c_str(), "60", nullptr);
      _exit(127);
    }
    close(out[1]);
    char line[32] = {};
    std::size_t got = 0;
    while (got < sizeof(line) - 1 &&
           !std::memchr(line, '\n', got)) {  // the whole line, however it arrives
      ssize_t n = read(out[0], line + got, sizeof(line) - 1 - got);
      if (n <= 0) break;
      got += std::size_t(n);
    }
    close(out[0]);
    if (!std::memchr(line, '\n', got))
      throw std::runtime_error("the test HTTP server did not start (is python3 installed?)");
    url_ = "http://127.0.0.1:" + std::string(line, std::strcspn(line, "\n")) + "/";
  }
  ~LocalServer() {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  std::string url(const std::string& mode) const { return url_ + mode + "/"; }

 private:
  pid_t pid_;
  std::string url_;
};

}  // namespace

TEST(Data, IdxRawAndGzip) {
  auto raw = idx_images(3, 2, 2);
  auto idx = data::parse_idx(raw, "x");
  EXPECT_EQ(idx.dims, (std::vector<std::int64_t>{3, 2, 2}));
  EXPECT_EQ(idx.values.size(), 12u);
  auto dir = scratch_directory("idx");
  write(dir / "a.gz", gzip(raw));
  EXPECT_EQ(data::read_file(dir / "a.gz"), raw);
  fs::remove_all(dir);
}

TEST(Data, CorruptFilesAreNamedErrors) {
  auto raw = idx_images(3, 2, 2);
  for (std::size_t cut : {0ul, 3ul, 10ul, raw.size() - 1}) {
    std::vector<std::uint8_t> t(raw.begin(), raw.begin() + std::ptrdiff_t(cut));
    expect_error<IOError>([&] { data::parse_idx(t, "train-images"); }, {"train-images"});
  }
  auto extra = raw;
  extra.push_back(0);
  expect_error<IOError>([&] { data::parse_idx(extra, "f"); }, {"promises 12 values", "holds 13"});
  auto bad_magic = raw;
  bad_magic[0] = 1;
  expect_error<IOError>([&] { data::parse_idx(bad_magic, "f"); }, {"magic"});
  auto gz = gzip(raw);
  std::vector<std::uint8_t> truncated(gz.begin(), gz.begin() + std::ptrdiff_t(gz.size() / 2));
  expect_error<IOError>([&] { data::gunzip(truncated, "f.gz"); }, {"f.gz", "truncated"});
  auto flipped = gz;
  flipped[gz.size() / 2] ^= 0xff;
  expect_error<IOError>([&] { data::gunzip(flipped, "f.gz"); }, {"f.gz"});
}

TEST(Data, AtomicWriteReplacesWholeFile) {
  auto dir = scratch_directory("atomic");
  std::string a(1000, 'a'), b(10, 'b');
  data::write_file_atomically(dir / "f", a.data(), a.size());
  data::write_file_atomically(dir / "f", b.data(), b.size());
  EXPECT_EQ(data::read_file(dir / "f").size(), 10u);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()),
            1);  // no temporaries left
  fs::remove_all(dir);
}

TEST(Data, DownloadsVerifyAndCacheAndReportEachFault) {
  auto served = scratch_directory("served"), cache = scratch_directory("cache");
  auto raw = idx_images(50, 28, 28);
  write(served / "images.gz", gzip(raw));
  setenv("XDG_CACHE_HOME", cache.c_str(), 1);
  LocalServer server(served);
  data::RemoteFile file{"images", {}, ".gz", raw.size(), data::sha256_hex(raw.data(), raw.size())};
  data::FetchOptions options;
  options.progress = false;
  options.timeout_seconds = 2;

  // Each faulty mirror is reported, and nothing is cached from it.
  file.mirrors = {server.url("cut"), server.url("wrong"), server.url("missing"),
                  "http://127.0.0.1:1/"};
  try {
    data::fetch("test", file, options);
    ADD_FAILURE() << "no error";
  } catch (const IOError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("images (test)"), std::string::npos) << m;
    EXPECT_NE(m.find("cut/images.gz"), std::string::npos) << m;    // cut transfer
    EXPECT_NE(m.find("wrong/images.gz"), std::string::npos) << m;  // wrong bytes
    EXPECT_NE(m.find("404"), std::string::npos) << m;              // missing
    EXPECT_NE(m.find("127.0.0.1:1/"), std::string::npos) << m;     // unreachable
  }
  EXPECT_FALSE(fs::exists(data::cache_directory() / "test" / "images"));

  // A stalled transfer times out instead of hanging.
  file.mirrors = {server.url("slow")};
  auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(data::fetch("test", file, options), IOError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));

  // The first good mirror wins, the file is cached, and the cache serves it offline.
  file.mirrors = {server.url("wrong"), server.url("good")};
  EXPECT_EQ(data::fetch("test", file, options), raw);
  EXPECT_TRUE(fs::exists(data::cache_directory() / "test" / "images"));
  options.download = false;
  EXPECT_EQ(data::fetch("test", file, options), raw);

  // A corrupted cache entry is not trusted.
  auto bad = raw;
  bad[100] ^= 1;
  write(data::cache_directory() / "test" / "images", bad);
  expect_error<IOError>([&] { data::fetch("test", file, options); }, {"SHA-256", "does not match"});
  unsetenv("XDG_CACHE_HOME");
  fs::remove_all(served);
  fs::remove_all(cache);
}

TEST(Data, BatchingAndShuffling) {
  data::ByteSamples s;
  s.count = 10, s.height = 1, s.width = 2, s.channels = 1;
  for (int i = 0; i < 10; ++i)
    s.images.insert(s.images.end(), {std::uint8_t(i), std::uint8_t(255)}),
        s.labels.push_back(i % 10);
  data::Dataset ds(s, s, 4, 7);
  auto epochs = ds.training_epochs(2);
  EXPECT_EQ(epochs[0].batch_count(), 2);  // 10 / 4, remainder dropped
  std::vector<std::int32_t> seen;
  for (auto& [x, y] : epochs[0]) {
    EXPECT_EQ(x.shape(), (Shape{4, 1, 2, 1}));
    for (auto l : y.scalars()) seen.push_back(l);
    auto v = x.scalars();
    for (std::size_t i = 0; i < 4; ++i)
      EXPECT_FLOAT_EQ(v[2 * i + 1], 1.0f);  // bytes scaled to [0, 1]
  }
  EXPECT_EQ(seen.size(), 8u);
  EXPECT_NE(epochs[0].order(), epochs[1].order());                    // reshuffled each epoch
  EXPECT_EQ(ds.training_epochs(1, 1)[0].order(), epochs[1].order());  // and reproducibly
  std::int64_t n = 0;
  for (auto& [x, y] : ds.validation()) n += x.shape(0);
  EXPECT_EQ(n, 10);  // validation keeps every sample, in order
  auto first = ds.validation().batch(0).label.scalars();
  EXPECT_EQ(first, (std::vector<std::int32_t>{0, 1, 2, 3}));
}

TEST(Data, Cifar10Records) {
  std::vector<std::uint8_t> bytes;
  for (int r = 0; r < 2; ++r) {
    bytes.push_back(std::uint8_t(r + 3));
    for (int c = 0; c < 3; ++c)
      for (int p = 0; p < 1024; ++p) bytes.push_back(std::uint8_t(c * 10 + r));
  }
  auto s = data::parse_cifar10(bytes, "data_batch_1.bin");
  EXPECT_EQ(s.count, 2);
  EXPECT_EQ(s.labels, (std::vector<std::int32_t>{3, 4}));
  EXPECT_EQ(s.images[5 * 3 + 2], 20);           // record 0, pixel 5, channel 2: CHW became HWC
  EXPECT_EQ(s.images[(1024 + 5) * 3 + 1], 11);  // record 1, pixel 5, channel 1
  bytes.pop_back();
  expect_error<IOError>([&] { data::parse_cifar10(bytes, "data_batch_1.bin"); },
                        {"data_batch_1.bin", "whole number"});
}

TEST(Data, GzipBombsStopAtTheExpectedSize) {
  auto bomb = gzip_bomb(200u << 20);
  ASSERT_LT(bomb.size(), 1u << 20);
  auto start = std::chrono::steady_clock::now();
  expect_error<IOError>([&] { data::gunzip(bomb, "bomb.gz", 1000); },
                        {"bomb.gz", "inflates past 1000 bytes"});
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(200));

  // In the data directory and in the cache alike, the file is bounded by its published size.
  auto dir = scratch_directory("bomb"), cache = scratch_directory("bomb-cache");
  setenv("XDG_CACHE_HOME", cache.c_str(), 1);
  data::RemoteFile file{"images", {}, ".gz", 1 << 20, std::string(64, '0')};
  data::FetchOptions options;
  options.download = false;
  fs::create_directories(data::cache_directory() / "test");
  write(data::cache_directory() / "test" / "images.gz", bomb);
  expect_error<IOError>([&] { data::fetch("test", file, options); },
                        {"images.gz", "inflates past 1048576 bytes"});
  write(dir / "images", bomb);
  options.directory = dir;
  expect_error<IOError>([&] { data::fetch("test", file, options); },
                        {(dir / "images").string(), "inflates past 1048576 bytes"});
  // More gzip than any file of that size needs is not even read.
  file.size = 1000;
  expect_error<IOError>([&] { data::fetch("test", file, options); },
                        {(dir / "images").string(), "more than gzip needs"});
  file.size = 1 << 20;
  // Without allocating the 200 MB it inflates to.
  if (!kAddressSanitizer)
    EXPECT_TRUE(runs_within(64u << 20, [&] {
      try {
        data::fetch("test", file, options);
      } catch (const IOError& e) {
        if (std::string(e.what()).find("inflates past") != std::string::npos) return;
      }
      throw std::runtime_error("not the bounded error");
    }));
  unsetenv("XDG_CACHE_HOME");
  fs::remove_all(dir);
  fs::remove_all(cache);
}

TEST(Data, AFileTooLargeForMemoryIsANamedError) {
  if (kAddressSanitizer) GTEST_SKIP() << "AddressSanitizer reserves address space up front";
  auto dir = scratch_directory("too-large");
  fs::path sparse = dir / "sparse.bin", bomb = dir / "bomb.gz";
  std::ofstream(sparse).close();
  fs::resize_file(sparse, 256u << 20);  // sparse: no disk, but 256 MB to hold
  write(bomb, gzip_bomb(200u << 20));
  auto named_error = [](const std::function<void()>& read, const std::string& path) {
    try {
      read();
    } catch (const IOError& e) {
      std::string m = e.what();
      if (m.find(path) != std::string::npos && m.find("out of memory") != std::string::npos) return;
      throw std::runtime_error(m);
    }
    throw std::runtime_error("no error");
  };
  EXPECT_TRUE(runs_within(64u << 20, [&] {
    named_error([&] { data::read_bytes(sparse); }, sparse.string());
    named_error([&] { data::read_file(bomb); }, bomb.string());  // no size bound given
  }));
  fs::remove_all(dir);
}

TEST(Data, EndlessOrOversizedDownloadsAreCutOff) {
  auto served = scratch_directory("served-endless"), cache = scratch_directory("cache-endless");
  auto raw = idx_images(2, 4, 4);
  write(served / "images.gz", gzip(raw));
  setenv("XDG_CACHE_HOME", cache.c_str(), 1);
  LocalServer server(served);
  auto start = std::chrono::steady_clock::now();
  std::string endless = server.url("endless") + "images.gz";
  expect_error<IOError>([&] { data::download(endless, 5, {}, 1 << 20); },
                        {endless, "longer than the limit of 1048576 bytes"});
  // A Content-Length past the limit is refused before the body.
  std::string huge = server.url("huge") + "images.gz";
  expect_error<IOError>([&] { data::download(huge, 5, {}, 1 << 20); },
                        {huge, "longer than the limit of 1048576 bytes"});
  // fetch bounds each download by the file's size.
  data::RemoteFile file{"images",
                        {server.url("endless")},
                        ".gz",
                        raw.size(),
                        data::sha256_hex(raw.data(), raw.size())};
  data::FetchOptions options;
  options.progress = false;
  options.timeout_seconds = 5;
  expect_error<IOError>([&] { data::fetch("test", file, options); }, {endless, "limit of"});
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  // A good mirror after them still serves the file.
  file.mirrors = {server.url("huge"), server.url("endless"), server.url("good")};
  EXPECT_EQ(data::fetch("test", file, options), raw);
  unsetenv("XDG_CACHE_HOME");
  fs::remove_all(served);
  fs::remove_all(cache);
}

TEST(Data, ADirectoryWhereAFileBelongsIsANamedError) {
  auto dir = scratch_directory("dir-as-file"), cache = scratch_directory("cache-dir-as-file");
  fs::create_directories(dir / "images");
  expect_error<IOError>([&] { data::read_bytes(dir / "images"); },
                        {(dir / "images").string(), "is a directory"});
  expect_error<IOError>([&] { data::read_file(dir / "images"); }, {"is a directory"});
  expect_error<IOError>([&] { io::load_safetensors(dir / "images"); }, {"is a directory"});
  setenv("XDG_CACHE_HOME", cache.c_str(), 1);
  data::RemoteFile file{"images", {}, ".gz", 16, std::string(64, '0')};
  data::FetchOptions options;
  options.download = false;
  options.directory = dir;
  expect_error<IOError>([&] { data::fetch("test", file, options); },
                        {(dir / "images").string(), "is a directory"});
  unsetenv("XDG_CACHE_HOME");
  fs::remove_all(dir);
  fs::remove_all(cache);
}

TEST(Data, ARejectedFileInTheDataDirectoryIsNotSwappedForTheCache) {
  auto dir = scratch_directory("named"), cache = scratch_directory("cache-named");
  auto raw = idx_images(3, 4, 4);
  setenv("XDG_CACHE_HOME", cache.c_str(), 1);
  fs::create_directories(data::cache_directory() / "test");
  write(data::cache_directory() / "test" / "images", raw);  // a good copy the fetch could take
  data::RemoteFile file{"images", {}, ".gz", raw.size(), data::sha256_hex(raw.data(), raw.size())};
  data::FetchOptions options;
  options.download = false;
  options.directory = dir;
  EXPECT_EQ(data::fetch("test", file, options), raw);  // absent from the directory: the cache

  auto short_copy = raw;
  short_copy.pop_back();
  write(dir / "images", short_copy);
  expect_error<IOError>([&] { data::fetch("test", file, options); },
                        {(dir / "images").string(), "rejected", "expected 64"});
  auto flipped = raw;
  flipped[40] ^= 1;
  write(dir / "images", flipped);
  expect_error<IOError>([&] { data::fetch("test", file, options); },
                        {(dir / "images").string(), "rejected", "SHA-256"});
  fs::remove(dir / "images");
  auto gz = gzip(raw);
  write(dir / "images.gz", std::vector<std::uint8_t>(gz.begin(), gz.begin() + 20));
  expect_error<IOError>([&] { data::fetch("test", file, options); },
                        {(dir / "images.gz").string(), "rejected", "truncated"});
  // $COTANGENT_DATA names the directory just as the option does.
  options.directory.clear();
  setenv("COTANGENT_DATA", dir.c_str(), 1);
  expect_error<IOError>([&] { data::fetch("test", file, options); }, {"rejected"});
  unsetenv("COTANGENT_DATA");
  EXPECT_EQ(data::fetch("test", file, options), raw);
  unsetenv("XDG_CACHE_HOME");
  fs::remove_all(dir);
  fs::remove_all(cache);
}

TEST(Data, IdxHeadersAreCheckedBeforeTheyOverflow) {
  // 2^20 · 2^20 · 2^24 = 2^64 wraps to 0: an empty body would match it.
  expect_error<IOError>(
      [&] {
        data::parse_idx(idx_header({1u << 20, 1u << 20, 1u << 24}), "f");
      },
      {"f", "implausibly large"});
  expect_error<IOError>(
      [&] {
        data::parse_idx(idx_header({0xffffffffu, 0xffffffffu, 0xffffffffu, 2}), "f");
      },
      {"implausibly large"});
  // No images, but an image size that could never be allocated.
  expect_error<IOError>(
      [&] {
        data::parse_idx(idx_header({0, 1u << 31, 1u << 31}), "f");
      },
      {"implausibly large"});
  expect_error<IOError>(
      [&] {
        data::parse_idx(idx_header({5, 28, 28}), "f");
      },
      {"promises 3920 values", "holds 0"});
  EXPECT_EQ(data::parse_idx(idx_header({0, 28, 28}), "f").dims,
            (std::vector<std::int64_t>{0, 28, 28}));
  auto floats = idx_images(1, 2, 2);
  floats[2] = 0x0d;
  expect_error<IOError>([&] { data::parse_idx(floats, "f"); },
                        {"IDX data type 0x0d", "expected unsigned byte (0x08)"});
}

namespace {
data::Dataset small_dataset(int count, std::int64_t batch_size, std::uint64_t seed) {
  data::ByteSamples s;
  s.count = count, s.height = 1, s.width = 1, s.channels = 1;
  for (int i = 0; i < count; ++i) s.images.push_back(std::uint8_t(i)), s.labels.push_back(i % 10);
  return data::Dataset(s, s, batch_size, seed);
}
}  // namespace

TEST(Data, BatchesPastTheEndAreIndexErrors) {
  auto ds = small_dataset(10, 4, 1);
  auto epoch = ds.training_epochs(1)[0];
  ASSERT_EQ(epoch.batch_count(), 2);
  EXPECT_NO_THROW(epoch.batch(1));
  for (std::int64_t i : {2, 3, -1})
    expect_error<IndexError>([&] { epoch.batch(i); }, {"batch " + std::to_string(i),
                                                       "past the end of the epoch (2 batches)"});
  expect_error<IndexError>([&] { ds.validation().batch(3); }, {"(3 batches)"});
  expect_error<IndexError>([&] { ds.training_epochs(2)[2]; }, {"epoch 2", "(2 epochs)"});
}

TEST(Data, TrainingEpochsAreBuiltWhenReached) {
  auto ds = small_dataset(1000, 10, 5);
  // A million epochs' orders would take 8 GB up front; built lazily they take one epoch's.
  auto start = std::chrono::steady_clock::now();
  std::vector<std::vector<std::int64_t>> orders;
  auto many = ds.training_epochs(1'000'000);
  EXPECT_EQ(many.size(), 1'000'000);
  for (auto& epoch : many) {
    orders.push_back(epoch.order());
    if (orders.size() == 3) break;
  }
  for (auto [i, epoch] : enumerate(ds.training_epochs(1'000'000, 1))) {  // lazy as well
    EXPECT_EQ(epoch.order(), orders[std::size_t(i) + 1]);
    if (i == 1) break;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  if (!kAddressSanitizer)
    EXPECT_TRUE(runs_within(64u << 20, [&] {
      auto more = ds.training_epochs(1'000'000);
      std::int64_t epochs = 0, batches = 0;
      for (auto it = more.begin(); it != more.end() && epochs < 5; ++it, ++epochs)
        batches += it->batch_count();
      if (batches != 500) throw std::runtime_error("wrong batch count");
    }));

  // The same orders as a short run, and as they have always been (the first indices of epochs
  // 0 and 2 for seed 5, written down): a checkpoint resumes into the order it was saved in.
  const std::map<std::int64_t, std::vector<std::int64_t>> recorded{
      {0, {189, 316, 321, 705, 602, 335, 69, 638}}, {2, {790, 642, 209, 117, 835, 719, 176, 715}}};
  std::int64_t e = 0;
  for (auto& epoch : ds.training_epochs(3)) {
    auto order = epoch.order();
    EXPECT_EQ(order, orders[std::size_t(e)]) << "epoch " << e;
    if (recorded.count(e))
      EXPECT_EQ(std::vector<std::int64_t>(order.begin(), order.begin() + 8), recorded.at(e))
          << "epoch " << e;
    ++e;
  }
  EXPECT_EQ(e, 3);
  EXPECT_EQ(ds.training_epochs(0).begin(), ds.training_epochs(0).end());
  expect_error<ValueError>([&] { ds.training_epochs(2, -1); }, {"negative"});
}
