// Portable quad microkernel: plain integer loops, exact in int32. The
// reference of the quad layout and the path of CPUs without AVX2.
#include <cstring>

#include "kernels/sparse_conv3x3/microkernels.hpp"

namespace sparq::kernels::sparse3x3 {
namespace {

template <typename In>
void accumulate_quad(const uint8_t* tile_input, const int32_t* entries, const int32_t* entries_end,
                     void* acc_raw, int out_block, int tile) {
  auto* acc = static_cast<int32_t*>(acc_raw);
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

template <typename In, int OB, int PV>
void accumulate_fixed(const uint8_t* tile_input, const int32_t* entries, const int32_t* entries_end,
                      void* acc) {
  accumulate_quad<In>(tile_input, entries, entries_end, acc, OB, PV * kScalarLanes);
}

template <typename In, int OB>
AccumulateFn pick(int pixel_vecs) {
  switch (pixel_vecs) {
    case 1:
      return &accumulate_fixed<In, OB, 1>;
    case 2:
      return &accumulate_fixed<In, OB, 2>;
    case 3:
      return &accumulate_fixed<In, OB, 3>;
    case 4:
      return &accumulate_fixed<In, OB, 4>;
    default:
      return nullptr;
  }
}

template <typename In>
AccumulateFn pick_block(int out_block, int pixel_vecs) {
  switch (out_block) {
    case 1:
      return pick<In, 1>(pixel_vecs);
    case 2:
      return pick<In, 2>(pixel_vecs);
    case 4:
      return pick<In, 4>(pixel_vecs);
    default:
      return nullptr;
  }
}

}  // namespace

AccumulateFn accumulate_quad_scalar(int out_block, int pixel_vecs, bool signed_input) {
  return signed_input ? pick_block<int8_t>(out_block, pixel_vecs)
                      : pick_block<uint8_t>(out_block, pixel_vecs);
}

}  // namespace sparq::kernels::sparse3x3
