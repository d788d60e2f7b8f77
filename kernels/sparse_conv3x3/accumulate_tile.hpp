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
#include <utility>

#include "kernels/sparse_conv3x3/microkernels.hpp"

namespace sparq::kernels::sparse3x3 {

// acc[ob][pv] += weight register ob x input register pv at the entry's
// offset, for every entry. An entry is one offset word and OB weight
// registers of kWeightWords words each. V supplies the ISA's operations:
//   using Reg;  using Acc;  static constexpr int kLanes;  (Acc per Reg)
//   static constexpr int kWeightWords;
//   Reg zero();  Reg load_acc(const Acc*);  void store_acc(Acc*, Reg);
//   Reg load_input(const uint8_t* at, int pv);  Reg load_weight(const int32_t*);
//   void multiply_add(Reg& acc, Reg x, Reg w);
// Pixel-vector kernels broadcast one weight word and load PV vectors of
// pixels; output-channel kernels (VectorAxis::kOutputChannels) load OB vectors of 16
// output channels' weights and broadcast each of PV pixels.
// Every loop over the register block is fully unrolled (forced: otherwise
// GCC 12 keeps the accumulator array in memory for OB = 4).
template <class V>
struct RegisterTile {
  template <int OB, int PV>
  static void run(const uint8_t* tile_input, const int32_t* entries, const int32_t* entries_end,
                  void* acc_raw, bool fresh) {
    constexpr int kTile = PV * V::kLanes;
    auto* acc = static_cast<typename V::Acc*>(acc_raw);
    typename V::Reg a[OB][PV];
#pragma GCC unroll 16
    for (int ob = 0; ob < OB; ++ob) {
#pragma GCC unroll 16
      for (int pv = 0; pv < PV; ++pv) {
        a[ob][pv] = fresh ? V::zero() : V::load_acc(acc + ob * kTile + pv * V::kLanes);
      }
    }
    for (const int32_t* e = entries; e != entries_end; e += 1 + OB * V::kWeightWords) {
      const uint8_t* x = tile_input + e[0];
      typename V::Reg w[OB];
#pragma GCC unroll 16
      for (int ob = 0; ob < OB; ++ob) w[ob] = V::load_weight(e + 1 + ob * V::kWeightWords);
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

// Kernel::run<OB, PV> for PV = pixel_vecs in 1..max_pv(OB), or nullptr
// outside (past the block's register budget).
template <class Kernel, int OB, size_t... I>
AccumulateFn pick_from(int pixel_vecs, std::index_sequence<I...>) {
  static constexpr AccumulateFn kTable[] = {&Kernel::template run<OB, static_cast<int>(I) + 1>...};
  return kTable[pixel_vecs - 1];
}

template <class Kernel, int OB, int (*max_pv)(int)>
AccumulateFn pick_pixel_vecs(int pixel_vecs) {
  constexpr int kMax = max_pv(OB);
  if constexpr (kMax < 1) {
    return nullptr;
  } else {
    if (pixel_vecs < 1 || pixel_vecs > kMax) return nullptr;
    return pick_from<Kernel, OB>(pixel_vecs, std::make_index_sequence<kMax>{});
  }
}

// The instantiation for a runtime (out_block, pixel_vecs); out blocks are 1 to 4
// (3 only where max_pv(3) > 0: the output-channel kernels).
template <class Kernel, int (*max_pv)(int)>
AccumulateFn pick_tile_kernel(int out_block, int pixel_vecs) {
  switch (out_block) {
    case 1:
      return pick_pixel_vecs<Kernel, 1, max_pv>(pixel_vecs);
    case 2:
      return pick_pixel_vecs<Kernel, 2, max_pv>(pixel_vecs);
    case 3:
      return pick_pixel_vecs<Kernel, 3, max_pv>(pixel_vecs);
    case 4:
      return pick_pixel_vecs<Kernel, 4, max_pv>(pixel_vecs);
    default:
      return nullptr;
  }
}

}  // namespace sparq::kernels::sparse3x3
