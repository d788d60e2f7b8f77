// Session: places each node on the first backend that supports it, compiles
// it, plans the arena, and runs batches as chunks of samples (batch_chunks.hpp),
// side by side when it has threads to spare. Runs are independent (each takes
// its memory from a pool), so one session serves many threads at once.
#include "sparq/session.hpp"

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/info.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <optional>

#include "runtime/backends/accumulator_bound.hpp"
#include "runtime/backends/cpu/capped_parallel.hpp"
#include "runtime/core/checked_math.hpp"
#include "runtime/session/batch_chunks.hpp"
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

size_t align_up(size_t bytes) {
  return (bytes + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
}

struct AlignedBuffer {
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  std::unique_ptr<void, Free> data;
  size_t bytes = 0;

  void reserve(size_t wanted) {
    if (wanted <= bytes) return;
    size_t rounded = align_up(wanted);
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
  // The caller's model, and the one the steps run: the same, or its graph
  // after fold_static_quantize, fold_residual_add and fold_max_pool.
  std::shared_ptr<const Model> given_model;
  std::shared_ptr<const Model> model;
  int threads = 1;
  std::vector<Step> steps;
  std::vector<Placement> placements;
  // Per value: slot in the arena plan, or -1 (graph input, graph outputs).
  std::vector<int> plan_slot;
  std::vector<BufferRequest> plan_requests;  // the planned tensors' sizes and lifetimes
  MemoryPlan plan;
  std::vector<bool> is_output;
  // Per value: its producer stores per-sample ranges for a dynamic quantize
  // that reads it (CompiledNode::writes_ranges), so views carry them.
  std::vector<bool> ranged;
  std::unique_ptr<tbb::task_arena> arena;
  ResourceLimits limits;
  int64_t weight_bytes = 0;
  int64_t io_bytes_per_sample = 0;  // the input and the outputs
  int64_t sample_dense_macs = 0;    // every step's, for one sample (saturating)

  int64_t batch_chunk = 0;  // SessionOptions::batch_chunk
  // A step runs on a backend outside host memory (the device): its cost
  // model prices the batch it is given, so the automatic chunk is the batch.
  bool has_device_step = false;
  // Every sample of the input and outputs starts on a byte (s4 tensors of an
  // odd size per sample do not): only then can chunks view them in place.
  bool samples_byte_aligned = true;

  ChunkPlan chunk_plan(int64_t batch) const;

  // Each step's scratch for a chunk (0 for transfers).
  std::vector<size_t> step_scratch_bytes(const ChunkPlan& chunks) const {
    std::vector<size_t> bytes(steps.size(), 0);
    for (size_t s = 0; s < steps.size(); ++s) {
      if (steps[s].compiled) {
        bytes[s] = steps[s].compiled->scratch_bytes(chunks.chunk, chunks.threads_per_worker);
      }
    }
    return bytes;
  }

  // Scratch of one worker: the most any step needs for a chunk.
  size_t chunk_scratch_bytes(const ChunkPlan& chunks, std::string* largest_node = nullptr) const {
    const std::vector<size_t> bytes = step_scratch_bytes(chunks);
    const auto largest = std::max_element(bytes.begin(), bytes.end());
    if (largest == bytes.end() || *largest == 0) return 0;
    if (largest_node) {
      const Step& s = steps[static_cast<size_t>(largest - bytes.begin())];
      *largest_node = model->graph().nodes[static_cast<size_t>(s.node)].name;
    }
    return *largest;
  }

  // The parts of what a run of `batch` samples holds at once (every chunk in
  // flight has its arena and scratch), saturating.
  struct RunBytes {
    int64_t arenas = 0, io = 0, scratch = 0;
  };
  RunBytes run_bytes(int64_t batch, const ChunkPlan& chunks, size_t worker_scratch) const {
    RunBytes r;
    r.scratch =
        saturating_mul(static_cast<int64_t>(worker_scratch), static_cast<int64_t>(chunks.workers));
    r.arenas = saturating_mul(static_cast<int64_t>(plan.total_bytes),
                              saturating_mul(chunks.chunk, chunks.workers));
    r.io = saturating_mul(io_bytes_per_sample, batch);
    return r;
  }
  int64_t total_bytes(const RunBytes& r) const {
    int64_t total = weight_bytes;
    for (int64_t part : {r.arenas, r.io, r.scratch}) total = saturating_add(total, part);
    return total;
  }

  // Throws `code` when a run of `batch` samples would hold more than the
  // memory limit, naming what it needs; `what()` says which run ("a batch of
  // 8"). The message (and the node with the largest scratch) is only worked
  // out when the limit is exceeded: this check runs on every Session::run.
  template <typename What>
  void check_run_bytes(int64_t batch, const ChunkPlan& chunks, size_t worker_scratch,
                       ErrorCode code, const What& what) const {
    const RunBytes r = run_bytes(batch, chunks, worker_scratch);
    const int64_t total = total_bytes(r);
    if (total <= limits.max_memory_bytes) return;
    std::string scratch_node;
    chunk_scratch_bytes(chunks, &scratch_node);
    std::string parts = "weights " + std::to_string(weight_bytes) + ", intermediate tensors " +
                        std::to_string(r.arenas) + ", input and outputs " + std::to_string(r.io);
    if (r.scratch > 0)
      parts += ", scratch of node '" + scratch_node + "' " + std::to_string(r.scratch);
    throw Error(code, what() + " needs " + describe_bytes(total) + " (" + parts +
                          " bytes), more than the memory limit " +
                          describe_bytes(limits.max_memory_bytes));
  }

  void check_memory() const {
    const ChunkPlan chunks = chunk_plan(1);
    check_run_bytes(1, chunks, chunk_scratch_bytes(chunks), ErrorCode::kInvalidModel,
                    [] { return std::string("one inference"); });
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
  // Sets `ranged` from the compiled steps.
  void mark_ranged_values();
  void note_chunking_constraints();
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
    sample_dense_macs = saturating_add(sample_dense_macs, s.macs.dense);
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
  plan_requests = std::move(requests);
}

void Session::Impl::mark_ranged_values() {
  const Graph& graph = model->graph();
  std::vector<bool> read_by_dynamic_quantize(graph.values.size(), false);
  for (const Node& node : graph.nodes) {
    const auto* quantize = std::get_if<QuantizeOp>(&node.op);
    if (quantize != nullptr && quantize->scale <= 0.0f) {
      read_by_dynamic_quantize[static_cast<size_t>(node.inputs[0])] = true;
    }
  }
  ranged.assign(graph.values.size(), false);
  for (const Step& step : steps) {
    if (step.node < 0) continue;
    const auto v = static_cast<size_t>(graph.nodes[static_cast<size_t>(step.node)].output);
    ranged[v] = read_by_dynamic_quantize[v] && graph.values[v].dtype == DType::kF32 &&
                step.compiled->writes_ranges();
  }
}

namespace {

// Bytes from the start of a batched tensor to sample `n`.
size_t sample_offset(const Value& v, int64_t n) {
  return storage_bytes(v.dtype, static_cast<size_t>(v.shape.elements() * n));
}

// Adds one chunk's figures of a step to the step's total.
void add_chunk(NodeStats& total, const NodeStats& part) {
  total.seconds += part.seconds;
  total.dense_macs += part.dense_macs;
  total.actual_macs += part.actual_macs;
  total.bytes_moved += part.bytes_moved;
  if (part.backend_stats) {
    total.backend_stats = total.backend_stats
                              ? total.backend_stats->combined_with(*part.backend_stats)
                              : part.backend_stats;
  }
}

// What one worker owns while it runs chunks: its arena region (the steps'
// scratch included), the views of every value for the chunk at hand, and
// its share of the stats.
struct ChunkWorker {
  uint8_t* arena = nullptr;
  std::vector<TensorView> views;
  std::vector<std::vector<float>> scales;        // quantized values' per-sample scales
  std::vector<std::vector<SampleRange>> ranges;  // ranged values' per-sample ranges
  std::vector<ConstTensorView> inputs;
  std::vector<NodeStats> steps;  // summed over this worker's chunks
};

}  // namespace

void Session::Impl::note_chunking_constraints() {
  for (const Step& s : steps) has_device_step = has_device_step || !s.backend->host_memory();
  const Graph& graph = model->graph();
  std::vector<ValueId> io = graph.outputs;
  io.push_back(graph.input);
  for (ValueId v : io) {
    const Value& value = graph.value(v);
    if (value.dtype == DType::kS4 && value.shape.elements() % 2 != 0) samples_byte_aligned = false;
  }
}

ChunkPlan Session::Impl::chunk_plan(int64_t batch) const {
  ChunkRequest request;
  request.batch = batch;
  request.requested_chunk = batch_chunk;
  request.sample_arena_bytes = plan.total_bytes;
  request.cache_bytes = per_core_cache_bytes();
  request.threads = threads;
  request.whole_batch_default = has_device_step || !samples_byte_aligned;
  request.sample_macs = sample_dense_macs;
  return plan_chunks(request);
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
  const ChunkPlan chunks = chunk_plan(batch);
  const std::vector<size_t> step_scratch = step_scratch_bytes(chunks);
  const size_t worker_scratch =
      step_scratch.empty() ? 0 : *std::max_element(step_scratch.begin(), step_scratch.end());
  check_run_bytes(batch, chunks, worker_scratch, ErrorCode::kInvalidArgument,
                  [batch] { return "a batch of " + std::to_string(batch); });

  auto start = Clock::now();
  const auto chunk = static_cast<size_t>(chunks.chunk);
  // Each worker: its chunk's arena with every step's scratch in it or past
  // its end (place_step_scratch), then slack, since SIMD kernels may read
  // one vector past a tensor (never into another worker's memory, which
  // that worker may be writing).
  const size_t chunk_arena = plan.total_bytes * chunk;
  const std::vector<size_t> scratch_at =
      place_step_scratch(plan_requests, plan, chunk, step_scratch);
  size_t used = chunk_arena;
  for (size_t s = 0; s < steps.size(); ++s) {
    used = std::max(used, scratch_at[s] + align_up(step_scratch[s]));
  }
  const size_t region = align_up(used) + kTensorAlignment;
  auto buffer = take_buffer();
  buffer->reserve(region * static_cast<size_t>(chunks.workers));
  auto* base = static_cast<uint8_t*>(buffer->data.get());

  std::vector<Tensor> outputs;
  std::vector<int> output_index(graph.values.size(), -1);
  for (ValueId out : graph.outputs) {
    if (output_index[static_cast<size_t>(out)] >= 0) continue;
    output_index[static_cast<size_t>(out)] = static_cast<int>(outputs.size());
    outputs.emplace_back(graph.value(out).shape.with_batch(batch), graph.value(out).dtype);
  }

  std::vector<ChunkWorker> workers(static_cast<size_t>(chunks.workers));
  for (size_t w = 0; w < workers.size(); ++w) {
    ChunkWorker& worker = workers[w];
    worker.arena = base + region * w;
    worker.views.resize(graph.values.size());
    worker.scales.resize(graph.values.size());
    worker.ranges.resize(graph.values.size());
    if (stats) worker.steps.resize(steps.size());
  }

  // Views of every value for samples [begin, end): the session's input and
  // outputs at the chunk's offset, intermediates in the worker's region.
  auto bind = [&](ChunkWorker& worker, int64_t begin, int64_t end) {
    const int64_t n = end - begin;
    for (size_t v = 0; v < graph.values.size(); ++v) {
      const Value& value = graph.values[v];
      TensorView& view = worker.views[v];
      view.shape = value.shape.with_batch(n);
      view.dtype = value.dtype;
      view.data = nullptr;
      view.scales = nullptr;
      view.ranges = nullptr;
      if (ranged[v]) {
        // The producer stores every sample's range before any reader runs.
        worker.ranges[v].resize(static_cast<size_t>(n));
        view.ranges = worker.ranges[v].data();
      }
      std::vector<float>& scales = worker.scales[v];
      if (static_cast<ValueId>(v) == graph.input) {
        // Read-only: never a node output.
        view.data = const_cast<uint8_t*>(static_cast<const uint8_t*>(input.data)) +
                    sample_offset(value, begin);
        if (is_quantized(value.dtype)) scales.assign(input.scales + begin, input.scales + end);
      } else if (output_index[v] >= 0) {
        Tensor& t = outputs[static_cast<size_t>(output_index[v])];
        view.data = static_cast<uint8_t*>(t.raw()) + sample_offset(value, begin);
        if (is_quantized(value.dtype)) {
          view.scales = t.scales().data() + begin;
          continue;
        }
      } else if (plan_slot[v] >= 0) {
        view.data = worker.arena + plan.offsets[static_cast<size_t>(plan_slot[v])] * chunk;
      }
      if (is_quantized(value.dtype)) {
        // Producers write their output's scales; 1 until they do.
        if (static_cast<ValueId>(v) != graph.input) scales.assign(static_cast<size_t>(n), 1.0f);
        view.scales = scales.data();
      }
    }
  };

  auto run_chunk = [&](ChunkWorker& worker, int64_t begin, int64_t end) {
    bind(worker, begin, end);
    const int64_t n = end - begin;
    ExecContext ctx;
    ctx.threads = chunks.threads_per_worker;
    for (size_t s = 0; s < steps.size(); ++s) {
      const Step& step = steps[s];
      ctx.scratch = worker.arena + scratch_at[s];
      NodeStats part;
      auto t0 = Clock::now();
      if (step.node >= 0) {
        const Node& node = graph.nodes[static_cast<size_t>(step.node)];
        worker.inputs.clear();
        for (ValueId in : node.inputs)
          worker.inputs.emplace_back(worker.views[static_cast<size_t>(in)]);
        ctx.stats = stats ? &part : nullptr;
        step.compiled->run(worker.inputs, worker.views[static_cast<size_t>(node.output)], ctx);
        if (stats) {
          part.dense_macs = step.macs.dense * n;
          part.actual_macs = step.macs.actual * n;
        }
      } else if (stats) {
        const Value& v = graph.value(step.transfer_value);
        part.bytes_moved = static_cast<int64_t>(per_sample_bytes(v) * static_cast<size_t>(n));
        part.backend_stats = step.backend->transfer_stats(part.bytes_moved);
      }
      if (stats) {
        part.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
        add_chunk(worker.steps[s], part);
      }
    }
  };

  std::vector<double> thread_seconds;  // the team's busy time (stats only)
  try {
    arena->execute([&] {
      if (chunks.workers == 1) {
        // One chunk at a time (run_capped would hand a single worker the
        // whole batch at once), each node's parallel regions on threads kept
        // awake for the whole run (cpu::SpinTeam): a network is tens of short
        // regions, and waking a sleeping worker for each costs as much as
        // the region.
        std::optional<cpu::SpinTeam> team;
        if (chunks.threads_per_worker > 1) team.emplace(chunks.threads_per_worker);
        if (team && stats) team->count_busy_time(true);
        for (int64_t begin = 0; begin < batch; begin += chunks.chunk)
          run_chunk(workers[0], begin, std::min(begin + chunks.chunk, batch));
        if (team && stats) thread_seconds = team->busy_seconds();
        return;
      }
      // One chunk per pull; a worker index is never in two places at once,
      // so each worker's region serves one chunk at a time.
      cpu::run_capped(batch, chunks.workers, chunks.chunk, [&](int w, int64_t begin, int64_t end) {
        run_chunk(workers[static_cast<size_t>(w)], begin, end);
      });
    });
  } catch (...) {
    give_back(std::move(buffer));
    throw;
  }
  give_back(std::move(buffer));
  // Outputs that are quantized carry their scales (already written in place).
  if (stats) {
    stats->arena_bytes = chunk_arena * static_cast<size_t>(chunks.workers);
    stats->thread_seconds = std::move(thread_seconds);
    stats->steps.assign(steps.size(), NodeStats{});
    for (size_t s = 0; s < steps.size(); ++s) {
      NodeStats& total = stats->steps[s];
      for (const ChunkWorker& worker : workers) add_chunk(total, worker.steps[s]);
      const Step& step = steps[s];
      total.backend = step.backend->name();
      if (step.node >= 0) {
        const Node& node = graph.nodes[static_cast<size_t>(step.node)];
        total.name = node.name;
        total.op = op_name(node.op);
        total.kernel = step.compiled->kernel_name();
      } else {
        total.name = graph.value(step.transfer_value).name;
        total.op = "transfer";
      }
    }
    stats->seconds = std::chrono::duration<double>(Clock::now() - start).count();
  }
  return outputs;
}

namespace {

// Whether every backend the options name keeps its values in host memory:
// only then are the steps free of a device's own model of each op.
bool host_backends_only(const SessionOptions& options) {
  for (const auto& backend : options.backend_objects) {
    if (!backend->host_memory()) return false;
  }
  for (const std::string& name : options.backends) {
    if (!BackendRegistry::get(name)->host_memory()) return false;
  }
  return true;
}

}  // namespace

Session::Session(std::shared_ptr<const Model> model, SessionOptions options)
    : impl_(std::make_unique<Impl>()) {
  if (!model) throw Error(ErrorCode::kInvalidArgument, "session needs a model");
  if (options.threads < 0) {
    throw Error(ErrorCode::kInvalidArgument,
                "threads must be >= 0 (0 = all), is " + std::to_string(options.threads));
  }
  if (options.batch_chunk < 0) {
    throw Error(ErrorCode::kInvalidArgument, "batch_chunk must be >= 0 (0 = automatic), is " +
                                                 std::to_string(options.batch_chunk));
  }
  impl_->given_model = model;
  impl_->model = std::move(model);
  // Folding copies the graph (weights included); a model with nothing to
  // fold is not copied.
  auto fold = [&](Graph (*pass)(const Graph&, int*)) {
    int folded = 0;
    Graph graph = pass(impl_->model->graph(), &folded);
    if (folded > 0) {
      impl_->model = std::make_shared<const Model>(std::move(graph), impl_->model->metadata());
    }
  };
  auto has_node = [&](const auto& predicate) {
    const auto& nodes = impl_->model->graph().nodes;
    return std::any_of(nodes.begin(), nodes.end(), predicate);
  };
  if (options.fold_static_quantize && has_node([](const Node& n) {
        const auto* q = std::get_if<QuantizeOp>(&n.op);
        return q != nullptr && q->scale > 0.0f;
      })) {
    fold(&fold_static_quantize);
  }
  if (options.fold_residual_add && host_backends_only(options) &&
      has_node([](const Node& n) { return std::holds_alternative<AddOp>(n.op); })) {
    fold(&fold_residual_add);
  }
  if (options.fold_max_pool && host_backends_only(options) &&
      has_node([](const Node& n) { return std::holds_alternative<Pool2dOp>(n.op); })) {
    fold(&fold_max_pool);
  }
  impl_->batch_chunk = options.batch_chunk;
  impl_->threads = options.threads > 0 ? options.threads : tbb::info::default_concurrency();
  impl_->limits = options.limits;
  // From the shapes alone, before a backend compiles (and allocates) anything.
  check_graph_limits(impl_->model->graph(), options.limits);
  impl_->arena = std::make_unique<tbb::task_arena>(impl_->threads);
  impl_->place_and_compile(options);
  impl_->make_plan();
  impl_->mark_ranged_values();
  impl_->note_chunking_constraints();
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
  return *impl_->given_model;
}
const std::vector<Placement>& Session::placements() const {
  return impl_->placements;
}
size_t Session::planned_bytes(int64_t batch) const {
  const ChunkPlan chunks = impl_->chunk_plan(batch);
  return impl_->plan.total_bytes * static_cast<size_t>(chunks.chunk * chunks.workers);
}
size_t Session::unplanned_bytes(int64_t batch) const {
  const ChunkPlan chunks = impl_->chunk_plan(batch);
  return impl_->plan.unplanned_bytes * static_cast<size_t>(chunks.chunk * chunks.workers);
}
int64_t Session::batch_chunk(int64_t batch) const {
  if (batch < 1) throw Error(ErrorCode::kInvalidArgument, "batch must be at least 1");
  return impl_->chunk_plan(batch).chunk;
}
int Session::threads() const {
  return impl_->threads;
}

}  // namespace sparq
