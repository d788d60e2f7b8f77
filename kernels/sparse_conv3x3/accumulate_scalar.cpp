// Portable quad microkernel: plain integer loops, exact in int32. The
// reference of the quad layout and the path of CPUs without AVX2.
#include <cstring>

#include "kernels/sparse_conv3x3/accumulate_tile.hpp"

namespace sparq::kernels::sparse3x3 {
namespace {

template <typename In>
void accumulate_quad(const uint8_t* tile_input, const int32_t* entries, const int32_t* entries_end,
                     void* acc_raw, bool fresh, int out_block, int tile) {
  auto* acc = static_cast<int32_t*>(acc_raw);
  if (fresh) std::memset(acc, 0, sizeof(int32_t) * out_block * tile);
  const int words = 1 + out_block;
  for (const int32_t* e = entries; e != entries_end; e += words) {
    const auto* x = reinterpret_cast<const In*>(tile_input + e[0]);
    for (int ob = 0; ob < out_block; ++ob) {
      int8_t w[4];
      std::memcpy(w, &e[1 + ob], 4);
      int32_t* a = acc + ob * tile;
      for (int t = 0; t < tile; ++t) {
        const In* q = x + 4 * t;
        a[t] += int32_t{q[0]} * w[0] + int32_t{q[1]} * w[1] + int32_t{q[2]} * w[2] +
                int32_t{q[3]} * w[3];
      }
    }
  }
}

// The table's interface: a fixed (OB, PV) entry point per instantiation.
template <typename In>
struct ScalarQuad {
  template <int OB, int PV>
  static void run(const uint8_t* tile_input, const int32_t* entries, const int32_t* entries_end,
                  void* acc, bool fresh) {
    accumulate_quad<In>(tile_input, entries, entries_end, acc, fresh, OB, PV * kScalarVectorPixels);
  }
};

}  // namespace

AccumulateFn accumulate_quad_scalar(int out_block, int pixel_vecs, bool signed_input) {
  return signed_input
             ? pick_tile_kernel<ScalarQuad<int8_t>, max_pixel_vecs_scalar>(out_block, pixel_vecs)
             : pick_tile_kernel<ScalarQuad<uint8_t>, max_pixel_vecs_scalar>(out_block, pixel_vecs);
}

}  // namespace sparq::kernels::sparse3x3
