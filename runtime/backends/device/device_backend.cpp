// The "device" backend. Each supported node wraps the compiled node of a
// host backend for its outputs (bit-exact with the reference by the numerics
// contract) and reports what the chip would spend, from the analytic model,
// as the step's DeviceNodeStats. Its tensors live in device memory, so the
// session inserts transfers, priced by transfer_stats, at every host/device
// boundary.
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "runtime/backends/accumulator_bound.hpp"
#include "runtime/backends/device/cycle_simulator.hpp"
#include "runtime/backends/device/device_model.hpp"
#include "sparq/device.hpp"
#include "sparq/error.hpp"

namespace sparq {

const DeviceNodeStats* device_stats(const NodeStats& stats) {
  return dynamic_cast<const DeviceNodeStats*>(stats.backend_stats.get());
}

std::shared_ptr<const BackendNodeStats> DeviceNodeStats::combined_with(
    const BackendNodeStats& other) const {
  const auto& part = dynamic_cast<const DeviceNodeStats&>(other);
  auto total = std::make_shared<DeviceNodeStats>(*this);
  total->cycles += part.cycles;
  total->seconds += part.seconds;
  total->energy_joules += part.energy_joules;
  total->offchip_bytes += part.offchip_bytes;
  const double busy = utilization * static_cast<double>(cycles) +
                      part.utilization * static_cast<double>(part.cycles);
  total->utilization = total->cycles > 0 ? busy / static_cast<double>(total->cycles) : 0;
  return total;
}

namespace {

// A layer report's figures as the step's device statistics.
std::shared_ptr<const DeviceNodeStats> node_stats_of(const LayerReport& r) {
  auto s = std::make_shared<DeviceNodeStats>();
  s->cycles = r.cycles;
  s->seconds = r.seconds;
  s->energy_joules = r.energy.total();
  s->utilization = r.utilization;
  s->offchip_bytes = r.offchip_bytes();
  return s;
}

class DeviceNode : public CompiledNode {
 public:
  // `array_node`: the convolution to compute through the stepped array model
  // instead of `functional` (cycle mode); null otherwise. The graph outlives
  // the compiled node (the session holds the model).
  DeviceNode(std::unique_ptr<CompiledNode> functional, device::NodeWork work,
             const DeviceConfig& config, bool weights_resident, SimulationMode mode,
             const Graph* graph, const Node* array_node)
      : functional_(std::move(functional)),
        work_(std::move(work)),
        config_(config),
        weights_resident_(weights_resident),
        mode_(mode),
        graph_(graph),
        array_node_(array_node) {}

  void run(std::span<const ConstTensorView> inputs, const TensorView& output,
           const ExecContext& ctx) const override {
    if (array_node_) {
      device::run_conv_on_array(*graph_, *array_node_, config_, inputs[0], output);
    } else {
      functional_->run(inputs, output, ctx);
    }
    if (!ctx.stats) return;
    const int64_t batch = output.shape.rank() > 0 ? output.shape[0] : 1;
    ctx.stats->backend_stats =
        node_stats_of(device::model_node(work_, config_, batch, mode_, weights_resident_));
  }

  size_t scratch_bytes(int64_t batch, int threads) const override {
    return functional_->scratch_bytes(batch, threads);
  }

  std::string kernel_name() const override {
    return array_node_ ? "device(stepped array)" : "device(" + functional_->kernel_name() + ")";
  }

 private:
  std::unique_ptr<CompiledNode> functional_;
  device::NodeWork work_;
  DeviceConfig config_;
  bool weights_resident_;
  SimulationMode mode_;
  const Graph* graph_;
  const Node* array_node_;
};

class DeviceBackend : public Backend {
 public:
  DeviceBackend(DeviceConfig config, std::string functional_backend, SimulationMode mode)
      : config_(std::move(config)),
        functional_backend_(std::move(functional_backend)),
        mode_(mode) {
    config_.validate();
  }

  std::string name() const override {
    return mode_ == SimulationMode::kCycleStepped ? "device-cycle" : "device";
  }

  bool supports(const Graph& graph, const Node& node) const override {
    // Also asks whether the configured chip can hold the node, so compile()
    // never throws for a node accepted here: a convolution whose weights
    // outgrow the weight buffer runs on a host backend instead. The numerics
    // contract's int32 bound is asked too: the functional backend refuses it.
    return steps_can_run(node) && device::device_runs(graph, node, config_) &&
           int32_accumulator_overflow(graph, node).empty();
  }

  bool supports_indexed(const Graph& graph, const GraphIndex& index,
                        const Node& node) const override {
    return steps_can_run(node) && device::device_runs(graph, index, node, config_);
  }

  std::unique_ptr<CompiledNode> compile(const Graph& graph, const Node& node) const override {
    return compile_indexed(graph, index_graph(graph), node);
  }

  std::unique_ptr<CompiledNode> compile_indexed(const Graph& graph, const GraphIndex& index,
                                                const Node& node) const override {
    device::NodeWork work = device::describe_node(graph, index, node, config_);
    // As simulate(): the model's weights stay on chip when they fit together.
    const bool resident = weight_bytes_of(graph, index) <= config_.weight_buffer_bytes;
    // Resolved here rather than in the factory: the registry holds its lock
    // while a factory runs.
    std::shared_ptr<const Backend> functional = functional_for(graph, node);
    const Node* array_node =
        mode_ == SimulationMode::kCycleStepped && work.is_conv ? &node : nullptr;
    return std::make_unique<DeviceNode>(functional->compile_indexed(graph, index, node),
                                        std::move(work), config_, resident, mode_, &graph,
                                        array_node);
  }

  bool host_memory() const override { return false; }

  std::shared_ptr<const BackendNodeStats> transfer_stats(int64_t bytes) const override {
    return node_stats_of(device::model_transfer("", bytes, config_));
  }

 private:
  // The cycle-stepped array (run_conv_on_array) writes a convolution's f32
  // output only, so a convolution fused with a static quantize
  // (OutputQuantization) runs on a host backend in that mode; the analytic
  // mode computes it on the functional backend and prices its u8/s8 output.
  bool steps_can_run(const Node& node) const {
    if (mode_ != SimulationMode::kCycleStepped) return true;
    if (const auto* conv = std::get_if<Conv2dOp>(&node.op)) {
      return !conv->output_quantization.enabled();
    }
    if (const auto* sparse = std::get_if<SparseConv3x3Op>(&node.op)) {
      return !sparse->output_quantization.enabled();
    }
    return true;
  }

  // The model's total weight bytes, computed once per graph index (one per
  // session), not once per node: compiling stays linear in the graph.
  int64_t weight_bytes_of(const Graph& graph, const GraphIndex& index) const {
    std::lock_guard<std::mutex> lock(weight_bytes_mutex_);
    if (weight_bytes_index_ != index.id) {
      weight_bytes_ = device::device_weight_bytes(graph, index, config_);
      weight_bytes_index_ = index.id;
    }
    return weight_bytes_;
  }

  std::shared_ptr<const Backend> functional_for(const Graph& graph, const Node& node) const {
    for (const std::string& name : BackendRegistry::names()) {
      if (name != functional_backend_) continue;
      auto backend = BackendRegistry::get(name);
      // Only a host backend computes outputs here (never another device).
      if (backend->host_memory() && backend->supports(graph, node)) return backend;
    }
    return BackendRegistry::get("reference");
  }

  DeviceConfig config_;
  std::string functional_backend_;
  SimulationMode mode_;
  mutable std::mutex weight_bytes_mutex_;
  mutable uint64_t weight_bytes_index_ = 0;  // GraphIndex::id of weight_bytes_
  mutable int64_t weight_bytes_ = 0;
};

}  // namespace

std::shared_ptr<const Backend> make_device_backend(const DeviceConfig& config,
                                                   const std::string& functional_backend,
                                                   SimulationMode mode) {
  return std::make_shared<const DeviceBackend>(config, functional_backend, mode);
}

}  // namespace sparq
