// In-process override of the active ISA, for tests that must exercise every
// lower kernel path on a capable machine without re-running the process under
// another SPARQ_ISA. Internal: not part of the public API.
#pragma once

#include <optional>

#include "kernels/isa/isa.hpp"

namespace sparq::kernels {

// While set, active_isa() returns min(override, hardware_isa()) and ignores
// SPARQ_ISA. std::nullopt restores the normal rule. Process-wide (kernels
// may ask from oneTBB worker threads), so tests must not race on it.
void set_isa_override(std::optional<Isa> isa);
std::optional<Isa> isa_override();

// Sets the override for one scope and restores the previous one on exit.
class ScopedIsa {
 public:
  explicit ScopedIsa(Isa isa) : previous_(isa_override()) { set_isa_override(isa); }
  ~ScopedIsa() { set_isa_override(previous_); }
  ScopedIsa(const ScopedIsa&) = delete;
  ScopedIsa& operator=(const ScopedIsa&) = delete;

 private:
  std::optional<Isa> previous_;
};

}  // namespace sparq::kernels
