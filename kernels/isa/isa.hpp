// Which instruction set the kernels may use. Detected once from cpuid (and,
// for AMX, the Linux permission request); SPARQ_ISA=scalar|avx2|avx512|vnni|amx
// caps it so tests can force every lower path on a capable machine.
#pragma once

namespace sparq::kernels {

// Ordered: each level includes the ones before it.
enum class Isa : int {
  kScalar = 0,
  kAvx2 = 1,    // AVX2 + FMA
  kAvx512 = 2,  // AVX-512 F/BW/VL/DQ
  kVnni = 3,    // + AVX512-VNNI
  kAmx = 4,     // + AMX-TILE/INT8, permission granted by the OS
};

const char* isa_name(Isa isa);
// Parses "scalar", "avx2", "avx512", "vnni", "amx"; throws Error(kInvalidArgument) otherwise.
Isa parse_isa(const char* name);
// What this CPU (and OS) supports, ignoring SPARQ_ISA.
Isa hardware_isa();
// hardware_isa() capped by SPARQ_ISA (read once); what kernels should use.
Isa active_isa();
// True when `isa` <= hardware_isa() (tests use it to skip, visibly, missing paths).
bool isa_supported(Isa isa);

}  // namespace sparq::kernels
