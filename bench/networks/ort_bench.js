#!/usr/bin/env node
// Times one ONNX model under ONNX Runtime's CPU provider (npm onnxruntime-node,
// found through NODE_PATH; scripts/install-ort.sh installs it) as a user runs
// it: a float32 input of the model's shape with the requested batch, logits
// out, through the public InferenceSession.run. Prints one JSON object.
//
//   NODE_PATH=<node_modules> node bench/networks/ort_bench.js --model M.onnx
//       --batch B --threads T --min-time SECONDS --min-runs N [--warmup W]
//       [--seed S] [--optimized-model OUT.onnx]
//
// --optimized-model writes the graph ORT runs after its transformers (to see
// which Q/DQ groups became QLinearConv and friends).
'use strict';

const fs = require('fs');
const path = require('path');

const usage =
  'usage: ort_bench.js --model M.onnx --batch B --threads T --min-time SECONDS ' +
  '--min-runs N [--warmup W] [--seed S] [--spinning 0|1] [--optimized-model OUT.onnx]';

function fail(message) {
  process.stderr.write(`ort_bench.js: ${message}\n${usage}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const spec = {
    '--model': 'string',
    '--batch': 'posint',
    '--threads': 'posint',
    '--min-time': 'nonneg',
    '--min-runs': 'posint',
    '--warmup': 'nonnegint',
    '--seed': 'nonnegint',
    '--spinning': 'bit',
    '--optimized-model': 'string',
  };
  const args = { warmup: 3, seed: 1, spinning: 1 };
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    if (flag === '--help' || flag === '-h') {
      process.stdout.write(usage + '\n');
      process.exit(0);
    }
    const kind = spec[flag];
    if (kind === undefined) fail(`unknown flag '${flag}'`);
    if (i + 1 >= argv.length) fail(`${flag} needs a value`);
    const text = argv[i + 1];
    const key = flag.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (kind === 'string') {
      args[key] = text;
      continue;
    }
    const value = Number(text);
    const integer = kind !== 'nonneg';
    const ok = text.trim() !== '' && Number.isFinite(value) && (!integer || Number.isInteger(value)) &&
               (kind === 'posint' ? value >= 1 : value >= 0) && (kind !== 'bit' || value <= 1);
    const wanted = { posint: 'positive integer', bit: '0 or 1' }[kind] || 'non-negative number';
    if (!ok) fail(`${flag} must be a ${wanted}, got '${text}'`);
    args[key] = value;
  }
  for (const needed of ['model', 'batch', 'threads', 'minTime', 'minRuns']) {
    if (args[needed] === undefined) fail(`missing --${needed.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`);
  }
  if (!fs.existsSync(args.model) || !fs.statSync(args.model).isFile()) fail(`model '${args.model}' not found`);
  return args;
}

// xorshift32 + Box-Muller: a fixed normal input without a dependency.
function normalFloats(count, seed) {
  let state = (seed * 2654435761 + 1) >>> 0 || 1;
  const uniform = () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return (state + 0.5) / 4294967296;
  };
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const r = Math.sqrt(-2 * Math.log(uniform()));
    const t = 2 * Math.PI * uniform();
    out[i] = r * Math.cos(t);
    if (i + 1 < count) out[i + 1] = r * Math.sin(t);
  }
  return out;
}

function median(sorted) {
  const n = sorted.length;
  return n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  let ort;
  try {
    ort = require('onnxruntime-node');
  } catch (e) {
    process.stderr.write('ort_bench.js: cannot load onnxruntime-node; run scripts/install-ort.sh and set ' +
                         `NODE_PATH to the directory it prints (${e.message.split('\n')[0]})\n`);
    process.exit(2);
  }

  // ORT's best for CPU latency: all graph transformers (QDQ -> QLinearConv
  // fusion is at level 'extended' and up, layout NCHWc at 'all'), operators on
  // T threads, one graph walker, and intra-op workers that spin between
  // operators (ORT's default, stated here so the peer's setting is explicit;
  // --spinning 0 makes them sleep, which is faster when the cores are shared).
  const options = {
    executionProviders: ['cpu'],
    intraOpNumThreads: args.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    enableCpuMemArena: true,
    enableMemPattern: true,
    extra: { session: { intra_op: { allow_spinning: String(args.spinning) } } },
  };
  if (args.optimizedModel) options.optimizedModelFilePath = args.optimizedModel;

  let session;
  try {
    session = await ort.InferenceSession.create(args.model, options);
  } catch (e) {
    process.stderr.write(`ort_bench.js: ONNX Runtime rejects '${args.model}': ${e.message}\n`);
    process.exit(2);
  }

  const meta = session.inputMetadata[0];
  if (session.inputNames.length !== 1 || !meta.isTensor || meta.type !== 'float32') {
    process.stderr.write('ort_bench.js: the model must have exactly one float32 tensor input\n');
    process.exit(2);
  }
  // The first dimension is the batch (symbolic or fixed); the rest must be fixed.
  const shape = meta.shape.map((d, i) => (i === 0 ? args.batch : d));
  if (shape.slice(1).some((d) => typeof d !== 'number')) {
    process.stderr.write(`ort_bench.js: input dims after the batch must be fixed, got [${meta.shape}]\n`);
    process.exit(2);
  }
  if (typeof meta.shape[0] === 'number' && meta.shape[0] !== args.batch) {
    process.stderr.write(`ort_bench.js: the model's batch is fixed at ${meta.shape[0]}\n`);
    process.exit(2);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', normalFloats(count, args.seed), shape) };

  for (let i = 0; i < args.warmup; ++i) await session.run(feeds);

  const runsMs = [];
  const start = process.hrtime.bigint();
  const minNs = BigInt(Math.round(args.minTime * 1e9));
  while (runsMs.length < args.minRuns || process.hrtime.bigint() - start < minNs) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    runsMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  await session.release();

  const sorted = [...runsMs].sort((a, b) => a - b);
  const best = sorted[0];
  const med = median(sorted);
  const result = {
    runtime: 'onnxruntime',
    version: ort.env.versions.common,
    model: path.resolve(args.model),
    batch: args.batch,
    threads: args.threads,
    spinning: args.spinning,
    input_shape: shape,
    warmup: args.warmup,
    runs_ms: runsMs,
    best_ms: best,
    median_ms: med,
    per_image_best_ms: best / args.batch,
    per_image_median_ms: med / args.batch,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((e) => {
  process.stderr.write(`ort_bench.js: ${e.stack || e}\n`);
  process.exit(1);
});
