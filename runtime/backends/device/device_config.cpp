// DeviceConfig: validation, operating points and the JSON file form.
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "sparq/device.hpp"
#include "sparq/error.hpp"

namespace sparq {
namespace {

using nlohmann::json;

[[noreturn]] void bad_field(const std::string& field, const std::string& why) {
  throw Error(ErrorCode::kInvalidArgument, "device config: '" + field + "' " + why);
}

void require_range(const std::string& field, double value, double lo, double hi) {
  if (!std::isfinite(value) || value < lo || value > hi) {
    std::ostringstream os;
    os << "must lie in [" << lo << ", " << hi << "], is " << value;
    bad_field(field, os.str());
  }
}

void check_point(const std::string& field, const OperatingPoint& p) {
  if (p.name.empty()) bad_field(field + ".name", "must not be empty");
  require_range(field + ".frequency_hz", p.frequency_hz, 1e3, 1e11);
  require_range(field + ".volts", p.volts, 0.05, 10.0);
}

json point_to_json(const OperatingPoint& p) {
  return {{"name", p.name}, {"frequency_hz", p.frequency_hz}, {"volts", p.volts}};
}

OperatingPoint point_from_json(const json& j, const std::string& field) {
  if (!j.is_object()) bad_field(field, "must be an object {name, frequency_hz, volts}");
  OperatingPoint p;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string key = it.key();
    if (key == "name") {
      if (!it->is_string()) bad_field(field + ".name", "must be a string");
      p.name = it->get<std::string>();
    } else if (key == "frequency_hz" || key == "volts") {
      if (!it->is_number()) bad_field(field + "." + key, "must be a number");
      (key == "volts" ? p.volts : p.frequency_hz) = it->get<double>();
    } else {
      bad_field(field + "." + key, "is not a field of an operating point");
    }
  }
  return p;
}

// One table of (name, member) drives both directions of the JSON form.
template <typename Visitor>
void visit_scalars(DeviceConfig& c, Visitor&& v) {
  v("array_rows", c.array_rows);
  v("array_cols", c.array_cols);
  v("weight_bits", c.weight_bits);
  v("activation_bits", c.activation_bits);
  v("position_bits", c.position_bits);
  v("accumulator_bits", c.accumulator_bits);
  v("intermediate_bits", c.intermediate_bits);
  v("aligner_pipeline_stages", c.aligner_pipeline_stages);
  v("vector_lanes", c.vector_lanes);
  v("weight_buffer_bytes", c.weight_buffer_bytes);
  v("activation_buffer_bytes", c.activation_buffer_bytes);
  v("partial_sum_buffer_bytes", c.partial_sum_buffer_bytes);
  v("offchip_bytes_per_second", c.offchip_bytes_per_second);
  v("offchip_joules_per_byte", c.offchip_joules_per_byte);
  v("reference_volts", c.reference_volts);
  v("multiplier_joules_per_bit2", c.multiplier_joules_per_bit2);
  v("adder_joules_per_bit", c.adder_joules_per_bit);
  v("register_joules_per_bit", c.register_joules_per_bit);
  v("mux_joules_per_bit", c.mux_joules_per_bit);
  v("sram_joules_per_byte_8k", c.sram_joules_per_byte_8k);
  v("sram_macro_bytes", c.sram_macro_bytes);
  v("sram_size_exponent", c.sram_size_exponent);
  v("leakage_watts_per_mm2", c.leakage_watts_per_mm2);
  v("core_area_mm2", c.core_area_mm2);
  v("static_voltage_exponent", c.static_voltage_exponent);
  v("overhead_factor", c.overhead_factor);
}

}  // namespace

void DeviceConfig::validate() const {
  require_range("array_rows", array_rows, 1, 4096);
  require_range("array_cols", array_cols, 1, 4096);
  require_range("weight_bits", weight_bits, 1, 16);
  require_range("activation_bits", activation_bits, 1, 16);
  require_range("position_bits", position_bits, 4, 16);  // positions 0..8 need 4 bits
  require_range("accumulator_bits", accumulator_bits, 8, 64);
  require_range("intermediate_bits", intermediate_bits, 1, 32);
  require_range("aligner_pipeline_stages", aligner_pipeline_stages, 0, 1024);
  require_range("vector_lanes", vector_lanes, 1, 65536);
  require_range("weight_buffer_bytes", static_cast<double>(weight_buffer_bytes), 1, 1e12);
  require_range("activation_buffer_bytes", static_cast<double>(activation_buffer_bytes), 1, 1e12);
  require_range("partial_sum_buffer_bytes", static_cast<double>(partial_sum_buffer_bytes), 1, 1e12);
  require_range("offchip_bytes_per_second", offchip_bytes_per_second, 1e3, 1e15);
  require_range("offchip_joules_per_byte", offchip_joules_per_byte, 0, 1e-6);
  require_range("reference_volts", reference_volts, 0.05, 10.0);
  require_range("multiplier_joules_per_bit2", multiplier_joules_per_bit2, 0, 1e-9);
  require_range("adder_joules_per_bit", adder_joules_per_bit, 0, 1e-9);
  require_range("register_joules_per_bit", register_joules_per_bit, 0, 1e-9);
  require_range("mux_joules_per_bit", mux_joules_per_bit, 0, 1e-9);
  require_range("sram_joules_per_byte_8k", sram_joules_per_byte_8k, 0, 1e-6);
  require_range("sram_macro_bytes", static_cast<double>(sram_macro_bytes), 64, 1e9);
  require_range("sram_size_exponent", sram_size_exponent, 0, 2);
  require_range("leakage_watts_per_mm2", leakage_watts_per_mm2, 0, 100);
  require_range("core_area_mm2", core_area_mm2, 0, 1e4);
  require_range("static_voltage_exponent", static_voltage_exponent, 0, 10);
  require_range("overhead_factor", overhead_factor, 0, 1e3);
  for (size_t i = 0; i < operating_points.size(); ++i) {
    check_point("operating_points[" + std::to_string(i) + "]", operating_points[i]);
  }
  check_point("clock", clock);
}

DeviceConfig DeviceConfig::at_point(const std::string& name) const {
  std::string known;
  for (const OperatingPoint& p : operating_points) {
    if (p.name == name) {
      DeviceConfig out = *this;
      out.clock = p;
      return out;
    }
    known += (known.empty() ? "" : ", ") + p.name;
  }
  throw Error(ErrorCode::kInvalidArgument,
              "device config: no operating point named '" + name + "' (known: " + known + ")");
}

DeviceConfig DeviceConfig::at_volts(double volts) const {
  if (operating_points.size() < 2) {
    bad_field("operating_points", "needs two points to scale the voltage between");
  }
  const OperatingPoint* lo = nullptr;
  const OperatingPoint* hi = nullptr;
  for (const OperatingPoint& p : operating_points) {
    if (!lo || p.volts < lo->volts) lo = &p;
    if (!hi || p.volts > hi->volts) hi = &p;
  }
  if (!(volts >= lo->volts && volts <= hi->volts) || lo->volts == hi->volts) {
    std::ostringstream os;
    os << "device config: " << volts << " V lies outside the published points (" << lo->volts
       << " V .. " << hi->volts << " V)";
    throw Error(ErrorCode::kInvalidArgument, os.str());
  }
  // Linear interpolation between the nearest published points below and above.
  const OperatingPoint* below = lo;
  const OperatingPoint* above = hi;
  for (const OperatingPoint& p : operating_points) {
    if (p.volts <= volts && p.volts > below->volts) below = &p;
    if (p.volts >= volts && p.volts < above->volts) above = &p;
  }
  DeviceConfig out = *this;
  const double t =
      above->volts == below->volts ? 0.0 : (volts - below->volts) / (above->volts - below->volts);
  std::ostringstream name;
  name << volts << "V";
  out.clock = {name.str(), below->frequency_hz + t * (above->frequency_hz - below->frequency_hz),
               volts};
  return out;
}

std::string DeviceConfig::to_json() const {
  json j;
  DeviceConfig copy = *this;
  visit_scalars(copy, [&](const char* key, auto& member) { j[key] = member; });
  j["operating_points"] = json::array();
  for (const OperatingPoint& p : operating_points)
    j["operating_points"].push_back(point_to_json(p));
  j["clock"] = point_to_json(clock);
  // Node and model names come from model files: replace invalid UTF-8.
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

DeviceConfig DeviceConfig::from_json(const std::string& text, const std::string& source) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw Error(ErrorCode::kInvalidArgument, source + ": not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw Error(ErrorCode::kInvalidArgument, source + ": must be a JSON object");
  DeviceConfig c;
  try {
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string key = it.key();
      if (key == "operating_points") {
        if (!it->is_array()) bad_field(key, "must be an array");
        c.operating_points.clear();
        for (size_t i = 0; i < it->size(); ++i) {
          c.operating_points.push_back(
              point_from_json((*it)[i], key + "[" + std::to_string(i) + "]"));
        }
        continue;
      }
      if (key == "clock") {
        c.clock = point_from_json(*it, key);
        continue;
      }
      bool known = false;
      visit_scalars(c, [&](const char* name, auto& member) {
        if (key != name) return;
        known = true;
        using T = std::decay_t<decltype(member)>;
        if (!it->is_number()) bad_field(key, "must be a number");
        if constexpr (std::is_integral_v<T>) {
          if (!it->is_number_integer()) bad_field(key, "must be an integer");
          const auto v = it->get<int64_t>();
          if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max()) {
            bad_field(key, "is out of range");
          }
          member = static_cast<T>(v);
        } else {
          member = it->get<double>();
        }
      });
      if (!known) bad_field(key, "is not a device config field");
    }
    c.validate();
  } catch (const Error& e) {
    throw Error(e.code(), source + ": " + e.what());
  }
  return c;
}

void DeviceConfig::save(const std::filesystem::path& path) const {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw Error(ErrorCode::kIo, "cannot write device config '" + path.string() + "'");
  out << to_json();
  if (!out) throw Error(ErrorCode::kIo, "failed writing device config '" + path.string() + "'");
}

DeviceConfig DeviceConfig::load(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, "cannot read device config '" + path.string() + "'");
  std::ostringstream text;
  text << in.rdbuf();
  return from_json(text.str(), path.string());
}

}  // namespace sparq
