// IDX reading: the real Fashion-MNIST test split, and hand-made files that are
// broken in one way each, which must all fail with an error naming the problem.
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sparq/error.hpp"
#include "sparq/idx.hpp"

namespace sparq {
namespace {

namespace fs = std::filesystem;

const fs::path kFashionDir = "/usr/share/datasets/fashion-mnist";

std::vector<uint8_t> big_endian(uint32_t v) {
  return {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
          static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
}

std::vector<uint8_t> image_file_bytes(uint32_t magic, uint32_t count, uint32_t rows, uint32_t cols,
                                      size_t pixel_bytes) {
  std::vector<uint8_t> bytes;
  for (uint32_t field : {magic, count, rows, cols}) {
    auto b = big_endian(field);
    bytes.insert(bytes.end(), b.begin(), b.end());
  }
  for (size_t i = 0; i < pixel_bytes; ++i) bytes.push_back(static_cast<uint8_t>(i * 7));
  return bytes;
}

std::vector<uint8_t> label_file_bytes(uint32_t count, std::vector<uint8_t> labels) {
  std::vector<uint8_t> bytes = big_endian(0x801);
  auto c = big_endian(count);
  bytes.insert(bytes.end(), c.begin(), c.end());
  bytes.insert(bytes.end(), labels.begin(), labels.end());
  return bytes;
}

class IdxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sparq_idx_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write_plain(const std::string& name, const std::vector<uint8_t>& bytes) {
    fs::path path = dir_ / name;
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    return path;
  }

  fs::path write_gz(const std::string& name, const std::vector<uint8_t>& bytes) {
    fs::path path = dir_ / name;
    gzFile f = gzopen(path.string().c_str(), "wb");
    EXPECT_NE(f, nullptr);
    EXPECT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
              static_cast<int>(bytes.size()));
    gzclose(f);
    return path;
  }

  static std::vector<uint8_t> read_all(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

  fs::path dir_;
};

// Runs `read` and checks it throws sparq::Error with `code` and a message
// containing `fragment`.
template <typename Fn>
void expect_error(Fn read, ErrorCode code, const std::string& fragment) {
  try {
    read();
    ADD_FAILURE() << "expected an error containing '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST_F(IdxTest, ReadsTheRealFashionMnistTestSplit) {
  const fs::path images = kFashionDir / "t10k-images-idx3-ubyte.gz";
  const fs::path labels = kFashionDir / "t10k-labels-idx1-ubyte.gz";
  if (!fs::exists(images) || !fs::exists(labels)) {
    GTEST_SKIP() << "dataset-fashion-mnist is not installed (scripts/install-deps.sh)";
  }
  IdxDataset data = read_idx_dataset(images, labels, 10);
  EXPECT_EQ(data.images.count, 10000);
  EXPECT_EQ(data.images.rows, 28);
  EXPECT_EQ(data.images.cols, 28);
  ASSERT_EQ(data.images.pixels.size(), 10000u * 28 * 28);
  ASSERT_EQ(data.labels.size(), 10000u);
  // The first test image of Fashion-MNIST is an ankle boot (class 9), the
  // second a pullover (2); the split is balanced, 1000 images per class.
  EXPECT_EQ(data.labels[0], 9);
  EXPECT_EQ(data.labels[1], 2);
  std::vector<int> per_class(10, 0);
  for (uint8_t l : data.labels) per_class[l]++;
  for (int c = 0; c < 10; ++c) EXPECT_EQ(per_class[c], 1000) << "class " << c;
  uint64_t sum = 0;
  for (uint8_t p : data.images.pixels) sum += p;
  EXPECT_GT(sum, 0u);
}

TEST_F(IdxTest, PlainAndGzipFilesReadTheSame) {
  auto bytes = image_file_bytes(0x803, 3, 2, 5, 30);
  IdxImages plain = read_idx_images(write_plain("a-idx3-ubyte", bytes));
  IdxImages gz = read_idx_images(write_gz("a-idx3-ubyte.gz", bytes));
  EXPECT_EQ(plain.count, 3);
  EXPECT_EQ(plain.rows, 2);
  EXPECT_EQ(plain.cols, 5);
  EXPECT_EQ(plain.pixels, std::vector<uint8_t>(bytes.begin() + 16, bytes.end()));
  EXPECT_EQ(gz.pixels, plain.pixels);
  auto labels = read_idx_labels(write_gz("l.gz", label_file_bytes(4, {3, 1, 4, 1})));
  EXPECT_EQ(labels, (std::vector<uint8_t>{3, 1, 4, 1}));
}

TEST_F(IdxTest, RejectsAMissingFile) {
  expect_error([&] { read_idx_images(dir_ / "nope.gz"); }, ErrorCode::kIo, "nope.gz");
}

TEST_F(IdxTest, RejectsWrongMagic) {
  auto labels_as_images = write_plain("l", label_file_bytes(2, {0, 1}));
  expect_error([&] { read_idx_images(labels_as_images); }, ErrorCode::kInvalidArgument,
               "bad magic number 0x00000801");
  auto images_as_labels = write_plain("i", image_file_bytes(0x803, 1, 2, 2, 4));
  expect_error([&] { read_idx_labels(images_as_labels); }, ErrorCode::kInvalidArgument,
               "bad magic number 0x00000803");
}

TEST_F(IdxTest, RejectsZeroAndAbsurdDimensions) {
  expect_error([&] { read_idx_images(write_plain("z", image_file_bytes(0x803, 0, 2, 2, 0))); },
               ErrorCode::kInvalidArgument, "image count is 0");
  expect_error([&] { read_idx_images(write_plain("r", image_file_bytes(0x803, 1, 0, 2, 0))); },
               ErrorCode::kInvalidArgument, "rows is 0");
  expect_error([&] { read_idx_images(write_plain("c", image_file_bytes(0x803, 1, 2, 100000, 0))); },
               ErrorCode::kInvalidArgument, "cols is 100000");
}

TEST_F(IdxTest, RejectsTruncatedFiles) {
  // Header cut inside the row count.
  auto header = image_file_bytes(0x803, 2, 3, 3, 0);
  header.resize(10);
  expect_error([&] { read_idx_images(write_plain("h", header)); }, ErrorCode::kInvalidArgument,
               "truncated: the rows field");
  // One pixel short: a plain file is measured before reading, a compressed
  // one is found short as it streams.
  auto short_pixels = image_file_bytes(0x803, 2, 3, 3, 17);
  expect_error([&] { read_idx_images(write_plain("p", short_pixels)); },
               ErrorCode::kInvalidArgument,
               "its header declares the pixels of 2 images (18 bytes), the file has only 17");
  expect_error([&] { read_idx_images(write_gz("p.gz", short_pixels)); },
               ErrorCode::kInvalidArgument, "only 17 remain");
  expect_error(
      [&] {
        read_idx_labels(write_plain("l", label_file_bytes(5, {1, 2})));
      },
      ErrorCode::kInvalidArgument, "its header declares 5 labels (5 bytes), the file has only 2");
  expect_error(
      [&] {
        read_idx_labels(write_gz("l.gz", label_file_bytes(5, {1, 2})));
      },
      ErrorCode::kInvalidArgument, "5 labels needs 5 bytes, only 2 remain");
}

// A 16-byte header declaring 3.9 GB: zero-filled 4 GiB before noticing the
// file was short. Now the plain file's size is compared first, and a gzip
// file grows its buffer only as data arrives (1 MiB steps), so both fail
// without a large allocation.
TEST_F(IdxTest, AHeaderPromisingGigabytesAllocatesNothingLarge) {
  const auto header = image_file_bytes(0x803, 5'000'000, 28, 28, 0);
  expect_error([&] { read_idx_images(write_plain("huge", header)); }, ErrorCode::kInvalidArgument,
               "(3920000000 bytes), the file has only 0 after the header");
  auto with_data = image_file_bytes(0x803, 5'000'000, 28, 28, 3000);
  expect_error([&] { read_idx_images(write_gz("huge.gz", with_data)); },
               ErrorCode::kInvalidArgument, "needs 3920000000 bytes, only 3000 remain");
}

// gzip data spanning several read chunks (1 MiB) arrives whole.
TEST_F(IdxTest, CompressedDataLongerThanOneChunkReadsWhole) {
  const auto bytes = image_file_bytes(0x803, 3000, 28, 28, 3000 * 784);
  const IdxImages images = read_idx_images(write_gz("big.gz", bytes));
  ASSERT_EQ(images.pixels.size(), 3000u * 784u);
  EXPECT_TRUE(std::equal(images.pixels.begin(), images.pixels.end(), bytes.begin() + 16));
}

TEST_F(IdxTest, RejectsTrailingData) {
  expect_error([&] { read_idx_images(write_plain("t", image_file_bytes(0x803, 1, 2, 2, 5))); },
               ErrorCode::kInvalidArgument, "data after the last item");
}

TEST_F(IdxTest, RejectsACorruptGzipStream) {
  auto gz = read_all(write_gz("ok.gz", image_file_bytes(0x803, 4, 8, 8, 256)));
  // Cut the compressed stream in half: zlib reports an unexpected end.
  std::vector<uint8_t> cut(gz.begin(), gz.begin() + static_cast<long>(gz.size() / 2));
  auto cut_path = write_plain("cut.gz", cut);
  EXPECT_THROW(read_idx_images(cut_path), Error);
  // Flip bytes in the deflate data: a decompression error or a CRC mismatch.
  std::vector<uint8_t> flipped = gz;
  for (size_t i = 12; i < flipped.size() - 8; i += 3) flipped[i] ^= 0x5A;
  auto flipped_path = write_plain("flipped.gz", flipped);
  EXPECT_THROW(read_idx_images(flipped_path), Error);
}

TEST_F(IdxTest, DatasetChecksCountsAndLabelRange) {
  auto images = write_plain("i", image_file_bytes(0x803, 3, 2, 2, 12));
  expect_error(
      [&] {
        read_idx_dataset(images, write_plain("l2", label_file_bytes(2, {0, 1})), 10);
      },
      ErrorCode::kInvalidArgument, "has 3 images but");
  expect_error(
      [&] {
        read_idx_dataset(images, write_plain("l3", label_file_bytes(3, {0, 10, 1})), 10);
      },
      ErrorCode::kInvalidArgument, "label 1 is 10, expected 0..9");
  IdxDataset ok = read_idx_dataset(images, write_plain("ok", label_file_bytes(3, {0, 9, 1})), 10);
  EXPECT_EQ(ok.labels.size(), 3u);
}

}  // namespace
}  // namespace sparq
