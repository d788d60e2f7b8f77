// The register-blocked tile loop every SIMD microkernel runs, and the table
// that maps a runtime (out_block, pixel_vecs) to its instantiation.
//
// Include only from a file compiled with one ISA's flags, and instantiate with
// a vector-ops type defined in that file's anonymous namespace: the
// instantiations then belong to that file alone, so no code built for a
// wider ISA can be picked by the linker for a narrower one.
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/sparse_conv3x3/microkernels.hpp"

namespace sparq::kernels::sparse3x3 {

// acc[ob][pv] += w_e[ob] (broadcast) x input vector pv at the entry's offset,
// for every entry. V supplies the ISA's operations:
//   using Reg;  using Acc;  static constexpr int kLanes;  (pixels per Reg)
//   Reg load_acc(const Acc*);  void store_acc(Acc*, Reg);
//   Reg load_input(const uint8_t* at, int pv);  Reg broadcast(int32_t word);
//   void multiply_add(Reg& acc, Reg x, Reg w);
// Every loop over the register block is fully unrolled (forced: otherwise
// GCC 12 keeps the accumulator array in memory for OB = 4).
template <class V>
struct RegisterTile {
  template <int OB, int PV>
  static void run(const uint8_t* tile_input, const int32_t* entries, const int32_t* entries_end,
                  void* acc_raw) {
    constexpr int kTile = PV * V::kLanes;
    auto* acc = static_cast<typename V::Acc*>(acc_raw);
    typename V::Reg a[OB][PV];
#pragma GCC unroll 16
    for (int ob = 0; ob < OB; ++ob) {
#pragma GCC unroll 16
      for (int pv = 0; pv < PV; ++pv) a[ob][pv] = V::load_acc(acc + ob * kTile + pv * V::kLanes);
    }
    for (const int32_t* e = entries; e != entries_end; e += 1 + OB) {
      const uint8_t* x = tile_input + e[0];
      typename V::Reg w[OB];
#pragma GCC unroll 16
      for (int ob = 0; ob < OB; ++ob) w[ob] = V::broadcast(e[1 + ob]);
#pragma GCC unroll 16
      for (int pv = 0; pv < PV; ++pv) {
        const typename V::Reg v = V::load_input(x, pv);
#pragma GCC unroll 16
        for (int ob = 0; ob < OB; ++ob) V::multiply_add(a[ob][pv], v, w[ob]);
      }
    }
#pragma GCC unroll 16
    for (int ob = 0; ob < OB; ++ob) {
#pragma GCC unroll 16
      for (int pv = 0; pv < PV; ++pv) V::store_acc(acc + ob * kTile + pv * V::kLanes, a[ob][pv]);
    }
  }
};

// Kernel::run<OB, PV> for PV = pixel_vecs in 1..8, or nullptr past the
// block's register budget `max_pv(OB)` (a constexpr function). Sizes beyond
// the budget are clamped only so that the table compiles; they are never
// returned.
template <class Kernel, int OB, int (*max_pv)(int)>
AccumulateFn pick_pixel_vecs(int pixel_vecs) {
  constexpr int kMax = max_pv(OB);
  if (pixel_vecs < 1 || pixel_vecs > kMax) return nullptr;
  switch (pixel_vecs) {
    case 1:
      return &Kernel::template run<OB, 1>;
    case 2:
      return &Kernel::template run<OB, std::min(2, kMax)>;
    case 3:
      return &Kernel::template run<OB, std::min(3, kMax)>;
    case 4:
      return &Kernel::template run<OB, std::min(4, kMax)>;
    case 5:
      return &Kernel::template run<OB, std::min(5, kMax)>;
    case 6:
      return &Kernel::template run<OB, std::min(6, kMax)>;
    case 7:
      return &Kernel::template run<OB, std::min(7, kMax)>;
    case 8:
      return &Kernel::template run<OB, std::min(8, kMax)>;
    default:
      return nullptr;
  }
}

// The instantiation for a runtime (out_block, pixel_vecs); out blocks are 1, 2 or 4.
template <class Kernel, int (*max_pv)(int)>
AccumulateFn pick_tile_kernel(int out_block, int pixel_vecs) {
  switch (out_block) {
    case 1:
      return pick_pixel_vecs<Kernel, 1, max_pv>(pixel_vecs);
    case 2:
      return pick_pixel_vecs<Kernel, 2, max_pv>(pixel_vecs);
    case 4:
      return pick_pixel_vecs<Kernel, 4, max_pv>(pixel_vecs);
    default:
      return nullptr;
  }
}

}  // namespace sparq::kernels::sparse3x3
