// Image decoding and preprocessing (include/sparq/image.hpp): exact round trips
// through every format, a clear error for every kind of bad file (missing,
// empty, not an image, truncated at many lengths, too large), and the
// preprocessing arithmetic against hand-computed values.
#include "sparq/image.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/data/image_format.hpp"
#include "sparq/error.hpp"
#include "sparq/model_builder.hpp"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

namespace sparq {
namespace {

using Bytes = std::vector<uint8_t>;

Image random_image(uint32_t seed, int width, int height, int channels) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> dist(0, 255);
  Image image{width, height, channels, {}};
  image.pixels.resize(static_cast<size_t>(width * height * channels));
  for (auto& p : image.pixels) p = static_cast<uint8_t>(dist(gen));
  return image;
}

void append(void* context, void* data, int size) {
  auto* out = static_cast<Bytes*>(context);
  auto* bytes = static_cast<uint8_t*>(data);
  out->insert(out->end(), bytes, bytes + size);
}

enum class Encoding { kPng, kBmp, kJpeg, kPgm };

Bytes encode(const Image& image, Encoding encoding) {
  Bytes out;
  const int w = image.width, h = image.height, c = image.channels;
  switch (encoding) {
    case Encoding::kPng:
      stbi_write_png_to_func(append, &out, w, h, c, image.pixels.data(), w * c);
      break;
    case Encoding::kBmp:
      stbi_write_bmp_to_func(append, &out, w, h, c, image.pixels.data());
      break;
    case Encoding::kJpeg:
      stbi_write_jpg_to_func(append, &out, w, h, c, image.pixels.data(), 95);
      break;
    case Encoding::kPgm: {
      const std::string header =
          "P5\n# written by image_test\n" + std::to_string(w) + " " + std::to_string(h) + "\n255\n";
      out.assign(header.begin(), header.end());
      out.insert(out.end(), image.pixels.begin(), image.pixels.end());
      break;
    }
  }
  return out;
}

template <typename F>
void expect_error(F&& f, ErrorCode code, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one containing '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)
        << "message '" << e.what() << "' lacks '" << fragment << "'";
  }
}

Bytes as_bytes(const std::string& s) {
  return {s.begin(), s.end()};
}

// ---- decoding -------------------------------------------------------------

TEST(ImageDecode, LosslessFormatsRoundTripExactly) {
  struct Case {
    Encoding encoding;
    int channels;
  };
  for (Case c : {Case{Encoding::kPng, 1}, Case{Encoding::kPng, 2}, Case{Encoding::kPng, 3},
                 Case{Encoding::kPng, 4}, Case{Encoding::kBmp, 3}, Case{Encoding::kPgm, 1}}) {
    for (uint32_t seed = 0; seed < 4; ++seed) {
      const Image original =
          random_image(seed, 5 + static_cast<int>(seed), 3 + 2 * seed, c.channels);
      const Image decoded = decode_image(encode(original, c.encoding));
      ASSERT_EQ(decoded.width, original.width);
      ASSERT_EQ(decoded.height, original.height);
      ASSERT_EQ(decoded.channels, original.channels);
      EXPECT_EQ(decoded.pixels, original.pixels) << "encoding " << static_cast<int>(c.encoding);
    }
  }
}

TEST(ImageDecode, JpegDecodesToTheRightSizeAndNearbyValues) {
  Image flat{16, 8, 3, std::vector<uint8_t>(16 * 8 * 3, 0)};
  for (size_t i = 0; i < flat.pixels.size(); i += 3) flat.pixels[i] = 200, flat.pixels[i + 1] = 40;
  const Image decoded = decode_image(encode(flat, Encoding::kJpeg));
  ASSERT_EQ(decoded.width, 16);
  ASSERT_EQ(decoded.height, 8);
  ASSERT_EQ(decoded.channels, 3);
  for (size_t i = 0; i < flat.pixels.size(); ++i) {
    EXPECT_NEAR(decoded.pixels[i], flat.pixels[i], 6) << "byte " << i;
  }
}

TEST(ImageDecode, PnmMaxValuesAreRescaledTo255) {
  Bytes four_bit = as_bytes("P5 3 1 15\n");
  four_bit.insert(four_bit.end(), {0, 15, 7});
  EXPECT_EQ(decode_image(four_bit).pixels, (Bytes{0, 255, 119}));

  Bytes sixteen_bit = as_bytes("P5\n2 1\n65535\n");
  sixteen_bit.insert(sixteen_bit.end(), {0xFF, 0xFF, 0x80, 0x00});
  EXPECT_EQ(decode_image(sixteen_bit).pixels, (Bytes{255, 128}));

  Bytes rgb = as_bytes("P6 1 1 255\n");
  rgb.insert(rgb.end(), {1, 2, 3});
  const Image color = decode_image(rgb);
  EXPECT_EQ(color.channels, 3);
  EXPECT_EQ(color.pixels, (Bytes{1, 2, 3}));
}

// A corrupt JPEG (found by image_decode_fuzz) whose DC prediction grows past
// INT_MAX / dequant, an int overflow inside stb_image: image_decode.cpp is
// compiled with -fwrapv, so it wraps. The sanitizer build checks that no
// undefined behaviour is left; the outcome is a clear error or an image.
TEST(ImageDecode, JpegWithOverflowingDcCoefficientsDecodesWithoutUndefinedBehaviour) {
  std::ifstream file(SPARQ_SOURCE_DIR "/tests/data/jpeg_dc_overflow.jpg", std::ios::binary);
  ASSERT_TRUE(file) << "tests/data/jpeg_dc_overflow.jpg is missing";
  const Bytes bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  ASSERT_EQ(bytes.size(), 742u);
  try {
    const Image image = decode_image(bytes, "jpeg_dc_overflow.jpg");
    EXPECT_EQ(image.pixels.size(),
              static_cast<size_t>(image.width) * image.height * image.channels);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("jpeg_dc_overflow.jpg"), std::string::npos) << e.what();
  }
}

TEST(ImageDecode, EveryTruncationOfEveryFormatIsAnError) {
  for (Encoding encoding : {Encoding::kPng, Encoding::kBmp, Encoding::kJpeg, Encoding::kPgm}) {
    const Image original = random_image(7, 12, 9, encoding == Encoding::kPgm ? 1 : 3);
    const Bytes full = encode(original, encoding);
    ASSERT_NO_THROW(decode_image(full));
    // Every prefix length on a small file: none may decode, none may crash.
    for (size_t length = 1; length < full.size(); ++length) {
      const Bytes cut(full.begin(), full.begin() + static_cast<ptrdiff_t>(length));
      EXPECT_THROW(decode_image(cut, "cut.img"), Error)
          << "encoding " << static_cast<int>(encoding) << " cut to " << length << " of "
          << full.size();
    }
  }
}

TEST(ImageDecode, TruncationMessagesNameTheProblem) {
  const Image original = random_image(3, 10, 10, 3);
  const Bytes png = encode(original, Encoding::kPng);
  expect_error(
      [&] {
        decode_image({png.data(), png.size() - 5}, "a.png");
      },
      ErrorCode::kInvalidArgument, "image 'a.png': PNG ends before its IEND chunk");
  const Bytes jpeg = encode(original, Encoding::kJpeg);
  expect_error(
      [&] {
        decode_image({jpeg.data(), jpeg.size() - 2}, "b.jpg");
      },
      ErrorCode::kInvalidArgument, "JPEG ends before its end-of-image marker");
  const Bytes bmp = encode(original, Encoding::kBmp);
  expect_error(
      [&] {
        decode_image({bmp.data(), bmp.size() - 1}, "c.bmp");
      },
      ErrorCode::kInvalidArgument, "BMP pixel data ends after");
  const Bytes pgm = encode(random_image(3, 10, 10, 1), Encoding::kPgm);
  expect_error(
      [&] {
        decode_image({pgm.data(), pgm.size() - 1}, "d.pgm");
      },
      ErrorCode::kInvalidArgument, "PNM pixel data has 99 of 100 bytes");
}

// stb reads the BMP compression field as a signed int, so a value past 2^31
// passed its checks as "uncompressed" and a 400-byte file decoded into 40
// megapixels of zeros (found by image_decode_fuzz as a timeout).
TEST(ImageDecode, UnknownBmpCompressionIsRefusedBeforeDecoding) {
  Bytes bmp = encode(random_image(5, 6, 4, 3), Encoding::kBmp);
  ASSERT_GE(bmp.size(), 34u);
  for (const uint32_t compression : {7u, 0x89000000u, 0xFFFFFFFFu}) {
    for (int byte = 0; byte < 4; ++byte)
      bmp[30 + byte] = static_cast<uint8_t>(compression >> (8 * byte));
    expect_error([&] { decode_image(bmp, "odd.bmp"); }, ErrorCode::kInvalidArgument,
                 "image 'odd.bmp': BMP header declares compression " + std::to_string(compression) +
                     ", not a BMP compression method");
  }
}

// stb grows its IDAT buffer to a chunk's declared length before reading the
// data: a 300-byte PNG declaring a 1 GiB IDAT made it allocate 2 GiB (found by
// image_decode_fuzz as an out-of-memory). Every chunk must fit in the file.
TEST(ImageDecode, PngChunksLongerThanTheFileAreRefusedBeforeDecoding) {
  const Bytes png = encode(random_image(5, 12, 10, 3), Encoding::kPng);
  // The first chunk after the 8-byte signature is IHDR (13 data bytes), so the
  // second one starts at byte 33; the encoder writes IDAT next.
  ASSERT_GT(png.size(), 45u);
  ASSERT_EQ(std::string(png.begin() + 37, png.begin() + 41), "IDAT");
  const size_t after_header = png.size() - 33 - 12;
  for (const uint32_t length :
       {static_cast<uint32_t>(after_header) + 1, 0x40000000u, 0xFFFFFFFFu}) {
    Bytes bad = png;
    for (int byte = 0; byte < 4; ++byte)
      bad[33 + byte] = static_cast<uint8_t>(length >> (24 - 8 * byte));
    expect_error(
        [&] { decode_image(bad, "long.png"); }, ErrorCode::kInvalidArgument,
        "image 'long.png': PNG ends before its IEND chunk: chunk 'IDAT' at byte 33 declares " +
            std::to_string(length) + " data bytes, the file has " + std::to_string(after_header) +
            " after its header");
  }
  // The file with its true length still decodes.
  EXPECT_NO_THROW(decode_image(png));
}

TEST(ImageDecode, NonImagesAreRejectedByName) {
  expect_error([] { decode_image(as_bytes("hello, world\n"), "notes.txt"); },
               ErrorCode::kInvalidArgument, "image 'notes.txt': not a supported image");
  expect_error([] { decode_image(Bytes{}, "empty.png"); }, ErrorCode::kInvalidArgument,
               "image 'empty.png': the file is empty");
  expect_error([] { decode_image(as_bytes("P2 2 2 255\n1 2 3 4\n")); }, ErrorCode::kInvalidArgument,
               "PNM type P2 is not supported");
  expect_error([] { decode_image(as_bytes("P5 2 2")); }, ErrorCode::kInvalidArgument,
               "PNM header is truncated");
  expect_error([] { decode_image(as_bytes("P5 2 2 70000\n")); }, ErrorCode::kInvalidArgument,
               "maxval 70000 is out of range");
  // Random bytes that happen to start like a format must still fail cleanly.
  std::mt19937 gen(11);
  for (const std::string magic : {"\x89PNG\r\n\x1a\n", "\xFF\xD8\xFF", "BM", "P5"}) {
    for (int trial = 0; trial < 20; ++trial) {
      Bytes junk(magic.begin(), magic.end());
      for (int i = 0; i < 200; ++i) junk.push_back(static_cast<uint8_t>(gen()));
      EXPECT_THROW(decode_image(junk), Error) << "magic " << magic.size() << " trial " << trial;
    }
  }
}

TEST(ImageDecode, OversizedHeadersAreRefusedBeforeDecoding) {
  Bytes png = encode(random_image(1, 1, 1, 1), Encoding::kPng);
  // IHDR width is the big-endian word at byte 16; stb does not check CRCs.
  png[16] = 0x00, png[17] = 0x01, png[18] = 0x86, png[19] = 0xA0;  // 100000
  expect_error([&] { decode_image(png, "huge.png"); }, ErrorCode::kInvalidArgument, "huge.png");
  expect_error([] { decode_image(as_bytes("P5 100000 1 255\n" + std::string(100000, 'x'))); },
               ErrorCode::kInvalidArgument, "exceeds the limit of 16384");
}

// A 261 KB PNG declaring 16384x16384 decoded to 1.29 GB: each side was within
// the limit. The pixel count is now checked on the declared size.
TEST(ImageDecode, DeclaredPixelCountIsLimitedBeforeDecoding) {
  Bytes png = encode(random_image(1, 1, 1, 1), Encoding::kPng);
  png[16] = 0x00, png[17] = 0x00, png[18] = 0x40, png[19] = 0x00;  // width 16384
  png[20] = 0x00, png[21] = 0x00, png[22] = 0x40, png[23] = 0x00;  // height 16384
  expect_error([&] { decode_image(png, "square.png"); }, ErrorCode::kInvalidArgument,
               "16384x16384 is 268435456 pixels, more than the limit of 67108864");
}

// Debian's stb_image trusts a JPEG Huffman table's code counts: more than 256
// overran its arrays (found by tests/fuzz/image_decode_fuzz under UBSan).
TEST(ImageDecode, JpegHuffmanTablesWithTooManyCodesAreRefused) {
  Bytes jpeg = encode(random_image(4, 16, 16, 1), Encoding::kJpeg);
  const uint8_t dht[2] = {0xFF, 0xC4};
  auto at = std::search(jpeg.begin(), jpeg.end(), std::begin(dht), std::end(dht));
  ASSERT_NE(at, jpeg.end());
  EXPECT_NO_THROW(decode_image(jpeg, "fine.jpg"));
  // Marker, length (2 bytes), class/id byte, then the 16 counts.
  for (int i = 0; i < 16; ++i) at[5 + i] = 0x20;  // 512 codes
  expect_error([&] { decode_image(jpeg, "overrun.jpg"); }, ErrorCode::kInvalidArgument,
               "declares 512 codes, at most 256 exist");
}

// stb_image leaves a Huffman table that no DHT segment defined uninitialized
// and indexed its symbols with it when a scan used one (an out of bounds read
// found by image_decode_fuzz under UBSan). The check follows which tables the
// decoder reads: both in a sequential scan; in a progressive one the DC table
// in a first DC scan only, the AC table in an AC scan only.
TEST(ImageDecode, JpegScansUsingUndefinedHuffmanTablesAreRefused) {
  const Bytes jpeg = encode(random_image(6, 16, 16, 3), Encoding::kJpeg);
  const uint8_t sos[2] = {0xFF, 0xDA}, sof[2] = {0xFF, 0xC0};
  const auto sos_at = static_cast<size_t>(
      std::search(jpeg.begin(), jpeg.end(), std::begin(sos), std::end(sos)) - jpeg.begin());
  const auto sof_at = static_cast<size_t>(
      std::search(jpeg.begin(), jpeg.end(), std::begin(sof), std::end(sof)) - jpeg.begin());
  ASSERT_LT(sos_at, jpeg.size());
  ASSERT_LT(sof_at, sos_at);
  ASSERT_EQ(jpeg[sos_at + 4], 3);  // three components
  // Marker, length (2 bytes), component count; then per component its id and
  // DC / AC table byte; then spectral start, end and the approximation byte.
  const size_t tables = sos_at + 6, selection = sos_at + 5 + 2 * 3, approximation = selection + 2;
  EXPECT_NO_THROW(decode_image(jpeg, "fine.jpg"));
  auto with = [&](std::initializer_list<std::pair<size_t, uint8_t>> changes) {
    Bytes b = jpeg;
    for (const auto& [at, value] : changes) b[at] = value;
    return b;
  };
  expect_error(
      [&] {
        decode_image(with({{tables, 0x02}}), "ac.jpg");
      },
      ErrorCode::kInvalidArgument,
      "image 'ac.jpg': JPEG scan at byte " + std::to_string(sos_at + 4) +
          " uses AC Huffman table 2, which no table segment before it defines");
  expect_error(
      [&] {
        decode_image(with({{tables, 0x30}}), "dc.jpg");
      },
      ErrorCode::kInvalidArgument, "uses DC Huffman table 3, which no table segment");
  // Progressive (SOF2): a first DC scan reads no AC table, a refinement DC
  // scan no table at all, an AC scan no DC table.
  const size_t progressive = sof_at + 1;
  namespace format = image_format;
  EXPECT_EQ(format::check_complete(
                format::Format::kJpeg,
                with({{progressive, 0xC2}, {tables, 0x02}, {selection, 0}, {approximation, 0}})),
            "");
  EXPECT_EQ(format::check_complete(
                format::Format::kJpeg,
                with({{progressive, 0xC2}, {tables, 0x22}, {selection, 0}, {approximation, 0x10}})),
            "");
  EXPECT_EQ(format::check_complete(format::Format::kJpeg,
                                   with({{progressive, 0xC2}, {tables, 0x20}, {selection, 1}})),
            "");
  EXPECT_NE(format::check_complete(format::Format::kJpeg,
                                   with({{progressive, 0xC2}, {tables, 0x02}, {selection, 1}})),
            "");
  EXPECT_NE(format::check_complete(
                format::Format::kJpeg,
                with({{progressive, 0xC2}, {tables, 0x20}, {selection, 0}, {approximation, 0}})),
            "");
}

// Every valid top-down BMP was rejected: stb reports its height negative.
TEST(ImageDecode, TopDownBmpsDecodeTheRightWayUp) {
  const Image original = random_image(9, 5, 4, 3);
  const Bytes bottom_up = encode(original, Encoding::kBmp);
  // The same file stored top-down: negative height, rows in reading order.
  Bytes top_down = bottom_up;
  const int32_t height = -4;
  std::memcpy(&top_down[22], &height, 4);
  const size_t offset = bottom_up[10] | bottom_up[11] << 8;
  const size_t row = (5 * 3 + 3) / 4 * 4;
  for (size_t y = 0; y < 4; ++y) {
    std::memcpy(&top_down[offset + y * row], &bottom_up[offset + (3 - y) * row], row);
  }
  const Image decoded = decode_image(top_down, "top_down.bmp");
  EXPECT_EQ(decoded.width, 5);
  EXPECT_EQ(decoded.height, 4);
  EXPECT_EQ(decoded.pixels, original.pixels);
}

// /dev/zero was read until memory ran out, a FIFO blocked forever.
TEST(ImageLoad, OnlyRegularFilesAreRead) {
  expect_error([] { load_image("/dev/zero"); }, ErrorCode::kIo,
               "'/dev/zero' is not a regular file");
  const auto fifo = std::filesystem::temp_directory_path() /
                    ("sparq_image_test_fifo_" + std::to_string(::getpid()));
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  expect_error([&] { load_image(fifo); }, ErrorCode::kIo, "is not a regular file");
  std::filesystem::remove(fifo);
}

TEST(ImageLoad, ReadsFilesAndNamesMissingOnes) {
  const auto dir = std::filesystem::temp_directory_path() / "sparq_image_test";
  std::filesystem::create_directories(dir);
  const Image original = random_image(5, 7, 6, 3);
  const Bytes png = encode(original, Encoding::kPng);
  const auto path = dir / "seven_by_six.png";
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
  EXPECT_EQ(load_image(path).pixels, original.pixels);
  expect_error([&] { load_image(dir / "absent.png"); }, ErrorCode::kIo,
               "cannot open image '" + (dir / "absent.png").string() + "'");
  expect_error([&] { load_image(dir); }, ErrorCode::kIo, "is a directory");
  std::filesystem::remove_all(dir);
}

TEST(ImageLoad, FromPixelsChecksTheByteCount) {
  EXPECT_EQ(image_from_pixels(2, 1, 1, Bytes{3, 4}).pixels, (Bytes{3, 4}));
  expect_error(
      [] {
        image_from_pixels(2, 2, 1, Bytes{1, 2, 3});
      },
      ErrorCode::kInvalidArgument, "3 bytes given, 2x2x1 needs 4");
  expect_error([] { image_from_pixels(2, 2, 5, Bytes(20)); }, ErrorCode::kInvalidArgument,
               "channels 1..4");
}

// ---- preprocessing ---------------------------------------------------------

Model image_model(Shape input_shape, Preprocessing preprocessing = {}, DType dtype = DType::kF32) {
  ModelBuilder builder;
  const ValueId x = builder.input(input_shape, dtype);
  builder.mark_output(builder.flatten(x));
  ModelMetadata metadata;
  metadata.preprocessing = std::move(preprocessing);
  return builder.build(metadata);
}

TEST(ImagePreprocessing, UnsetFieldsComeFromTheInputShape) {
  Preprocessing given;
  given.mean = {0.5f};
  const Preprocessing p = image_preprocessing(image_model({1, 28, 20}, given));
  EXPECT_EQ(p.channels, 1);
  EXPECT_EQ(p.height, 28);
  EXPECT_EQ(p.width, 20);
  EXPECT_EQ(p.mean, std::vector<float>{0.5f});

  Preprocessing broadcast;
  broadcast.std = {2.0f};
  EXPECT_EQ(image_preprocessing(image_model({3, 4, 4}, broadcast)).std,
            (std::vector<float>{2.0f, 2.0f, 2.0f}));
}

TEST(ImagePreprocessing, ModelsThatDoNotTakeImagesAreNamed) {
  expect_error([] { image_preprocessing(image_model({10})); }, ErrorCode::kInvalidModel,
               "has shape [10]; an image model takes [C, H, W]");
  expect_error(
      [] {
        image_preprocessing(image_model({2, 8, 8}));
      },
      ErrorCode::kInvalidModel, "C = 1 (gray) or 3 (RGB)");
  Preprocessing wrong_size;
  wrong_size.height = 32;
  expect_error(
      [&] {
        image_preprocessing(image_model({1, 28, 28}, wrong_size));
      },
      ErrorCode::kInvalidModel, "says height 32 but input 'input' has 28");
  Preprocessing wrong_mean;
  wrong_mean.mean = {0.1f, 0.2f};
  expect_error(
      [&] {
        image_preprocessing(image_model({3, 8, 8}, wrong_mean));
      },
      ErrorCode::kInvalidModel, "2 mean values for 3 channels");
  Preprocessing zero_std;
  zero_std.std = {0.0f};
  expect_error(
      [&] {
        image_preprocessing(image_model({1, 8, 8}, zero_std));
      },
      ErrorCode::kInvalidModel, "std that is not positive");
}

TEST(ImagePreprocess, SameSizeGrayIsTheAffineMapOfEachPixel) {
  const Image image = random_image(21, 6, 4, 1);
  Preprocessing p{.height = 4,
                  .width = 6,
                  .channels = 1,
                  .scale = 1.0f / 255.0f,
                  .mean = {0.25f},
                  .std = {0.5f}};
  const Tensor t = preprocess(image, p);
  ASSERT_EQ(t.shape(), (Shape{1, 1, 4, 6}));
  const auto values = t.span<const float>();
  for (size_t i = 0; i < image.pixels.size(); ++i) {
    EXPECT_EQ(values[i], (image.pixels[i] * (1.0f / 255.0f) - 0.25f) / 0.5f) << i;
  }
}

TEST(ImagePreprocess, ChannelConversionsWriteChannelPlanes) {
  // One RGBA pixel per column: alpha must be ignored.
  const Image rgba = image_from_pixels(2, 1, 4, Bytes{255, 0, 0, 9, 10, 20, 30, 0});
  Preprocessing to_gray{
      .height = 1, .width = 2, .channels = 1, .scale = 1.0f, .mean = {}, .std = {}};
  const auto gray = preprocess(rgba, to_gray);
  EXPECT_FLOAT_EQ(gray.span<const float>()[0], 0.299f * 255);
  EXPECT_FLOAT_EQ(gray.span<const float>()[1], 0.299f * 10 + 0.587f * 20 + 0.114f * 30);

  Preprocessing to_rgb{
      .height = 1, .width = 2, .channels = 3, .scale = 1.0f, .mean = {}, .std = {}};
  const Tensor rgb = preprocess(rgba, to_rgb);
  const auto planes = rgb.span<const float>();
  EXPECT_EQ(std::vector<float>(planes.begin(), planes.end()),
            (std::vector<float>{255, 10, 0, 20, 0, 30}));  // R plane, G plane, B plane

  const Image gray_alpha = image_from_pixels(1, 1, 2, Bytes{77, 1});
  const auto replicated = preprocess(gray_alpha, Preprocessing{1, 1, 3, 1.0f, {}, {}});
  EXPECT_EQ(std::vector<float>(replicated.span<const float>().begin(),
                               replicated.span<const float>().end()),
            (std::vector<float>{77, 77, 77}));
}

TEST(ImagePreprocess, ResizingKeepsFlatImagesFlatAndStaysInRange) {
  for (auto [w, h] : {std::pair{28, 28}, {64, 48}, {7, 9}, {300, 20}}) {
    Image flat{w, h, 1, Bytes(static_cast<size_t>(w * h), 180)};
    Preprocessing p{.height = 28, .width = 28, .channels = 1, .scale = 1.0f, .mean = {}, .std = {}};
    const Tensor resized_flat = preprocess(flat, p);
    for (float v : resized_flat.span<const float>()) EXPECT_NEAR(v, 180.0f, 0.01f);
    const Image noise = random_image(static_cast<uint32_t>(w), w, h, 3);
    const Tensor resized_noise = preprocess(noise, p);
    for (float v : resized_noise.span<const float>()) {
      EXPECT_GE(v, 0.0f);
      EXPECT_LE(v, 255.0f);
    }
  }
}

TEST(ImagePreprocess, BadArgumentsAreErrors) {
  const Image image = random_image(1, 4, 4, 1);
  expect_error([&] { preprocess(image, Preprocessing{}); }, ErrorCode::kInvalidArgument,
               "needs a positive size and 1 or 3 channels");
  std::vector<float> small(10);
  expect_error(
      [&] {
        preprocess_into(image, Preprocessing{4, 4, 1, 1.0f, {}, {}}, small);
      },
      ErrorCode::kInvalidArgument, "output holds 10 floats, 1x4x4 needs 16");
  Image broken = image;
  broken.pixels.pop_back();
  expect_error(
      [&] {
        preprocess(broken, Preprocessing{4, 4, 1, 1.0f, {}, {}});
      },
      ErrorCode::kInvalidArgument, "image holds 15 bytes, its size needs 16");
}

}  // namespace
}  // namespace sparq
