// LaneOps compiled with the avx512 flags (see lane_ops_impl.hpp).
#include "kernels/sparse_conv3x3/lane_ops_impl.hpp"

namespace sparq::kernels::sparse3x3 {

LaneOps lane_ops_avx512() {
  return kLaneOps;
}

}  // namespace sparq::kernels::sparse3x3
