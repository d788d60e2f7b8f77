// Packing for the direct convolution (baseline code: it runs once per group
// and sample for inputs, once per model for weights).
#include <algorithm>
#include <cstring>

#include "kernels/common/byte_quads.hpp"
#include "kernels/conv2d/direct_conv.hpp"
#include "kernels/matrix_tiles/tile_program.hpp"

namespace sparq::kernels {
namespace {

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

int64_t aligned_plane(int64_t elements) {
  return ceil_div(elements, kTileRowBytes / 4) * (kTileRowBytes / 4);
}

// The x range of a phase-plane row whose input column x * stride + first_col
// lies inside [0, in_w), clamped to [0, width).
struct InsideRange {
  int64_t begin = 0, end = 0;
};
InsideRange inside_range(int64_t in_w, int64_t width, int64_t stride, int64_t first_col) {
  int64_t begin = first_col >= 0 ? 0 : (-first_col + stride - 1) / stride;
  int64_t end = in_w - first_col <= 0 ? 0 : (in_w - first_col + stride - 1) / stride;
  begin = std::min(begin, width);
  end = std::max(begin, std::min(end, width));
  return {begin, end};
}

void copy_padded_row_f32(const float* row, int64_t in_w, int64_t width, int64_t stride,
                         int64_t first_col, float* dst) {
  for (int64_t x = 0; x < width; ++x) {
    const int64_t ix = x * stride + first_col;
    dst[x] = (row != nullptr && ix >= 0 && ix < in_w) ? row[ix] : 0.0f;
  }
}

const uint8_t* input_row(const uint8_t* in, const ConvGeometry& g, int64_t channel, int64_t y) {
  const int64_t iy = y - g.pad_h;
  if (channel >= g.in_per_group() || iy < 0 || iy >= g.in_h) return nullptr;
  return in + (channel * g.in_h + iy) * g.in_w;
}

// One row of a window-quad plane: dst[4 x + d] = padded(row, x * stride +
// first_col + d) ^ flip for d < 4, x < width (`row` null: a padding row).
// Where all four columns lie inside the row they are one 4-byte load (the
// quad of kernel columns is 4 consecutive input bytes at any stride); only
// the edges go byte by byte. Columns past the kernel (kx >= kernel_w) meet
// zero weights, so reading the input there, as the word loads do, is as good
// as padding.
void copy_window_quads(const uint8_t* row, int64_t in_w, int64_t width, int64_t stride,
                       int64_t first_col, uint8_t flip, uint8_t* dst) {
  if (row == nullptr) {  // a padding row: zeros, flipped
    std::memset(dst, flip, static_cast<size_t>(width * 4));
    return;
  }
  const uint32_t flip4 = flip * 0x01010101u;
  // x with first_col + x * stride >= 0 and first_col + x * stride + 3 < in_w.
  const InsideRange words = inside_range(in_w - 3, width, stride, first_col);
  auto byte_by_byte = [&](int64_t x) {
    for (int64_t d = 0; d < 4; ++d) {
      const int64_t ix = x * stride + first_col + d;
      const uint8_t value = ix >= 0 && ix < in_w ? row[ix] : 0;
      dst[4 * x + d] = value ^ flip;
    }
  };
  for (int64_t x = 0; x < words.begin; ++x) byte_by_byte(x);
  int64_t x = words.begin;
  if (stride == 2) {
    // 8 quads per step (the 7x7 stride-2 stem): as 16-bit lanes, the bytes
    // from column 2x + first_col hold each quad's low half, those two columns
    // later its high half; interleaving the two makes the quads. The last
    // quad's last byte is the last one loaded, inside the row as x + 7 < end.
    const __m128i f = _mm_set1_epi8(static_cast<char>(flip));
    for (; x + 8 <= words.end; x += 8) {
      const uint8_t* at = row + 2 * x + first_col;
      const __m128i low = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
      const __m128i high = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at + 2));
      auto* out = reinterpret_cast<__m128i*>(dst + 4 * x);
      _mm_storeu_si128(out, _mm_xor_si128(_mm_unpacklo_epi16(low, high), f));
      _mm_storeu_si128(out + 1, _mm_xor_si128(_mm_unpackhi_epi16(low, high), f));
    }
  }
  for (; x < words.end; ++x) {
    uint32_t quad;
    std::memcpy(&quad, row + x * stride + first_col, 4);
    quad ^= flip4;
    std::memcpy(dst + 4 * x, &quad, 4);
  }
  for (int64_t x = std::max(words.begin, words.end); x < width; ++x) byte_by_byte(x);
}

// dst[4 x + d] = src[d][x] ^ flip for x in [0, n): 16 pixels at a time
// (transpose_to_quads), the last 16 overlapping the ones before; runs
// shorter than 16 go byte by byte.
void interleave_quads(const uint8_t* const src[4], int64_t n, uint8_t flip, uint8_t* dst) {
  int64_t x = 0;
  if (n >= 16) {
    const __m128i f = _mm_set1_epi8(static_cast<char>(flip));
    for (;; x += 16) {
      x = std::min(x, n - 16);
      __m128i r[4];
      for (int d = 0; d < 4; ++d) {
        r[d] = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src[d] + x)), f);
      }
      __m128i quads[4];
      transpose_to_quads(r, quads);
      auto* out = reinterpret_cast<__m128i*>(dst + 4 * x);
      for (int k = 0; k < 4; ++k) _mm_storeu_si128(out + k, quads[k]);
      if (x == n - 16) return;
    }
  }
  for (; x < n; ++x) {
    for (int d = 0; d < 4; ++d) dst[4 * x + d] = src[d][x] ^ flip;
  }
}

// dst[x] = src[2 x] for x < n, reading no byte past src[2 (n - 1)]: 16 at a
// time (the low bytes of 16 words, packed), the last 16 overlapping the ones
// before, then the last byte (the word loads would read one past it).
void even_bytes(const uint8_t* src, int64_t n, uint8_t* dst) {
  int64_t x = 0;
  if (n >= 17) {
    const __m128i low_bytes = _mm_set1_epi16(0x00FF);
    for (;; x += 16) {
      x = std::min(x, n - 17);
      const auto* words = reinterpret_cast<const __m128i*>(src + 2 * x);
      const __m128i a = _mm_and_si128(_mm_loadu_si128(words), low_bytes);
      const __m128i b = _mm_and_si128(_mm_loadu_si128(words + 1), low_bytes);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + x), _mm_packus_epi16(a, b));
      if (x == n - 17) break;
    }
    x = n - 1;
  }
  for (; x < n; ++x) dst[x] = src[2 * x];
}

}  // namespace

DirectLayout make_direct_layout(const ConvGeometry& g, DirectLayoutKind kind) {
  DirectLayout l;
  l.kind = kind;
  const int64_t ig = g.in_per_group();
  l.row_phases = std::min(g.stride_h, g.kernel_h);
  l.plane_h = g.out_h + (g.kernel_h - 1) / g.stride_h;
  if (kind == DirectLayoutKind::kWindowQuads) {
    const int64_t quads_per_row = ceil_div(g.kernel_w, 4);
    l.col_phases = 1;
    l.plane_w = g.out_w;
    l.planes = ig * quads_per_row * l.row_phases;
    l.plane_stride = aligned_plane(l.plane_h * l.plane_w);
    const int64_t plane = l.plane_stride;
    for (int64_t i = 0; i < ig; ++i) {
      for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
        for (int64_t j = 0; j < quads_per_row; ++j) {
          const int64_t p = (i * quads_per_row + j) * l.row_phases + ky % g.stride_h;
          l.step_offsets.push_back(p * plane + (ky / g.stride_h) * l.plane_w);
        }
      }
    }
  } else {
    const int64_t channel_slots = kind == DirectLayoutKind::kChannelQuads ? ceil_div(ig, 4) : ig;
    l.col_phases = std::min(g.stride_w, g.kernel_w);
    l.plane_w = g.out_w + (g.kernel_w - 1) / g.stride_w;
    l.planes = channel_slots * l.row_phases * l.col_phases;
    l.plane_stride = aligned_plane(l.plane_h * l.plane_w);
    const int64_t plane = l.plane_stride;
    for (int64_t c = 0; c < channel_slots; ++c) {
      for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
        for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
          const int64_t p = (c * l.row_phases + ky % g.stride_h) * l.col_phases + kx % g.stride_w;
          l.step_offsets.push_back(p * plane + (ky / g.stride_h) * l.plane_w + kx / g.stride_w);
        }
      }
    }
  }
  l.element_bytes = 4;
  l.pixels = g.out_h * l.plane_w;
  return l;
}

int64_t direct_input_slots(const ConvGeometry& g, const DirectLayout& l) {
  return l.kind == DirectLayoutKind::kChannelQuads
             ? ceil_div(g.in_per_group(), 4)
             : g.in_per_group() * ceil_div(g.kernel_w, 4) * l.row_phases;
}

void pack_direct_input_u8(const uint8_t* in, const ConvGeometry& g, const DirectLayout& l,
                          uint8_t flip, int64_t tile_pixels, QuadRowsFn quad_rows, uint8_t* out) {
  pack_direct_input_u8_slots(in, g, l, flip, tile_pixels, quad_rows, 0, direct_input_slots(g, l),
                             out);
}

void pack_direct_input_u8_slots(const uint8_t* in, const ConvGeometry& g, const DirectLayout& l,
                                uint8_t flip, int64_t tile_pixels, QuadRowsFn quad_rows,
                                int64_t first_slot, int64_t end_slot, uint8_t* out) {
  const int64_t pixels = l.plane_h * l.plane_w;
  const int64_t plane = l.plane_stride;
  // The columns between a plane's last pixel and the next plane: only the
  // discarded columns of a plane's last tile read them, zeros all the same.
  auto zero_gap = [&](uint8_t* plane_dst) {
    std::memset(plane_dst + pixels * 4, 0, static_cast<size_t>((plane - pixels) * 4));
  };
  const int64_t ig = g.in_per_group();
  if (l.kind == DirectLayoutKind::kChannelQuads) {
    // Rows outside the input (padding, or channels past the group's end in
    // the last quad) read from a zero row, so the copy loop has no branches.
    const std::vector<uint8_t> zero_row(static_cast<size_t>(g.in_w), 0);
    // Stride 1 without padding: one phase, and each plane is the input plane
    // (make_direct_layout), so a quad's planes are one contiguous run.
    const bool whole_planes = g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0;
    // quad_rows (AVX-512) makes rows of stride 1 or 2 64 pixels at a time.
    // Without it, stride 2 (the 1x1 downsample shortcuts) takes each long
    // row's every other byte first, then the stride-1 interleave.
    const bool wide = quad_rows != nullptr && g.stride_w <= 2;
    std::vector<uint8_t> even_rows(g.stride_w == 2 ? static_cast<size_t>(4 * l.plane_w) : 0);
    for (int64_t c4 = first_slot; c4 < end_slot; ++c4) {
      if (whole_planes && c4 * 4 + 3 < ig) {
        const uint8_t* planes[4];
        for (int64_t d = 0; d < 4; ++d) planes[d] = input_row(in, g, c4 * 4 + d, 0);
        if (wide) {
          quad_rows(planes, pixels, 1, flip, out + c4 * plane * 4, 1, 0);
        } else {
          interleave_quads(planes, pixels, flip, out + c4 * plane * 4);
        }
        zero_gap(out + c4 * plane * 4);
        continue;
      }
      for (int64_t rp = 0; rp < l.row_phases; ++rp) {
        for (int64_t cp = 0; cp < l.col_phases; ++cp) {
          uint8_t* plane_dst = out + ((c4 * l.row_phases + rp) * l.col_phases + cp) * plane * 4;
          const int64_t first_col = cp - g.pad_w;
          const InsideRange inside = inside_range(g.in_w, l.plane_w, g.stride_w, first_col);
          // All four channels, every row inside the input and every column
          // inside its row (the 1x1 stride-2 shortcuts): the plane is one
          // call, which packs short rows two at a time.
          const int64_t first_row = rp - g.pad_h;
          if (wide && c4 * 4 + 3 < ig && inside.begin == 0 && inside.end == l.plane_w &&
              first_row >= 0 && first_row + (l.plane_h - 1) * g.stride_h < g.in_h) {
            const uint8_t* from[4];
            for (int64_t d = 0; d < 4; ++d) from[d] = input_row(in, g, c4 * 4 + d, rp) + first_col;
            quad_rows(from, l.plane_w, static_cast<int>(g.stride_w), flip, plane_dst, l.plane_h,
                      g.stride_h * g.in_w);
            zero_gap(plane_dst);
            continue;
          }
          for (int64_t yq = 0; yq < l.plane_h; ++yq) {
            const uint8_t* rows[4];
            for (int64_t d = 0; d < 4; ++d) {
              const uint8_t* row = input_row(in, g, c4 * 4 + d, yq * g.stride_h + rp);
              rows[d] = row != nullptr ? row : zero_row.data();
            }
            uint8_t* dst = plane_dst + yq * l.plane_w * 4;
            std::memset(dst, flip, static_cast<size_t>(inside.begin * 4));
            if (wide) {
              const int64_t first = inside.begin * g.stride_w + first_col;
              const uint8_t* from[4];
              for (int d = 0; d < 4; ++d) from[d] = rows[d] + first;
              quad_rows(from, inside.end - inside.begin, static_cast<int>(g.stride_w), flip,
                        dst + inside.begin * 4, 1, 0);
            } else if (g.stride_w == 1) {
              const uint8_t* from[4];
              for (int d = 0; d < 4; ++d) from[d] = rows[d] + inside.begin + first_col;
              interleave_quads(from, inside.end - inside.begin, flip, dst + inside.begin * 4);
            } else if (g.stride_w == 2 && inside.end - inside.begin >= 17) {
              // Shorter rows: the byte loop below is as fast.
              const int64_t count = inside.end - inside.begin;
              const uint8_t* from[4];
              for (int d = 0; d < 4; ++d) {
                uint8_t* row = even_rows.data() + d * l.plane_w;
                even_bytes(rows[d] + inside.begin * 2 + first_col, count, row);
                from[d] = row;
              }
              interleave_quads(from, count, flip, dst + inside.begin * 4);
            } else {
              for (int64_t x = inside.begin; x < inside.end; ++x) {
                const int64_t ix = x * g.stride_w + first_col;
                dst[x * 4 + 0] = rows[0][ix] ^ flip;
                dst[x * 4 + 1] = rows[1][ix] ^ flip;
                dst[x * 4 + 2] = rows[2][ix] ^ flip;
                dst[x * 4 + 3] = rows[3][ix] ^ flip;
              }
            }
            std::memset(dst + inside.end * 4, flip,
                        static_cast<size_t>((l.plane_w - inside.end) * 4));
          }
          zero_gap(plane_dst);
        }
      }
    }
  } else {
    // Slot s is plane s: input channel i, window quad j of each kernel row,
    // row phase rp, s = (i * quads_per_row + j) * row_phases + rp.
    const int64_t quads_per_row = ceil_div(g.kernel_w, 4);
    for (int64_t slot = first_slot; slot < end_slot; ++slot) {
      const int64_t rp = slot % l.row_phases;
      const int64_t j = slot / l.row_phases % quads_per_row;
      const int64_t i = slot / (l.row_phases * quads_per_row);
      uint8_t* dst = out + slot * plane * 4;
      for (int64_t yq = 0; yq < l.plane_h; ++yq) {
        const uint8_t* row = input_row(in, g, i, yq * g.stride_h + rp);
        copy_window_quads(row, g.in_w, l.plane_w, g.stride_w, j * 4 - g.pad_w, flip,
                          dst + yq * l.plane_w * 4);
      }
      zero_gap(dst);
    }
  }
  if (end_slot == direct_input_slots(g, l)) {
    const int64_t used = l.planes * plane * 4;
    std::memset(out + used, 0, static_cast<size_t>(l.buffer_elements(tile_pixels) * 4 - used));
  }
}

void pack_direct_input_f32(const float* in, const ConvGeometry& g, const DirectLayout& l,
                           int64_t tile_pixels, float* out) {
  const int64_t pixels = l.plane_h * l.plane_w;
  const int64_t plane = l.plane_stride;
  for (int64_t i = 0; i < g.in_per_group(); ++i) {
    for (int64_t rp = 0; rp < l.row_phases; ++rp) {
      for (int64_t cp = 0; cp < l.col_phases; ++cp) {
        float* dst = out + ((i * l.row_phases + rp) * l.col_phases + cp) * plane;
        for (int64_t yq = 0; yq < l.plane_h; ++yq) {
          const int64_t iy = yq * g.stride_h + rp - g.pad_h;
          const float* row = (iy >= 0 && iy < g.in_h) ? in + (i * g.in_h + iy) * g.in_w : nullptr;
          copy_padded_row_f32(row, g.in_w, l.plane_w, g.stride_w, cp - g.pad_w,
                              dst + yq * l.plane_w);
        }
        std::fill(dst + pixels, dst + plane, 0.0f);
      }
    }
  }
  const int64_t used = l.planes * plane;
  std::fill(out + used, out + l.buffer_elements(tile_pixels), 0.0f);
}

int64_t out_blocks(const ConvGeometry& g, int64_t block) {
  return ceil_div(g.out_per_group(), block);
}

namespace {

// Byte d of output channel o's weight quad at step s, from int8 weights
// [O, I/groups, KH, KW]: zero for channels or kernel columns past the end.
int8_t step_weight(const int8_t* weights, const ConvGeometry& g, const DirectLayout& l, int64_t o,
                   int64_t s, int64_t d) {
  const int64_t ig = g.in_per_group();
  auto weight = [&](int64_t i, int64_t ky, int64_t kx) -> int8_t {
    return weights[((o * ig + i) * g.kernel_h + ky) * g.kernel_w + kx];
  };
  if (l.kind == DirectLayoutKind::kChannelQuads) {
    // Step s = (channel quad, ky, kx).
    const int64_t taps = g.kernel_h * g.kernel_w;
    const int64_t c4 = s / taps, ky = (s % taps) / g.kernel_w, kx = s % g.kernel_w;
    const int64_t i = c4 * 4 + d;
    return i < ig ? weight(i, ky, kx) : 0;
  }
  // Step s = (input channel, ky, column quad j).
  const int64_t quads_per_row = ceil_div(g.kernel_w, 4);
  const int64_t i = s / (g.kernel_h * quads_per_row);
  const int64_t ky = (s / quads_per_row) % g.kernel_h;
  const int64_t kx = (s % quads_per_row) * 4 + d;
  return kx < g.kernel_w ? weight(i, ky, kx) : 0;
}

// Per output channel, 128 * the sum of its weights: the correction for s8
// inputs read as u8.
std::vector<int32_t> u8_compensation(const int8_t* weights, const ConvGeometry& g) {
  const int64_t per_channel = g.in_per_group() * g.kernel_h * g.kernel_w;
  std::vector<int32_t> compensation(static_cast<size_t>(g.out_channels), 0);
  for (int64_t o = 0; o < g.out_channels; ++o) {
    int32_t sum = 0;
    for (int64_t k = 0; k < per_channel; ++k) sum += weights[o * per_channel + k];
    compensation[static_cast<size_t>(o)] = 128 * sum;
  }
  return compensation;
}

}  // namespace

std::vector<int8_t> pack_direct_weights_s8(const int8_t* weights, const ConvGeometry& g,
                                           const DirectLayout& l,
                                           std::vector<int32_t>& compensation, int64_t block) {
  const int64_t og = g.out_per_group();
  const auto steps = static_cast<int64_t>(l.step_offsets.size());
  const int64_t blocks = out_blocks(g, block);
  std::vector<int8_t> packed(static_cast<size_t>(g.groups * blocks * steps * block * 4), 0);
  compensation = u8_compensation(weights, g);
  for (int64_t grp = 0; grp < g.groups; ++grp) {
    for (int64_t b = 0; b < blocks; ++b) {
      for (int64_t s = 0; s < steps; ++s) {
        for (int64_t r = 0; r < block; ++r) {
          const int64_t local_o = b * block + r;
          if (local_o >= og) continue;
          int8_t* dst =
              &packed[static_cast<size_t>((((grp * blocks + b) * steps + s) * block + r) * 4)];
          for (int64_t d = 0; d < 4; ++d)
            dst[d] = step_weight(weights, g, l, grp * og + local_o, s, d);
        }
      }
    }
  }
  return packed;
}

int64_t matrix_tile_entries(const DirectLayout& l) {
  return ceil_div(static_cast<int64_t>(l.step_offsets.size()), kTileRows);
}

namespace {

// The step of K-row r. Channel quads run tap-major (every quad at one tap,
// then the next tap), so a K-tile is 16 quads at one tap, evenly spaced by
// the plane stride and loaded in place whenever a group has a multiple of 64
// input channels; window quads keep the step order.
int64_t matrix_row_step(const ConvGeometry& g, const DirectLayout& l, int64_t r) {
  if (l.kind != DirectLayoutKind::kChannelQuads) return r;
  const int64_t taps = g.kernel_h * g.kernel_w;
  const int64_t quads = static_cast<int64_t>(l.step_offsets.size()) / taps;
  return (r % quads) * taps + r / quads;
}

// K-tile e's row offsets in bytes (rows past the steps repeat row 0);
// returns the rows that are real.
int matrix_entry_offsets(const ConvGeometry& g, const DirectLayout& l, int64_t e,
                         int64_t offsets[kTileRows]) {
  const int64_t first = e * kTileRows;
  const int used = static_cast<int>(
      std::min<int64_t>(kTileRows, static_cast<int64_t>(l.step_offsets.size()) - first));
  for (int k = 0; k < kTileRows; ++k) {
    const int64_t step = matrix_row_step(g, l, first + (k < used ? k : 0));
    offsets[k] = l.step_offsets[static_cast<size_t>(step)] * 4;
  }
  return used;
}

}  // namespace

std::vector<int32_t> pack_direct_weights_tiles(const int8_t* weights, const ConvGeometry& g,
                                               const DirectLayout& l,
                                               std::vector<int32_t>& compensation,
                                               int channel_tiles) {
  const int64_t og = g.out_per_group();
  const int64_t block = 16 * channel_tiles;
  const int64_t blocks = out_blocks(g, block);
  const int64_t entries = matrix_tile_entries(l);
  const int64_t entry_words = tile_entry_words(channel_tiles);
  std::vector<int32_t> packed(static_cast<size_t>(g.groups * blocks * entries * entry_words), 0);
  compensation = u8_compensation(weights, g);
  for (int64_t grp = 0; grp < g.groups; ++grp) {
    for (int64_t b = 0; b < blocks; ++b) {
      for (int64_t e = 0; e < entries; ++e) {
        int32_t* entry =
            &packed[static_cast<size_t>(((grp * blocks + b) * entries + e) * entry_words)];
        int64_t offsets[kTileRows];
        const int used = matrix_entry_offsets(g, l, e, offsets);
        write_tile_entry_header(offsets, used, entry);
        // Weight tile cv: byte 64 m + 4 k + j = byte j of output channel
        // 16 cv + m of the block at K-row k's step.
        auto* tiles = reinterpret_cast<int8_t*>(entry + kTileHeaderWords);
        for (int64_t r = 0; r < block && b * block + r < og; ++r) {
          const int64_t o = grp * og + b * block + r;
          int8_t* row = tiles + (r / 16) * kTileWeightWords * 4 + (r % 16) * kTileRowBytes;
          for (int k = 0; k < used; ++k) {
            const int64_t step = matrix_row_step(g, l, e * kTileRows + k);
            for (int64_t j = 0; j < 4; ++j) row[4 * k + j] = step_weight(weights, g, l, o, step, j);
          }
        }
      }
    }
  }
  return packed;
}

std::vector<float> pack_direct_weights_f32(const float* weights, const ConvGeometry& g,
                                           const DirectLayout& l) {
  const int64_t ig = g.in_per_group(), og = g.out_per_group();
  const int64_t taps = g.kernel_h * g.kernel_w;
  const auto steps = static_cast<int64_t>(l.step_offsets.size());
  const int64_t blocks = out_blocks(g);
  std::vector<float> packed(static_cast<size_t>(g.groups * blocks * steps * kOutBlock), 0.0f);
  for (int64_t grp = 0; grp < g.groups; ++grp) {
    for (int64_t b = 0; b < blocks; ++b) {
      for (int64_t s = 0; s < steps; ++s) {
        for (int64_t r = 0; r < kOutBlock; ++r) {
          const int64_t local_o = b * kOutBlock + r;
          if (local_o >= og) continue;
          const int64_t o = grp * og + local_o;
          // Step s = (input channel, ky, kx): the reference summation order.
          packed[static_cast<size_t>(((grp * blocks + b) * steps + s) * kOutBlock + r)] =
              weights[o * ig * taps + s];
        }
      }
    }
  }
  return packed;
}

}  // namespace sparq::kernels
