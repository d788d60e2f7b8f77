// StagingEpilogue compiled with the avx2 flags (see staging_epilogue_impl.hpp).
#include "kernels/sparse_conv3x3/staging_epilogue_impl.hpp"

namespace sparq::kernels::sparse3x3 {

StagingEpilogue staging_epilogue_avx2() {
  return kLaneOps;
}

}  // namespace sparq::kernels::sparse3x3
