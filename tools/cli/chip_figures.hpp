// What the modelled chip would spend on the steps a session ran on the
// "device" backend: its latency, its energy (chip and off-chip interface, as
// the backend reports per step) and its dense-equivalent TOPS/W, shown next
// to the host's emulation time by run, eval, bench and classify.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "sparq/session.hpp"

namespace sparq::cli {

struct ChipFigures {
  int64_t steps = 0;  // steps with device figures; 0: nothing ran on the chip
  int64_t cycles = 0;
  double seconds = 0;
  double joules = 0;
  int64_t dense_macs = 0;  // of the device steps

  void add(const RunStats& stats);
  double dense_tops_per_watt() const;
  // One labelled line: the totals divided over `units` (runs, images) named
  // `unit`, with the host's time for the same unit beside them; empty when
  // nothing ran on the chip.
  std::string text(int64_t units, const std::string& unit, double host_seconds_total) const;
  nlohmann::json json(int64_t units, const std::string& unit, double host_seconds_total) const;
};

}  // namespace sparq::cli
