// The calling thread's AMX tile unit, configured for the tile program
// (8 tiles of 16 rows x 64 bytes). ldtilecfg costs as much as a small
// tile's work, so a caller that runs many tiles configures once, for its
// whole run of them; tilerelease then returns the thread's tile state to
// its initial state, so context switches stop saving it. Only where
// active_isa() is kAmx (isa.cpp requested the tile data state).
#pragma once

namespace sparq::kernels {

void configure_amx_tile_unit();
void release_amx_tile_unit();

// Holds the unit configured while it lives, when `active` (the portable
// model of the unit, and paths without tiles, need nothing).
class TileUnitScope {
 public:
  explicit TileUnitScope(bool active) : active_(active) {
    if (active_) configure_amx_tile_unit();
  }
  ~TileUnitScope() {
    if (active_) release_amx_tile_unit();
  }
  TileUnitScope(const TileUnitScope&) = delete;
  TileUnitScope& operator=(const TileUnitScope&) = delete;

 private:
  bool active_;
};

}  // namespace sparq::kernels
