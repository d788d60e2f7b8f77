// AMX: the VNNI tiles plus the matrix tiles on the tile unit.
#include "kernels/conv2d/direct_conv_matrix_impl.hpp"
#include "kernels/matrix_tiles/amx_tile_unit.hpp"

namespace sparq::kernels {

DirectConvKernels direct_conv_kernels_amx() {
  DirectConvKernels k = direct_conv_kernels_vnni();
  k.isa = Isa::kAmx;
  k.matrix_tile = &pick_matrix_tile<AmxTileUnit>;
  return k;
}

}  // namespace sparq::kernels
