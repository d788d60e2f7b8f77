// simulate(): places the model's nodes as a session with backends
// {device, cpu} does (the same transfer rule: a value crossing between host
// and device memory moves once per crossing) and models every device node.
#include <limits>
#include <string>
#include <vector>

#include "runtime/backends/device/device_model.hpp"
#include "runtime/session/resource_check.hpp"
#include "sparq/device.hpp"
#include "sparq/error.hpp"

namespace sparq {
namespace {

void add_to_total(LayerReport& total, const LayerReport& row) {
  total.cycles += row.cycles;
  total.compute_cycles += row.compute_cycles;
  total.memory_cycles += row.memory_cycles;
  total.busy_pe_cycles += row.busy_pe_cycles;
  total.seconds += row.seconds;
  total.dense_macs += row.dense_macs;
  total.actual_macs += row.actual_macs;
  total.offchip_weight_bytes += row.offchip_weight_bytes;
  total.offchip_activation_bytes += row.offchip_activation_bytes;
  total.offchip_partial_sum_bytes += row.offchip_partial_sum_bytes;
  total.transfer_bytes += row.transfer_bytes;
  total.sram_bytes += row.sram_bytes;
  total.energy.mac += row.energy.mac;
  total.energy.aligner += row.energy.aligner;
  total.energy.sram += row.energy.sram;
  total.energy.vector += row.energy.vector;
  total.energy.leakage += row.energy.leakage;
  total.energy.offchip += row.energy.offchip;
}

int64_t host_bytes(const Value& v, int64_t batch) {
  return static_cast<int64_t>(storage_bytes(v.dtype, static_cast<size_t>(v.shape.elements()))) *
         batch;
}

}  // namespace

const char* to_string(SimulationMode mode) {
  return mode == SimulationMode::kAnalytic ? "analytic" : "cycle-stepped";
}

DeviceReport simulate(const Model& model, const DeviceConfig& config, int64_t batch,
                      SimulationMode mode) {
  config.validate();
  if (batch < 1) {
    throw Error(ErrorCode::kInvalidArgument,
                "simulate: batch must be at least 1, is " + std::to_string(batch));
  }
  const Graph& graph = model.graph();
  // The cycle and energy arithmetic is 64-bit: a model over the operation
  // limit (a window of 2^31 taps) would overflow it into nonsense. Memory is
  // not limited here: simulate allocates nothing per tensor.
  ResourceLimits limits;
  limits.max_memory_bytes = std::numeric_limits<int64_t>::max();
  check_graph_limits(graph, limits);
  DeviceReport report;
  report.config = config;
  report.batch = batch;
  report.mode = mode;
  report.total.name = "total";
  report.total.placement = "device";

  std::vector<bool> on_device(graph.values.size(), false);
  const GraphIndex index = index_graph(graph);  // once: linear in the graph
  std::vector<device::NodeWork> works(graph.nodes.size());
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    const Node& node = graph.nodes[n];
    if (!device::device_supports(graph, node)) continue;
    works[n] = device::describe_node(graph, index, node, config);
  }
  report.weight_bytes = device::device_weight_bytes(graph, index, config);
  report.weights_resident = report.weight_bytes <= config.weight_buffer_bytes;
  auto transfer = [&](ValueId v, bool to_device) {
    const Value& value = graph.value(v);
    LayerReport row = device::model_transfer(value.name, host_bytes(value, batch), config);
    row.shape = to_device ? "host->device" : "device->host";
    add_to_total(report.total, row);
    report.layers.push_back(std::move(row));
    on_device[static_cast<size_t>(v)] = to_device;
  };

  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    const Node& node = graph.nodes[n];
    const bool device_node = device::device_supports(graph, node);
    for (ValueId in : node.inputs) {
      if (on_device[static_cast<size_t>(in)] != device_node) transfer(in, device_node);
    }
    if (device_node) {
      LayerReport row = device::model_node(works[n], config, batch, mode, report.weights_resident);
      if (row.offchip_partial_sum_bytes > 0) {
        report.spills.push_back(row.name + ": partial sums exceed partial_sum_buffer_bytes");
      }
      // A value that could stay on chip (only device nodes touch it) but
      // whose footprint for the batch exceeds the activation buffer.
      const device::NodeWork& w = works[n];
      bool spilled = w.output_share_footprint >= 0 &&
                     batch * w.output_share_footprint > config.activation_buffer_bytes;
      for (int64_t share : w.input_share_footprint) {
        spilled = spilled || (share >= 0 && batch * share > config.activation_buffer_bytes);
      }
      if (spilled) {
        report.spills.push_back(row.name +
                                ": activations exceed activation_buffer_bytes for the batch");
      }
      add_to_total(report.total, row);
      report.layers.push_back(std::move(row));
    } else {
      LayerReport row;
      row.name = node.name;
      row.op = op_name(node.op);
      row.placement = "host";
      const MacCount macs = count_macs(graph, node);
      row.dense_macs = macs.dense * batch;
      row.actual_macs = macs.actual * batch;
      report.layers.push_back(std::move(row));
    }
    on_device[static_cast<size_t>(node.output)] = device_node;
  }
  for (ValueId out : graph.outputs) {
    if (on_device[static_cast<size_t>(out)]) transfer(out, false);
  }
  if (report.total.cycles > 0) {
    report.total.utilization =
        static_cast<double>(report.total.busy_pe_cycles) /
        (static_cast<double>(config.array_rows) * config.array_cols * report.total.cycles);
  }
  return report;
}

}  // namespace sparq
