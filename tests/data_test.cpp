#include <unistd.h>
#include <signal.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <zlib.h>

#include "op_check.hpp"

using namespace ct;
using namespace ct::testing;
namespace fs = std::filesystem;

namespace {

std::vector<std::uint8_t> idx_images(std::uint32_t count, std::uint32_t h, std::uint32_t w) {
  std::vector<std::uint8_t> b = {0, 0, 8, 3};
  for (std::uint32_t d : {count, h, w})
    b.insert(b.end(),
             {std::uint8_t(d >> 24), std::uint8_t(d >> 16), std::uint8_t(d >> 8), std::uint8_t(d)});
  for (std::uint32_t i = 0; i < count * h * w; ++i) b.push_back(std::uint8_t(i * 7));
  return b;
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

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("cotangent-" + name + "-" + std::to_string(getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
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
  auto dir = temp_dir("idx");
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
  auto dir = temp_dir("atomic");
  std::string a(1000, 'a'), b(10, 'b');
  data::write_file_atomically(dir / "f", a.data(), a.size());
  data::write_file_atomically(dir / "f", b.data(), b.size());
  EXPECT_EQ(data::read_file(dir / "f").size(), 10u);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()),
            1);  // no temporaries left
  fs::remove_all(dir);
}

TEST(Data, DownloadsVerifyAndCacheAndReportEachFault) {
  auto served = temp_dir("served"), cache = temp_dir("cache");
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
  data::ImageDataset ds(s, s, 4, 7);
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
