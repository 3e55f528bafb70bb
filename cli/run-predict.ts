/**
 * `ec2t predict`: runs a model in eval mode on the tensor named `input` of a safetensors file and
 * writes the tensor `output` — a float model through nn (`--model NAME --weights FILE`) or a packed
 * ternary model through the runtime (`--model FILE.ec2t.safetensors`). Also `benchPacked` for
 * `ec2t bench --model FILE.ec2t.safetensors --mode infer`.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { FormatError, ShapeError } from '../engine/errors.js';
import { Rng } from '../engine/rng.js';
import { Tensor, noGrad } from '../engine/tensor.js';
import { inferModelOptions } from '../ec2t/export.js';
import { loadTernaryModel } from '../ec2t/runtime/index.js';
import { setTernarySimd } from '../kernels/ternary/cpu.js';
import { MODEL_NAMES, isModelName } from '../nn/models/index.js';
import { entryToFloat32, loadSafetensors, saveSafetensors } from '../nn/safetensors.js';
import type { Parsed } from './args.js';
import { UsageError } from './args.js';
import { buildModel, loadWeightsInto } from './common.js';
import type { BenchResult } from './run-bench.js';
import { log } from './progress.js';

/** Largest batch `ec2t predict` runs on the pure-JS ternary kernel (see runPredict). */
const ONE_SHOT_JS_BATCH = 16;

function isPackedPath(model: string): boolean {
  return model.endsWith('.safetensors') || (existsSync(model) && !isModelName(model));
}

function readInput(path: string): { data: Float32Array; shape: [number, number, number, number] } {
  if (!existsSync(path)) throw new FormatError(path, 'input file not found');
  const f = loadSafetensors(path);
  const e = f.tensors.get('input');
  if (e === undefined) throw new FormatError(path, `no tensor named "input" (found: ${[...f.tensors.keys()].join(', ') || 'none'})`);
  if (e.shape.length !== 4) throw new ShapeError('predict', `tensor "input" of ${path} must be NCHW (4 dims), got [${e.shape.join(', ')}]`);
  return { data: Float32Array.from(entryToFloat32(e)), shape: e.shape as [number, number, number, number] };
}

/** `ec2t predict` handler. */
export async function runPredict(p: Parsed): Promise<number> {
  const f = p.flags;
  const model = f.model as string;
  const outPath = f.output as string;
  const x = readInput(f.input as string);
  let out: { data: Float32Array; shape: number[] };
  if (isPackedPath(model)) {
    if (f.weights !== undefined) throw new UsageError('--weights is not used with a packed model file (the weights are inside it)');
    if (!existsSync(model)) throw new FormatError(model, 'packed model file not found');
    const m = loadTernaryModel(model);
    // One call per process: for small batches the pure-JS ternary kernel is done before the wasm
    // SIMD path has generated and compiled its per-layer code (first call, load ≈ 6: ResNet-20 b1
    // 0.14 s vs 1.35 s, b8 0.27 s vs 1.05 s; MobileNetV2 b8 0.57 s vs 8.5 s; at b32 the gap closes).
    if (x.shape[0] <= ONE_SHOT_JS_BATCH) setTernarySimd(false);
    out = m.predict(x.data, x.shape);
  } else {
    if (!isModelName(model)) throw new UsageError(`--model ${model}: not a model name or an existing file; models: ${MODEL_NAMES.join(', ')}`);
    const weights = f.weights as string | undefined;
    if (weights === undefined) throw new UsageError('--model NAME needs --weights FILE (or give a packed .ec2t.safetensors model)');
    if (!existsSync(weights)) throw new FormatError(weights, 'weights file not found');
    const opts = inferModelOptions(model, loadSafetensors(weights).tensors, weights);
    const classes = (f.classes as number | undefined) ?? (opts.numClasses as number);
    const [, C, H] = x.shape;
    if (opts.inChannels !== undefined && opts.inChannels !== C) throw new ShapeError('predict', `the weights take ${String(opts.inChannels)} input channel(s), the input has ${C} (shape [${x.shape.join(', ')}])`);
    // Width/depth multipliers read off the weights (MobileNetV2 α, MicroNet d/w); the CIFAR strides follow the input size.
    const { numClasses: _n, inChannels: _c, inputSize: _s, cifar: _f, ...extra } = opts;
    const net = buildModel(model, { classes, channels: C, height: H }, new Rng(0), extra);
    loadWeightsInto(net, weights);
    net.eval();
    const y = noGrad(() => net.forward(new Tensor(x.data, x.shape)));
    out = { data: Float32Array.from(y.data), shape: [...y.shape] };
  }
  saveSafetensors(outPath, { output: new Tensor(out.data, out.shape) });
  log(`wrote ${outPath}: output [${out.shape.join(', ')}]`);
  return 0;
}

/** Minimum warm-up time of {@link benchPacked}. */
const WARMUP_MS = 1000;

/**
 * Times the runtime on a packed model with random inputs of its export size (after a warm-up of at
 * least 3 calls and 1 s).
 * @example benchPacked('lenet5.ec2t.safetensors', 32, 5).imagesPerSecond
 */
export function benchPacked(path: string, batchSize: number, steps: number): BenchResult {
  if (!existsSync(path)) throw new FormatError(path, 'packed model file not found');
  const m = loadTernaryModel(path);
  const { channels, height, width } = m.program.input;
  const shape: [number, number, number, number] = [batchSize, channels, height, width];
  const rng = new Rng(0);
  const x = new Float32Array(batchSize * channels * height * width);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  // Warm-up: at least 3 calls and 1 s. The wasm ternary kernels generate each layer's code during
  // the first calls and tier up over ~15 calls at batch 1 (call 3 ≈ 0.7 s, call 17 ≈ 2.4 ms for
  // ResNet-20): one warm-up call measured mostly compilation.
  const w0 = performance.now();
  for (let i = 0; i < 3 || performance.now() - w0 < WARMUP_MS; i++) m.predict(x, shape);
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) m.predict(x, shape);
  const ms = (performance.now() - t0) / steps;
  const threads = Number(process.env.EC2T_THREADS ?? availableParallelism());
  return { model: path, mode: 'infer', batchSize, threads, backend: 'ternary-runtime', msPerStep: ms, imagesPerSecond: (batchSize * 1000) / ms };
}
