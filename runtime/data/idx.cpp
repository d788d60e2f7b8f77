// IDX reader. zlib's gz* functions read gzip and plain files alike, so one
// code path serves "train-images-idx3-ubyte" and "train-images-idx3-ubyte.gz".
// Nothing is allocated on the header's word alone: a plain file's declared
// size is compared with the file first, a gzip file is read in chunks that
// grow only as decompressed data arrives, and reading stops at the declared
// size.
#include "sparq/idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdio>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "sparq/error.hpp"

namespace sparq {
namespace {

constexpr uint32_t kLabelsMagic = 0x00000801;  // unsigned byte data, 1 dimension
constexpr uint32_t kImagesMagic = 0x00000803;  // unsigned byte data, 3 dimensions
// Bounds that no real IDX data set comes near; they stop a corrupt header from
// asking for gigabytes before the truncation is noticed.
constexpr uint32_t kMaxCount = 100'000'000;
constexpr uint32_t kMaxSide = 4096;
constexpr size_t kMaxBytes = size_t{1} << 32;

class IdxFile {
 public:
  explicit IdxFile(const std::filesystem::path& path) : path_(path.string()) {
    if (!std::filesystem::is_regular_file(path)) {
      throw Error(ErrorCode::kIo, "IDX file '" + path_ + "' does not exist or is not a file");
    }
    std::error_code ec;
    file_bytes_ = std::filesystem::file_size(path, ec);
    if (ec) throw Error(ErrorCode::kIo, "IDX file '" + path_ + "': " + ec.message());
    file_.reset(gzopen(path_.c_str(), "rb"));
    if (!file_) throw Error(ErrorCode::kIo, "cannot open IDX file '" + path_ + "'");
  }

  // For an uncompressed file, refuses a header whose data (`header_bytes` +
  // `payload` bytes in all) does not match the file's size, before anything
  // is allocated for it. Compressed files are checked as they stream.
  // Called after the header was read: only then does gzdirect() know.
  void check_size(uint64_t header_bytes, uint64_t payload, const std::string& what) {
    if (!gzdirect(file_.get())) return;
    const uint64_t expected = header_bytes + payload;
    if (file_bytes_ < expected) {
      throw Error(ErrorCode::kInvalidArgument,
                  "IDX file '" + path_ + "' is truncated: its header declares " + what + " (" +
                      std::to_string(payload) + " bytes), the file has only " +
                      std::to_string(file_bytes_ - std::min(file_bytes_, header_bytes)) +
                      " after the header");
    }
    if (file_bytes_ > expected) fail("has data after the last item (wrong sizes in the header?)");
  }

  // Reads exactly `size` bytes into a vector that grows with the data
  // actually read (1 MiB at a time), so a compressed file that is shorter
  // than its header claims never makes the full allocation.
  std::vector<uint8_t> read_vector(size_t size, const std::string& what) {
    constexpr size_t kChunk = size_t{1} << 20;
    std::vector<uint8_t> data;
    while (data.size() < size) {
      const size_t start = data.size();
      const size_t want = std::min(kChunk, size - start);
      data.resize(start + want);
      const size_t got = read_some(data.data() + start, want);
      if (got != want) {
        throw Error(ErrorCode::kInvalidArgument, "IDX file '" + path_ + "' is truncated: " + what +
                                                     " needs " + std::to_string(size) +
                                                     " bytes, only " + std::to_string(start + got) +
                                                     " remain");
      }
    }
    return data;
  }

  // Reads up to `size` bytes; returns how many arrived (fewer only at the end).
  size_t read_some(void* data, size_t size) {
    size_t total = 0;
    auto* bytes = static_cast<unsigned char*>(data);
    while (total < size) {
      const auto chunk = static_cast<unsigned>(std::min<size_t>(size - total, 1u << 30));
      const int got = gzread(file_.get(), bytes + total, chunk);
      if (got < 0) {
        int code = 0;
        const char* message = gzerror(file_.get(), &code);
        throw Error(ErrorCode::kIo, "IDX file '" + path_ + "': decompression failed (" +
                                        std::string(message ? message : "unknown zlib error") +
                                        ")");
      }
      if (got == 0) break;
      total += static_cast<size_t>(got);
    }
    return total;
  }

  void read_exact(void* data, size_t size, const std::string& what) {
    const size_t got = read_some(data, size);
    if (got != size) {
      throw Error(ErrorCode::kInvalidArgument,
                  "IDX file '" + path_ + "' is truncated: " + what + " needs " +
                      std::to_string(size) + " bytes, only " + std::to_string(got) + " remain");
    }
  }

  uint32_t read_u32(const std::string& what) {
    std::array<unsigned char, 4> b{};
    read_exact(b.data(), b.size(), what);
    return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
  }

  void expect_magic(uint32_t expected, const char* kind) {
    const uint32_t magic = read_u32("the magic number");
    if (magic != expected) {
      char buffer[96];
      std::snprintf(buffer, sizeof buffer, "bad magic number 0x%08X, expected 0x%08X (%s)", magic,
                    expected, kind);
      fail(buffer);
    }
  }

  uint32_t read_dimension(const char* name, uint32_t limit) {
    const uint32_t value = read_u32(std::string("the ") + name + " field");
    if (value == 0 || value > limit) {
      fail(std::string(name) + " is " + std::to_string(value) + ", must be 1.." +
           std::to_string(limit));
    }
    return value;
  }

  void expect_end() {
    unsigned char extra = 0;
    if (read_some(&extra, 1) != 0)
      fail("has data after the last item (wrong sizes in the header?)");
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(ErrorCode::kInvalidArgument, "IDX file '" + path_ + "': " + what);
  }

 private:
  struct GzClose {
    void operator()(gzFile_s* f) const { gzclose(f); }
  };
  std::string path_;
  uint64_t file_bytes_ = 0;
  std::unique_ptr<gzFile_s, GzClose> file_;
};

}  // namespace

IdxImages read_idx_images(const std::filesystem::path& path) {
  IdxFile file(path);
  file.expect_magic(kImagesMagic, "idx3-ubyte images");
  IdxImages images;
  images.count = static_cast<int>(file.read_dimension("image count", kMaxCount));
  images.rows = static_cast<int>(file.read_dimension("rows", kMaxSide));
  images.cols = static_cast<int>(file.read_dimension("cols", kMaxSide));
  const size_t bytes = static_cast<size_t>(images.count) * static_cast<size_t>(images.rows) *
                       static_cast<size_t>(images.cols);
  if (bytes > kMaxBytes) {
    file.fail("header asks for " + std::to_string(bytes) + " bytes of pixels, more than the " +
              std::to_string(kMaxBytes) + " allowed");
  }
  const std::string what = "the pixels of " + std::to_string(images.count) + " images";
  file.check_size(16, bytes, what);
  images.pixels = file.read_vector(bytes, what);
  file.expect_end();
  return images;
}

std::vector<uint8_t> read_idx_labels(const std::filesystem::path& path) {
  IdxFile file(path);
  file.expect_magic(kLabelsMagic, "idx1-ubyte labels");
  const uint32_t count = file.read_dimension("label count", kMaxCount);
  const std::string what = std::to_string(count) + " labels";
  file.check_size(8, count, what);
  std::vector<uint8_t> labels = file.read_vector(count, what);
  file.expect_end();
  return labels;
}

IdxDataset read_idx_dataset(const std::filesystem::path& images_path,
                            const std::filesystem::path& labels_path, int classes) {
  if (classes <= 0 || classes > 256) {
    throw Error(ErrorCode::kInvalidArgument,
                "read_idx_dataset: classes must be 1..256, is " + std::to_string(classes));
  }
  IdxDataset dataset{read_idx_images(images_path), read_idx_labels(labels_path)};
  if (dataset.labels.size() != static_cast<size_t>(dataset.images.count)) {
    throw Error(ErrorCode::kInvalidArgument, "IDX data set mismatch: '" + images_path.string() +
                                                 "' has " + std::to_string(dataset.images.count) +
                                                 " images but '" + labels_path.string() + "' has " +
                                                 std::to_string(dataset.labels.size()) + " labels");
  }
  for (size_t i = 0; i < dataset.labels.size(); ++i) {
    if (dataset.labels[i] >= classes) {
      throw Error(ErrorCode::kInvalidArgument, "IDX file '" + labels_path.string() + "': label " +
                                                   std::to_string(i) + " is " +
                                                   std::to_string(dataset.labels[i]) +
                                                   ", expected 0.." + std::to_string(classes - 1));
    }
  }
  return dataset;
}

}  // namespace sparq
