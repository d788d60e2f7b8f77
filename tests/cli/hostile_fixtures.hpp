// Small, valid-looking files that once took the machine or gave a wrong
// answer (issue #19): each is built here, a few hundred bytes, and the CLI
// tests check the clean error and exit code each now gets.
#pragma once

#include <filesystem>

namespace sparq::cli_test {

// Writes into `dir`, after write_fixtures (huge.png starts from shirt.png):
//   wide_pool.sparq       14000x14000 max pool, pad 13999, on 1x28x28
//   huge_window.sparq     average pool window (2^31-1)^2, stride 2^31-1
//   big_input.sparq       input [1, 46340, 46340] (8 GiB f32)
//   many_classes.sparq    softmax over 2^31-1 classes
//   huge_scales.sparq     the k=3 classifier with a weight scale of 3e38
//   output_is_input.sparq, output_twice.sparq   bad graph output lists
//   nan_classifier.sparq  valid, but every score overflows to inf (-> NaN)
//   bad_utf8_label.sparq  a label that is not UTF-8
//   flipped.sparq         the k=3 classifier with one bit flipped
//   unchecked.sparq       the k=3 classifier written without a checksum
//   huge-images-idx3-ubyte (+ labels)          16-byte header declaring 3.9 GB
//   hugegz-images-idx3-ubyte.gz (+ labels)     the same, gzip, 1000 pixel bytes
//   huge.png              261 bytes declaring 16384x16384
//   topdown.bmp           28x28 24-bit BMP stored top-down (negative height)
//   bottomup.bmp          the same pixels stored bottom-up
void write_hostile_fixtures(const std::filesystem::path& dir);

}  // namespace sparq::cli_test
