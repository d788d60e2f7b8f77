// ISA detection from cpuid and XCR0, plus the Linux AMX permission request.
// Compiled with baseline flags: nothing here may execute an instruction the
// CPU might lack before the checks say it is there.
#include "kernels/isa/isa.hpp"

#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/isa/isa_override.hpp"
#include "sparq/error.hpp"

namespace sparq::kernels {
namespace {

struct CpuidRegs {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
};

CpuidRegs cpuid(unsigned leaf, unsigned subleaf) {
  CpuidRegs r;
  if (!__get_cpuid_count(leaf, subleaf, &r.eax, &r.ebx, &r.ecx, &r.edx)) return CpuidRegs{};
  return r;
}

bool bit(unsigned reg, int index) {
  return ((reg >> index) & 1u) != 0;
}

// XCR0 says which register states the OS saves on a context switch; a unit
// whose state the OS does not save must not be used even if cpuid lists it.
uint64_t read_xcr0() {
  unsigned eax = 0, edx = 0;
  // Raw encoding of xgetbv so the file needs no -mxsave.
  __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

// Linux keeps AMX tile data off until a process asks for it; the first tile
// instruction faults otherwise.
bool request_amx_permission() {
#if defined(__linux__) && defined(SYS_arch_prctl)
  constexpr int kArchGetXcompPerm = 0x1022;
  constexpr int kArchReqXcompPerm = 0x1023;
  constexpr int kXfeatureXtiledata = 18;
  if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) != 0) return false;
  uint64_t granted = 0;
  if (syscall(SYS_arch_prctl, kArchGetXcompPerm, &granted) != 0) return false;
  return ((granted >> kXfeatureXtiledata) & 1u) != 0;
#else
  return false;
#endif
}

Isa detect_hardware_isa() {
  const CpuidRegs leaf0 = cpuid(0, 0);
  const unsigned max_leaf = leaf0.eax;
  if (max_leaf < 7) return Isa::kScalar;
  const CpuidRegs leaf1 = cpuid(1, 0);
  const bool osxsave = bit(leaf1.ecx, 27);
  const bool avx = bit(leaf1.ecx, 28);
  const bool fma = bit(leaf1.ecx, 12);
  if (!osxsave || !avx) return Isa::kScalar;
  const uint64_t xcr0 = read_xcr0();
  const bool os_avx = (xcr0 & 0x6) == 0x6;          // XMM | YMM state
  const bool os_avx512 = (xcr0 & 0xE0) == 0xE0;     // opmask | ZMM_Hi256 | Hi16_ZMM
  const bool os_amx = (xcr0 & 0x60000) == 0x60000;  // XTILECFG | XTILEDATA
  const CpuidRegs leaf7 = cpuid(7, 0);
  const bool avx2 = bit(leaf7.ebx, 5);
  if (!os_avx || !avx2 || !fma) return Isa::kScalar;
  const bool avx512 = bit(leaf7.ebx, 16) && bit(leaf7.ebx, 17) && bit(leaf7.ebx, 30) &&
                      bit(leaf7.ebx, 31);  // F, DQ, BW, VL
  if (!os_avx512 || !avx512) return Isa::kAvx2;
  const bool vnni = bit(leaf7.ecx, 11);
  if (!vnni) return Isa::kAvx512;
  const bool amx = bit(leaf7.edx, 24) && bit(leaf7.edx, 25);  // AMX-TILE, AMX-INT8
  if (!os_amx || !amx || !request_amx_permission()) return Isa::kVnni;
  return Isa::kAmx;
}

Isa env_cap(Isa hardware) {
  const char* value = std::getenv("SPARQ_ISA");
  if (value == nullptr || *value == '\0') return hardware;
  Isa requested;
  try {
    requested = parse_isa(value);
  } catch (const Error& e) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string("environment variable SPARQ_ISA: ") + e.what());
  }
  return std::min(requested, hardware);
}

constexpr int kNoOverride = -1;
std::atomic<int> g_override{kNoOverride};

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return "scalar";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
    case Isa::kVnni:
      return "vnni";
    case Isa::kAmx:
      return "amx";
  }
  return "unknown";
}

Isa parse_isa(const char* name) {
  const std::string text = name == nullptr ? "" : name;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kVnni, Isa::kAmx}) {
    if (text == isa_name(isa)) return isa;
  }
  throw Error(ErrorCode::kInvalidArgument,
              "unknown ISA '" + text + "' (expected scalar, avx2, avx512, vnni or amx)");
}

Isa hardware_isa() {
  static const Isa detected = detect_hardware_isa();
  return detected;
}

Isa active_isa() {
  const int forced = g_override.load(std::memory_order_acquire);
  if (forced != kNoOverride) return std::min(static_cast<Isa>(forced), hardware_isa());
  static const Isa capped = env_cap(hardware_isa());
  return capped;
}

bool isa_supported(Isa isa) {
  return isa <= hardware_isa();
}

void set_isa_override(std::optional<Isa> isa) {
  g_override.store(isa ? static_cast<int>(*isa) : kNoOverride, std::memory_order_release);
}

std::optional<Isa> isa_override() {
  const int forced = g_override.load(std::memory_order_acquire);
  if (forced == kNoOverride) return std::nullopt;
  return static_cast<Isa>(forced);
}

}  // namespace sparq::kernels
