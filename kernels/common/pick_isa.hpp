// Picks, from the ISA levels a kernel family implements, the highest one that
// does not exceed the active ISA. A family may skip levels where they would
// not help (e.g. pooling has no VNNI variant): the next lower one runs there.
#pragma once

#include <initializer_list>

#include "kernels/isa/isa.hpp"

namespace sparq::kernels {

inline Isa pick_isa(Isa active, std::initializer_list<Isa> implemented) {
  Isa best = Isa::kScalar;
  for (Isa isa : implemented) {
    if (isa <= active && isa > best) best = isa;
  }
  return best;
}

}  // namespace sparq::kernels
