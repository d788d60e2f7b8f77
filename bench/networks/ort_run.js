#!/usr/bin/env node
// Runs one ONNX model under ONNX Runtime's CPU provider on a raw float32
// input file (a whole batch of the model's input shape, NCHW, little endian)
// and writes the first output as raw float32. check_networks.py compares
// it with sparq's outputs and between the fp32 and QDQ models.
//
//   NODE_PATH=<node_modules> node bench/networks/ort_run.js --model M.onnx
//       --input X.f32 --output Y.f32
//
// Prints one JSON line: {"version", "input_shape", "output_shape"}.
'use strict';

const fs = require('fs');

const usage = 'usage: ort_run.js --model M.onnx --input X.f32 --output Y.f32';

function fail(message) {
  process.stderr.write(`ort_run.js: ${message}\n${usage}\n`);
  process.exit(2);
}

async function main() {
  const argv = process.argv.slice(2);
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!['--model', '--input', '--output'].includes(argv[i])) fail(`unknown flag '${argv[i]}'`);
    if (i + 1 >= argv.length) fail(`${argv[i]} needs a value`);
    args[argv[i].slice(2)] = argv[i + 1];
  }
  for (const needed of ['model', 'input', 'output']) {
    if (!args[needed]) fail(`missing --${needed}`);
  }
  for (const file of [args.model, args.input]) {
    if (!fs.existsSync(file) || !fs.statSync(file).isFile()) fail(`'${file}' not found`);
  }
  let ort;
  try {
    ort = require('onnxruntime-node');
  } catch (e) {
    process.stderr.write('ort_run.js: cannot load onnxruntime-node; run scripts/install-ort.sh and set NODE_PATH\n');
    process.exit(2);
  }

  const session = await ort.InferenceSession.create(args.model, { graphOptimizationLevel: 'all' });
  const meta = session.inputMetadata[0];
  const image = meta.shape.slice(1);
  if (image.some((d) => typeof d !== 'number')) fail(`input dims after the batch must be fixed, got [${meta.shape}]`);
  const perImage = image.reduce((a, b) => a * b, 1);
  const bytes = fs.readFileSync(args.input);
  const floats = bytes.length / 4;
  if (bytes.length % 4 !== 0 || floats === 0 || floats % perImage !== 0) {
    fail(`${args.input} holds ${bytes.length} bytes, not a whole number of float32 [${image}] images`);
  }
  const data = new Float32Array(floats);
  Buffer.from(data.buffer).set(bytes);
  const shape = [floats / perImage, ...image];
  const results = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', data, shape) });
  const out = results[session.outputNames[0]];
  fs.writeFileSync(args.output, Buffer.from(out.data.buffer, out.data.byteOffset, out.data.byteLength));
  process.stdout.write(JSON.stringify({ version: ort.env.versions.common, input_shape: shape, output_shape: out.dims }) +
                       '\n');
}

main().catch((e) => {
  process.stderr.write(`ort_run.js: ${e.message || e}\n`);
  process.exit(1);
});
