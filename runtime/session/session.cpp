// Session: places each node on the first backend that supports it, compiles
// it, plans the arena, and runs batches. Runs are independent (each takes its
// own arena from a pool), so one session serves many threads at once.
#include "sparq/session.hpp"

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/info.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <mutex>

#include "runtime/backends/accumulator_bound.hpp"
#include "runtime/core/checked_math.hpp"
#include "runtime/session/memory_plan.hpp"
#include "runtime/session/resource_check.hpp"
#include "sparq/error.hpp"

namespace sparq {
namespace {

using Clock = std::chrono::steady_clock;

bool is_quantized(DType t) {
  return t == DType::kU8 || t == DType::kS8;
}

size_t per_sample_bytes(const Value& v) {
  return storage_bytes(v.dtype, static_cast<size_t>(v.shape.elements()));
}

struct AlignedBuffer {
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  std::unique_ptr<void, Free> data;
  size_t bytes = 0;

  void reserve(size_t wanted) {
    if (wanted <= bytes) return;
    size_t rounded = (wanted + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
    void* p = std::aligned_alloc(kTensorAlignment, rounded);
    if (!p)
      throw Error(ErrorCode::kInternal,
                  "out of memory: arena of " + std::to_string(wanted) + " bytes");
    data.reset(p);
    bytes = rounded;
  }
};

// One executed step: a node, or a transfer of a value between memories.
struct Step {
  int node = -1;  // index into graph.nodes; -1 for a transfer
  ValueId transfer_value = -1;
  std::shared_ptr<const Backend> backend;
  std::unique_ptr<CompiledNode> compiled;
  MacCount macs;
};

}  // namespace

struct Session::Impl {
  std::shared_ptr<const Model> model;
  int threads = 1;
  std::vector<Step> steps;
  std::vector<Placement> placements;
  // Per value: slot in the arena plan, or -1 (graph input, graph outputs).
  std::vector<int> plan_slot;
  MemoryPlan plan;
  std::vector<bool> is_output;
  std::unique_ptr<tbb::task_arena> arena;
  ResourceLimits limits;
  int64_t weight_bytes = 0;
  int64_t io_bytes_per_sample = 0;  // the input and the outputs

  // Bytes a run of `batch` samples holds at once, saturating; `largest`
  // names what dominates, for the message.
  int64_t run_bytes(int64_t batch, std::string* largest) const {
    int64_t scratch = 0;
    std::string scratch_node;
    const Graph& graph = model->graph();
    for (const Step& s : steps) {
      if (!s.compiled) continue;
      const auto bytes = static_cast<int64_t>(s.compiled->scratch_bytes(batch, threads));
      if (bytes > scratch)
        scratch = bytes, scratch_node = graph.nodes[static_cast<size_t>(s.node)].name;
    }
    const int64_t arena_bytes = saturating_mul(static_cast<int64_t>(plan.total_bytes), batch);
    const int64_t io = saturating_mul(io_bytes_per_sample, batch);
    if (largest) {
      *largest = "weights " + std::to_string(weight_bytes) + ", intermediate tensors " +
                 std::to_string(arena_bytes) + ", input and outputs " + std::to_string(io);
      if (scratch > 0)
        *largest += ", scratch of node '" + scratch_node + "' " + std::to_string(scratch);
    }
    int64_t total = weight_bytes;
    for (int64_t part : {arena_bytes, io, scratch}) total = saturating_add(total, part);
    return total;
  }

  void check_memory() const {
    std::string parts;
    const int64_t bytes = run_bytes(1, &parts);
    if (bytes > limits.max_memory_bytes) {
      throw Error(ErrorCode::kInvalidModel, "one inference needs " + describe_bytes(bytes) + " (" +
                                                parts + " bytes), more than the memory limit " +
                                                describe_bytes(limits.max_memory_bytes));
    }
  }

  std::mutex pool_mutex;
  std::vector<std::unique_ptr<AlignedBuffer>> pool;

  std::unique_ptr<AlignedBuffer> take_buffer() {
    std::lock_guard lock(pool_mutex);
    if (pool.empty()) return std::make_unique<AlignedBuffer>();
    auto b = std::move(pool.back());
    pool.pop_back();
    return b;
  }
  void give_back(std::unique_ptr<AlignedBuffer> b) {
    std::lock_guard lock(pool_mutex);
    pool.push_back(std::move(b));
  }

  void place_and_compile(const SessionOptions& options);
  void make_plan();
  std::vector<Tensor> run(const ConstTensorView& input, RunStats* stats);
};

void Session::Impl::place_and_compile(const SessionOptions& options) {
  std::vector<std::shared_ptr<const Backend>> candidates = options.backend_objects;
  for (const std::string& name : options.backends) candidates.push_back(BackendRegistry::get(name));
  if (candidates.empty())
    throw Error(ErrorCode::kInvalidArgument, "session options name no backend");

  const Graph& graph = model->graph();
  // Where each value lives: nullptr = host memory, else the non-host backend.
  std::vector<const Backend*> location(graph.values.size(), nullptr);
  auto add_transfer = [&](ValueId v, const std::shared_ptr<const Backend>& device) {
    Step t;
    t.transfer_value = v;
    t.backend = device;
    steps.push_back(std::move(t));
  };
  std::vector<std::shared_ptr<const Backend>> owner_of(graph.values.size());
  // Once, so that backends asking about a node's neighbours stay linear.
  const GraphIndex index = index_graph(graph);

  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    const Node& node = graph.nodes[n];
    std::shared_ptr<const Backend> chosen;
    for (const auto& b : candidates) {
      if (b->supports_indexed(graph, index, node)) {
        chosen = b;
        break;
      }
    }
    if (!chosen) {
      std::string tried;
      for (const auto& b : candidates) tried += (tried.empty() ? "" : ", ") + b->name();
      // The one refusal every backend shares says why.
      const std::string overflow = int32_accumulator_overflow(graph, node);
      throw Error(ErrorCode::kUnsupported, "node '" + node.name + "' (" + op_name(node.op) +
                                               ") is supported by none of the backends: " + tried +
                                               (overflow.empty() ? "" : " (" + overflow + ")"));
    }
    const Backend* here = chosen->host_memory() ? nullptr : chosen.get();
    for (ValueId in : node.inputs) {
      if (location[static_cast<size_t>(in)] != here) {
        // Crossing memories: charge it to the non-host side.
        add_transfer(in, here ? chosen : owner_of[static_cast<size_t>(in)]);
        location[static_cast<size_t>(in)] = here;
      }
    }
    Step s;
    s.node = static_cast<int>(n);
    s.backend = chosen;
    s.compiled = chosen->compile_indexed(graph, index, node);
    s.macs = count_macs(graph, node);
    weight_bytes = saturating_add(weight_bytes, node_weight_bytes(node));
    placements.push_back({node.name, chosen->name(), s.compiled->kernel_name()});
    steps.push_back(std::move(s));
    location[static_cast<size_t>(node.output)] = here;
    owner_of[static_cast<size_t>(node.output)] = chosen;
  }
  io_bytes_per_sample = value_bytes(graph.value(graph.input));
  for (ValueId out : graph.outputs) {
    io_bytes_per_sample = saturating_add(io_bytes_per_sample, value_bytes(graph.value(out)));
    if (location[static_cast<size_t>(out)] != nullptr) {
      add_transfer(out, owner_of[static_cast<size_t>(out)]);
      location[static_cast<size_t>(out)] = nullptr;
    }
  }
}

void Session::Impl::make_plan() {
  const Graph& graph = model->graph();
  is_output.assign(graph.values.size(), false);
  for (ValueId out : graph.outputs) is_output[static_cast<size_t>(out)] = true;

  // Lifetimes in step indices.
  std::vector<int> first(graph.values.size(), -1), last(graph.values.size(), -1);
  for (int s = 0; s < static_cast<int>(steps.size()); ++s) {
    const Step& step = steps[static_cast<size_t>(s)];
    if (step.node < 0) continue;
    const Node& node = graph.nodes[static_cast<size_t>(step.node)];
    for (ValueId in : node.inputs) last[static_cast<size_t>(in)] = s;
    first[static_cast<size_t>(node.output)] = s;
    last[static_cast<size_t>(node.output)] = std::max(last[static_cast<size_t>(node.output)], s);
  }
  std::vector<BufferRequest> requests;
  plan_slot.assign(graph.values.size(), -1);
  for (size_t v = 0; v < graph.values.size(); ++v) {
    if (first[v] < 0 || is_output[v]) continue;  // the input, outputs, unused values
    plan_slot[v] = static_cast<int>(requests.size());
    requests.push_back({per_sample_bytes(graph.values[v]), first[v], last[v]});
  }
  plan = plan_memory(requests);
}

std::vector<Tensor> Session::Impl::run(const ConstTensorView& input, RunStats* stats) {
  const Graph& graph = model->graph();
  const Value& in_value = graph.value(graph.input);
  if (input.shape.rank() != in_value.shape.rank() + 1 ||
      input.shape.without_batch() != in_value.shape) {
    throw Error(ErrorCode::kInvalidArgument,
                "input shape " + input.shape.to_string() + " does not match the model input " +
                    in_value.shape.with_batch(-1).to_string() + " (-1: any batch)");
  }
  if (input.dtype != in_value.dtype) {
    throw Error(ErrorCode::kInvalidArgument, std::string("input dtype is ") +
                                                 to_string(input.dtype) + ", the model expects " +
                                                 to_string(in_value.dtype));
  }
  const int64_t batch = input.shape[0];
  if (batch < 1) throw Error(ErrorCode::kInvalidArgument, "batch must be at least 1");
  if (!input.data) throw Error(ErrorCode::kInvalidArgument, "input has no data");
  if (is_quantized(in_value.dtype) && !input.scales) {
    throw Error(ErrorCode::kInvalidArgument, "quantized input has no per-sample scales");
  }
  {
    std::string parts;
    const int64_t needed = run_bytes(batch, &parts);
    if (needed > limits.max_memory_bytes) {
      throw Error(ErrorCode::kInvalidArgument, "a batch of " + std::to_string(batch) + " needs " +
                                                   describe_bytes(needed) + " (" + parts +
                                                   " bytes), more than the memory limit " +
                                                   describe_bytes(limits.max_memory_bytes));
    }
  }

  auto start = Clock::now();
  const auto b = static_cast<size_t>(batch);
  size_t scratch = 0;
  for (const Step& s : steps) {
    if (s.compiled) scratch = std::max(scratch, s.compiled->scratch_bytes(batch, threads));
  }
  scratch = (scratch + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
  // Slack past the end: SIMD kernels may read one vector beyond a tensor.
  const size_t arena_bytes = plan.total_bytes * b;
  auto buffer = take_buffer();
  buffer->reserve(arena_bytes + scratch + kTensorAlignment);
  auto* base = static_cast<uint8_t*>(buffer->data.get());
  void* scratch_ptr = base + arena_bytes;

  std::vector<Tensor> outputs;
  std::vector<int> output_index(graph.values.size(), -1);
  for (ValueId out : graph.outputs) {
    if (output_index[static_cast<size_t>(out)] >= 0) continue;
    output_index[static_cast<size_t>(out)] = static_cast<int>(outputs.size());
    outputs.emplace_back(graph.value(out).shape.with_batch(batch), graph.value(out).dtype);
  }

  // Views of every value for this run; quantized values get per-sample scales.
  std::vector<std::vector<float>> scales(graph.values.size());
  std::vector<TensorView> views(graph.values.size());
  for (size_t v = 0; v < graph.values.size(); ++v) {
    const Value& value = graph.values[v];
    TensorView& view = views[v];
    view.shape = value.shape.with_batch(batch);
    view.dtype = value.dtype;
    if (static_cast<ValueId>(v) == graph.input) {
      view.data = const_cast<void*>(input.data);  // read-only: never a node output
      if (is_quantized(value.dtype)) scales[v].assign(input.scales, input.scales + b);
    } else if (output_index[v] >= 0) {
      Tensor& t = outputs[static_cast<size_t>(output_index[v])];
      view.data = t.raw();
      if (is_quantized(value.dtype)) {
        view.scales = t.scales().data();
        continue;
      }
    } else if (plan_slot[v] >= 0) {
      view.data = base + plan.offsets[static_cast<size_t>(plan_slot[v])] * b;
    }
    if (is_quantized(value.dtype)) {
      if (scales[v].empty()) scales[v].assign(b, 1.0f);
      view.scales = scales[v].data();
    }
  }

  if (stats) {
    stats->steps.clear();
    stats->arena_bytes = arena_bytes;
  }
  ExecContext ctx;
  ctx.threads = threads;
  ctx.scratch = scratch_ptr;
  std::vector<ConstTensorView> inputs;
  auto execute = [&] {
    for (const Step& step : steps) {
      NodeStats node_stats;
      auto t0 = Clock::now();
      if (step.node >= 0) {
        const Node& node = graph.nodes[static_cast<size_t>(step.node)];
        inputs.clear();
        for (ValueId in : node.inputs) inputs.emplace_back(views[static_cast<size_t>(in)]);
        ctx.stats = stats ? &node_stats : nullptr;
        step.compiled->run(inputs, views[static_cast<size_t>(node.output)], ctx);
        if (stats) {
          node_stats.name = node.name;
          node_stats.op = op_name(node.op);
          node_stats.kernel = step.compiled->kernel_name();
          node_stats.dense_macs = step.macs.dense * batch;
          node_stats.actual_macs = step.macs.actual * batch;
        }
      } else if (stats) {
        const Value& v = graph.value(step.transfer_value);
        node_stats.name = v.name;
        node_stats.op = "transfer";
        node_stats.bytes_moved = static_cast<int64_t>(per_sample_bytes(v) * b);
        node_stats.backend_stats = step.backend->transfer_stats(node_stats.bytes_moved);
      }
      if (stats) {
        node_stats.backend = step.backend->name();
        node_stats.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
        stats->steps.push_back(std::move(node_stats));
      }
    }
  };
  try {
    arena->execute(execute);
  } catch (...) {
    give_back(std::move(buffer));
    throw;
  }
  give_back(std::move(buffer));
  // Outputs that are quantized carry their scales (already written in place).
  if (stats) stats->seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return outputs;
}

Session::Session(std::shared_ptr<const Model> model, SessionOptions options)
    : impl_(std::make_unique<Impl>()) {
  if (!model) throw Error(ErrorCode::kInvalidArgument, "session needs a model");
  if (options.threads < 0) {
    throw Error(ErrorCode::kInvalidArgument,
                "threads must be >= 0 (0 = all), is " + std::to_string(options.threads));
  }
  impl_->model = std::move(model);
  impl_->threads = options.threads > 0 ? options.threads : tbb::info::default_concurrency();
  impl_->limits = options.limits;
  // From the shapes alone, before a backend compiles (and allocates) anything.
  check_graph_limits(impl_->model->graph(), options.limits);
  impl_->arena = std::make_unique<tbb::task_arena>(impl_->threads);
  impl_->place_and_compile(options);
  impl_->make_plan();
  impl_->check_memory();
}

Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

std::vector<Tensor> Session::run(const Tensor& input, RunStats* stats) const {
  return impl_->run(input.view(), stats);
}
std::vector<Tensor> Session::run(const ConstTensorView& input, RunStats* stats) const {
  return impl_->run(input, stats);
}
const Model& Session::model() const {
  return *impl_->model;
}
const std::vector<Placement>& Session::placements() const {
  return impl_->placements;
}
size_t Session::planned_bytes(int64_t batch) const {
  return impl_->plan.total_bytes * static_cast<size_t>(batch);
}
size_t Session::unplanned_bytes(int64_t batch) const {
  return impl_->plan.unplanned_bytes * static_cast<size_t>(batch);
}
int Session::threads() const {
  return impl_->threads;
}

}  // namespace sparq
