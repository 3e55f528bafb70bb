/**
 * `ec2t bench`: training-step or inference throughput of a model on this machine, on random
 * inputs (warm-up of at least 3 steps and 1 s, then `--steps` timed steps).
 */
import { defaultThreads } from '../kernels/settings.js';
import { Rng } from '../base/rng.js';
import { randn, noGrad, recycleActivations } from '../engine/tensor.js';
import { crossEntropy } from '../engine/ops/loss.js';
import { SGD } from '../nn/optim.js';
import { getBackend, resolveBackend } from '../kernels/registry.js';
import type { Parsed } from './args.js';
import { UsageError } from './args.js';
import { buildModel, isPackedModelPath, requireFile } from './common.js';
import { loadTernaryModel } from '../ec2t/runtime/index.js';
import { MODEL_NAMES, isModelName } from '../nn/models/index.js';
import { log } from './progress.js';

/** What `ec2t bench --json` prints. */
export interface BenchResult {
  model: string;
  mode: 'train' | 'infer';
  batchSize: number;
  threads: number;
  backend: string;
  msPerStep: number;
  imagesPerSecond: number;
}

/** Default input geometry per model. */
function geometry(model: string, inputSize?: number): { channels: number; height: number; classes: number } {
  if (model === 'lenet5') return { channels: 1, height: inputSize ?? 28, classes: 10 };
  return { channels: 3, height: inputSize ?? 32, classes: 10 };
}

/**
 * Times `steps` steps of `model` (a name) at `batchSize`.
 * @example benchModel('resnet20', 'train', 32, 5)
 */
export function benchModel(model: string, mode: 'train' | 'infer', batchSize: number, steps: number, inputSize?: number): BenchResult {
  const g = geometry(model, inputSize);
  const rng = new Rng(0);
  const net = buildModel(model, g, rng, {}, inputSize);
  const x = randn([batchSize, g.channels, g.height, g.height], rng);
  const labels = new Int32Array(batchSize).map((_, i) => i % g.classes);
  const opt = new SGD({ params: net.parameters(), lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
  const step = mode === 'train'
    ? () => recycleActivations(() => {
        net.train();
        opt.zeroGrad();
        const loss = crossEntropy(net.forward(x), labels);
        loss.backward();
        opt.step();
      })
    : () => {
        net.eval();
        noGrad(() => net.forward(x));
      };
  const ms = timeSteps(step, steps);
  const threads = defaultThreads();
  const backend = getBackend() === 'auto' ? `auto(conv:${resolveBackend('conv2dForward', 1e9)})` : getBackend();
  return { model, mode, batchSize, threads, backend, msPerStep: ms, imagesPerSecond: (batchSize * 1000) / ms };
}

/**
 * Milliseconds per call of `step` over `steps` timed calls, after a warm-up of at least 3 calls and
 * 1 s: V8 tiers up and the wasm kernels generate per-layer code during the first calls, so one
 * warm-up call measured mostly compilation (packed ResNet-20 b1: 45 ms/step reported, 2.8 real).
 * @example const ms = timeSteps(() => net.forward(x), 10);
 */
export function timeSteps(step: () => void, steps: number): number {
  const w0 = performance.now();
  for (let i = 0; i < 3 || performance.now() - w0 < 1000; i++) step();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) step();
  return (performance.now() - t0) / steps;
}

/**
 * Times the runtime on a packed model with random inputs of its export size (after a warm-up of at
 * least 3 calls and 1 s).
 * @example benchPacked('lenet5.ec2t.safetensors', 32, 5).imagesPerSecond
 */
export function benchPacked(path: string, batchSize: number, steps: number): BenchResult {
  requireFile(path, 'packed model file');
  const m = loadTernaryModel(path);
  for (const n of m.notes) log(`note: ${n}`);
  const { channels, height, width } = m.program.input;
  const shape: [number, number, number, number] = [batchSize, channels, height, width];
  const rng = new Rng(0);
  const x = new Float32Array(batchSize * channels * height * width);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  const ms = timeSteps(() => m.predict(x, shape), steps);
  const threads = defaultThreads();
  return { model: path, mode: 'infer', batchSize, threads, backend: 'ternary-runtime', msPerStep: ms, imagesPerSecond: (batchSize * 1000) / ms };
}

/** `ec2t bench` handler. */
export async function runBench(p: Parsed): Promise<number> {
  const f = p.flags;
  const model = f.model as string;
  const mode = f.mode as 'train' | 'infer';
  let r: BenchResult;
  if (isPackedModelPath(model)) {
    if (mode !== 'infer') throw new UsageError('a packed ternary model can only be benchmarked with --mode infer');
    r = benchPacked(model, f['batch-size'] as number, f.steps as number);
  } else {
    if (!isModelName(model)) throw new UsageError(`--model ${model}: not a model name or an existing file; models: ${MODEL_NAMES.join(', ')}`);
    r = benchModel(model, mode, f['batch-size'] as number, f.steps as number, f['input-size'] as number | undefined);
  }
  if (f.json) process.stdout.write(JSON.stringify(r) + '\n');
  else log(`${r.model} ${r.mode} batch ${r.batchSize}: ${r.msPerStep.toFixed(1)} ms/step, ${r.imagesPerSecond.toFixed(1)} images/s (backend ${r.backend}, threads ${r.threads})`);
  return 0;
}
