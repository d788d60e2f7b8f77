// StagingEpilogue compiled with the avx512 flags (see staging_epilogue_impl.hpp).
#include "kernels/sparse_conv3x3/staging_epilogue_impl.hpp"

namespace sparq::kernels::sparse3x3 {

StagingEpilogue staging_epilogue_avx512() {
  return kLaneOps;
}

}  // namespace sparq::kernels::sparse3x3
