// libFuzzer target for the IDX reader: the bytes are written to a file (the
// reader takes paths), plain and gzip-compressed, and read as images and as
// labels. Each read must succeed with exactly the sizes the header declares
// or throw sparq::Error; -rss_limit_mb catches an allocation made on the
// header's word alone.
#include <unistd.h>
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include "sparq/sparq.hpp"

namespace {

std::filesystem::path scratch_file(const char* suffix) {
  return std::filesystem::temp_directory_path() /
         ("sparq_idx_fuzz_" + std::to_string(::getpid()) + suffix);
}

void read_both_ways(const std::filesystem::path& path) {
  try {
    const sparq::IdxImages images = sparq::read_idx_images(path);
    const size_t expected = static_cast<size_t>(images.count) * static_cast<size_t>(images.rows) *
                            static_cast<size_t>(images.cols);
    if (images.pixels.size() != expected) __builtin_trap();
  } catch (const sparq::Error&) {
  }
  try {
    (void)sparq::read_idx_labels(path);
  } catch (const sparq::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::filesystem::path plain = scratch_file(".idx");
  static const std::filesystem::path packed = scratch_file(".idx.gz");
  if (FILE* f = std::fopen(plain.c_str(), "wb")) {
    std::fwrite(data, 1, size, f);
    std::fclose(f);
    read_both_ways(plain);
  }
  if (gzFile f = gzopen(packed.c_str(), "wb1")) {
    gzwrite(f, data, static_cast<unsigned>(size));
    gzclose(f);
    read_both_ways(packed);
  }
  return 0;
}
