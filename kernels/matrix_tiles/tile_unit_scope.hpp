// Holds the calling thread's tile unit configured while it lives: `begin`
// on construction, `end` on destruction (both null: nothing to configure,
// as on the portable model of the unit).
#pragma once

namespace sparq::kernels {

class TileUnitScope {
 public:
  TileUnitScope(void (*begin)(), void (*end)()) : end_(end) {
    if (begin != nullptr) begin();
  }
  ~TileUnitScope() {
    if (end_ != nullptr) end_();
  }
  TileUnitScope(const TileUnitScope&) = delete;
  TileUnitScope& operator=(const TileUnitScope&) = delete;

 private:
  void (*end_)();
};

}  // namespace sparq::kernels
