// report.html and the PNG images in it, checked as text (tests/support/report_check.sh renders
// the page in a browser).
#include <gtest/gtest.h>
#include <zlib.h>

#include <cotangent/data/datasets.hpp>
#include <cotangent/io/png.hpp>
#include <cotangent/train/report.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace ct;

namespace {
std::uint32_t be32(const std::vector<std::uint8_t>& b, std::size_t at) {
  return std::uint32_t(b[at]) << 24 | std::uint32_t(b[at + 1]) << 16 |
         std::uint32_t(b[at + 2]) << 8 | b[at + 3];
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}
}  // namespace

TEST(Png, ChunksCarryTheirCrcsAndTheRowsInflateToThePixels) {
  std::vector<std::uint8_t> pixels(5 * 3 * 3);
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = std::uint8_t(i * 7);
  auto png = io::encode_png(pixels.data(), 5, 3, 3);
  ASSERT_EQ(std::vector<std::uint8_t>(png.begin(), png.begin() + 8),
            (std::vector<std::uint8_t>{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}));
  std::vector<std::string> types;
  std::vector<std::uint8_t> idat;
  for (std::size_t at = 8; at < png.size();) {
    std::uint32_t length = be32(png, at);
    std::string type(png.begin() + long(at) + 4, png.begin() + long(at) + 8);
    types.push_back(type);
    std::uint32_t crc = std::uint32_t(crc32(0, png.data() + at + 4, length + 4));
    EXPECT_EQ(be32(png, at + 8 + length), crc) << type;
    if (type == "IHDR") {
      EXPECT_EQ(be32(png, at + 8), 5u);
      EXPECT_EQ(be32(png, at + 12), 3u);
      EXPECT_EQ(png[at + 16], 8);  // bits per sample
      EXPECT_EQ(png[at + 17], 2);  // RGB
    }
    if (type == "IDAT")
      idat.assign(png.begin() + long(at) + 8, png.begin() + long(at) + 8 + length);
    at += 12 + length;
  }
  EXPECT_EQ(types, (std::vector<std::string>{"IHDR", "IDAT", "IEND"}));
  std::vector<std::uint8_t> rows(3 * (1 + 15));
  uLongf size = rows.size();
  ASSERT_EQ(uncompress(rows.data(), &size, idat.data(), uLong(idat.size())), Z_OK);
  ASSERT_EQ(size, rows.size());
  for (int y = 0; y < 3; ++y) {
    EXPECT_EQ(rows[std::size_t(y * 16)], 0);  // filter: none
    for (int i = 0; i < 15; ++i)
      EXPECT_EQ(rows[std::size_t(y * 16 + 1 + i)], pixels[std::size_t(y * 15 + i)]);
  }
}

TEST(Png, EmptyImagesAndOtherChannelCountsAreValueErrors) {
  std::uint8_t pixel[4] = {};
  EXPECT_THROW(io::encode_png(pixel, 0, 1, 1), ValueError);
  EXPECT_THROW(io::encode_png(pixel, 1, -1, 1), ValueError);
  EXPECT_THROW(io::encode_png(pixel, 1, 1, 2), ValueError);
  EXPECT_THROW(io::encode_png(nullptr, 1, 1, 1), ValueError);
}

TEST(Png, Base64MatchesRfc4648) {
  auto b = [](const std::string& s) { return io::base64({s.begin(), s.end()}); };
  EXPECT_EQ(b(""), "");
  EXPECT_EQ(b("f"), "Zg==");
  EXPECT_EQ(b("fo"), "Zm8=");
  EXPECT_EQ(b("foo"), "Zm9v");
  EXPECT_EQ(b("foobar"), "Zm9vYmFy");
  EXPECT_EQ(io::base64({0xfb, 0xff}), "+/8=");
}

TEST(HtmlReport, ShowsCurvesConfusionAndMistakesAndEscapesNames) {
  std::vector<train::EpochMetrics> metrics;
  for (int e = 1; e <= 3; ++e)
    metrics.push_back({.epoch = e,
                       .training_loss = 1.0 / e,
                       .training_accuracy = 0.5 + 0.1 * e,
                       .test_loss = e == 2 ? std::nan("") : 1.2 / e,
                       .test_accuracy = 0.4 + 0.1 * e,
                       .seconds = 1,
                       .images_per_second = 1000,
                       .learning_rate = 0.1});
  data::ByteSamples test(4, 2, 2, 1);
  test.images.assign(16, 200);
  test.labels = {0, 1, 2, 1};
  train::EvaluationDetails details;
  details.add({0, 1, 2, 1}, {0, 2, 2, 0}, 3, 0);
  EXPECT_EQ(details.confusion, (std::vector<std::int64_t>{1, 0, 0, 1, 0, 1, 0, 0, 1}));
  ASSERT_EQ(details.mistakes.size(), 2u);
  EXPECT_EQ(details.mistakes[1].index, 3);
  EXPECT_EQ(details.mistakes[1].predicted, 0);

  train::RunDescription run{.model = "<script>alert(1)</script>", .dataset = "mnist"};
  run.status = "running";
  auto dir = std::filesystem::path(::testing::TempDir()) / "html-report";
  std::filesystem::create_directories(dir);
  train::write_html_report(dir / "report.html", metrics, run, &details, &test);
  std::string page = read_text(dir / "report.html");
  EXPECT_EQ(count(page, "<script"), 0u);
  EXPECT_NE(page.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_EQ(count(page, "class=\"chart\""), 4u);
  EXPECT_EQ(count(page, "class=\"curve\""), 6u);
  EXPECT_NE(page.find("http-equiv=\"refresh\""), std::string::npos);  // open while it runs
  EXPECT_EQ(count(page, "class=\"mistake\""), 2u);
  EXPECT_EQ(count(page, "data:image/png;base64,iVBORw0KGgo"), 2u);  // the PNG signature
  EXPECT_NE(page.find("class=\"confusion\""), std::string::npos);
  // The test loss that is not a number leaves a gap: two points on the first chart's test curve.
  auto curve = page.find("data-series=\"test\"");
  auto points = page.find("points=\"", curve) + 8;
  std::string coordinates = page.substr(points, page.find('"', points) - points);
  EXPECT_EQ(count(coordinates, ","), 2u) << coordinates;

  run.status = "completed";
  train::write_html_report(dir / "report.html", {}, run);  // no epochs yet: still a page
  page = read_text(dir / "report.html");
  EXPECT_EQ(page.find("http-equiv=\"refresh\""), std::string::npos);
  EXPECT_EQ(count(page, "class=\"chart\""), 4u);
  EXPECT_EQ(page.find("class=\"confusion\""), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(HtmlReport, MistakesOfAUsersSamplesShowWhenTheyAreImages) {
  train::EvaluationDetails details;
  details.add({0, 1}, {1, 0}, 2, 0);
  train::RunDescription run{.model = "mine", .dataset = "mine"};
  auto dir = std::filesystem::path(::testing::TempDir()) / "html-report-user";
  std::filesystem::create_directories(dir);
  // Normalised images (values outside [0, 1]) are drawn stretched; vectors are not images.
  data::TensorSamples images(Tensor<float>({-2, 0, 1, 3, 5, -1, 0, 2}, {2, 2, 2, 1}),
                             Tensor<std::int32_t>({0, 1}));
  train::write_html_report(dir / "report.html", {}, run, &details, &images);
  EXPECT_EQ(count(read_text(dir / "report.html"), "class=\"mistake\""), 2u);
  data::TensorSamples vectors(Tensor<float>({1, 2, 3, 4, 5, 6, 7, 8}, {2, 4}),
                              Tensor<std::int32_t>({0, 1}));
  train::write_html_report(dir / "report.html", {}, run, &details, &vectors);
  std::string page = read_text(dir / "report.html");
  EXPECT_EQ(count(page, "class=\"mistake\""), 0u);
  EXPECT_NE(page.find("class=\"confusion\""), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(HtmlReport, PredictionsOutsideTheClassesAreValueErrors) {
  train::EvaluationDetails details;
  EXPECT_THROW(details.add({0, 3}, {0, 1}, 3, 0), ValueError);
  EXPECT_THROW(details.add({0}, {0, 1}, 3, 0), ValueError);
  details.add({0}, {0}, 3, 0);
  EXPECT_THROW(details.add({0}, {0}, 4, 1), ValueError);  // another class count
}
