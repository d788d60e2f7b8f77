// StagingEpilogue compiled with the scalar flags (see staging_epilogue_impl.hpp).
#include "kernels/sparse_conv3x3/staging_epilogue_impl.hpp"

namespace sparq::kernels::sparse3x3 {

StagingEpilogue staging_epilogue_scalar() {
  return kLaneOps;
}

}  // namespace sparq::kernels::sparse3x3
