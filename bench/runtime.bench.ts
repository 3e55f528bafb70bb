/**
 * Whole-network inference (issue 7): ResNet-20 with random ternary weights at 65 % sparsity (the 18
 * block convs, docs/METHOD.md §2), packed with `packModel` and run by the ternary runtime
 * (`ec2t/runtime`), against the dense float ResNet-20 — the nn eval forward of the same network
 * (same weights Wt, same inputs, same run). A third column runs the same float network packed
 * without ternary layers through the runtime, which separates the runtime's own cost from the
 * ternary kernels'. Batch 1, 32 and 128 (`--batches 1,32`); each time is the best of `--rounds`
 * interleaved rounds (tinybench mean per round). Prints a markdown table.
 *
 *   npx tsc -p . && node dist/bench/runtime.bench.js [--quick] [--batches 1,32,128] [--rounds 4]
 */
import '../kernels/index.js';
import { Rng } from '../base/rng.js';
import { Tensor, noGrad } from '../engine/tensor.js';
import { packModel } from '../ec2t/export.js';
import { loadTernaryModelBytes } from '../ec2t/runtime/index.js';
import { ternaryThreads } from '../kernels/ternary/simd.js';
import { createModel, ternaryLayerNames } from '../nn/models/index.js';
import type { SafetensorEntry } from '../nn/safetensors.js';
import { markdownTable, randomArrays, seconds } from './util.js';

const quick = process.argv.includes('--quick');
const bi = process.argv.indexOf('--batches');
const batches = bi >= 0 ? process.argv[bi + 1].split(',').map(Number) : [1, 32, 128];
const SPARSITY = 0.65;
const ri = process.argv.indexOf('--rounds');
const ROUNDS = ri >= 0 ? Number(process.argv[ri + 1]) : quick ? 2 : 4;

const rng = new Rng(7);
const model = createModel('resnet20', { rng: rng.fork() });
const ternary = ternaryLayerNames(model, 'resnet20');
// State dict as `ec2t ternarize` writes it (Wt in `weight` plus `.w_p`, `.w_n`, `.assignment`),
// with non-trivial batch-norm statistics so the folded scales and shifts are exercised.
const sd = new Map<string, SafetensorEntry>();
for (const [k, t] of model.stateDict()) {
  const data = Float32Array.from(t.data);
  if (k.endsWith('running_mean')) for (let i = 0; i < data.length; i++) data[i] = 0.1 * rng.normal();
  else if (k.endsWith('running_var')) for (let i = 0; i < data.length; i++) data[i] = rng.uniformRange(0.5, 1.5);
  sd.set(k, { dtype: 'F32', shape: [...t.shape], data });
}
let weights = 0;
let nonzeros = 0;
for (const name of ternary) {
  const w = sd.get(`${name}.weight`) as SafetensorEntry;
  const a = new Int8Array(w.data.length);
  for (let k = 0; k < a.length; k++) a[k] = rng.uniform() < SPARSITY ? 0 : rng.uniform() < 0.5 ? 1 : -1;
  const wp = Math.fround(0.05 + 0.1 * rng.uniform());
  const wn = Math.fround(0.05 + 0.1 * rng.uniform());
  const wt = Float32Array.from(a, (v) => (v === 1 ? wp : v === -1 ? -wn : 0));
  weights += a.length;
  nonzeros += a.reduce((n, v) => n + (v !== 0 ? 1 : 0), 0);
  sd.set(`${name}.weight`, { dtype: 'F32', shape: w.shape, data: wt });
  sd.set(`${name}.w_p`, { dtype: 'F32', shape: [1], data: Float32Array.of(wp) });
  sd.set(`${name}.w_n`, { dtype: 'F32', shape: [1], data: Float32Array.of(wn) });
  sd.set(`${name}.assignment`, { dtype: 'I8', shape: w.shape, data: a });
}
model.loadStateDict(new Map([...model.stateDict().keys()].map((k) => [k, new Tensor(Float32Array.from((sd.get(k) as SafetensorEntry).data as Float32Array), (sd.get(k) as SafetensorEntry).shape)])), { strict: true });
model.eval();
const packed = packModel('resnet20', {}, sd);
const runtime = loadTernaryModelBytes(packed.bytes, 'resnet20-ternary');
// The same float network without ternary layers, through the runtime (dense convs only).
const floatSd = new Map([...sd].filter(([k]) => !/\.(w_p|w_n|assignment)$/.test(k)));
const runtimeDense = loadTernaryModelBytes(packModel('resnet20', {}, floatSd).bytes, 'resnet20-dense');

const rand = randomArrays(rng);
const rows: string[][] = [];
for (const N of batches) {
  const shape: [number, number, number, number] = [N, 3, 32, 32];
  const x = rand(N * 3 * 32 * 32);
  const xt = new Tensor(x, shape);
  // Same logits (sanity): the benchmark compares equal work.
  const ref = noGrad(() => model.forward(xt)).data;
  const got = runtime.predict(x, shape).data;
  let d = 0;
  let s = 0;
  for (let i = 0; i < ref.length; i++) {
    d = Math.max(d, Math.abs(ref[i] - got[i]));
    s = Math.max(s, Math.abs(ref[i]));
  }
  if (d > 1e-3 * s) throw new Error(`batch ${N}: runtime logits differ from the nn forward (max |Δ| ${d}, scale ${s})`);
  // Others share this machine: the three contenders take turns over several rounds and each keeps
  // its best round, so a burst of load hits one round of one contender, not the comparison.
  const timing = { timeMs: quick ? 300 : N === 1 ? 600 : 1200, iterations: quick ? 2 : 3, warmupMs: 100 };
  let tDense = Number.POSITIVE_INFINITY;
  let tRtDense = Number.POSITIVE_INFINITY;
  let tTern = Number.POSITIVE_INFINITY;
  for (let round = 0; round < ROUNDS; round++) {
    tDense = Math.min(tDense, await seconds(`nn dense b${N}`, () => void noGrad(() => model.forward(xt)), timing));
    tRtDense = Math.min(tRtDense, await seconds(`runtime dense b${N}`, () => void runtimeDense.predict(x, shape), timing));
    tTern = Math.min(tTern, await seconds(`runtime ternary b${N}`, () => void runtime.predict(x, shape), timing));
  }
  const ips = (t: number): string => (N / t).toFixed(0);
  rows.push([
    String(N), (tDense * 1e3).toFixed(2), ips(tDense), (tRtDense * 1e3).toFixed(2), ips(tRtDense),
    (tTern * 1e3).toFixed(2), ips(tTern), `${(tDense / tTern).toFixed(2)}×`,
  ]);
}
console.log(`ResNet-20 (CIFAR, 32×32), best of ${ROUNDS} rounds, ${ternary.length} ternary convs, ${weights} ternary weights at ${(100 * (1 - nonzeros / weights)).toFixed(1)} % sparsity; packed ${packed.bytes.length} bytes; ternary threads ${ternaryThreads()}\n`);
console.log(markdownTable(
  ['batch', 'dense nn eval ms', 'images/s', 'dense via runtime ms', 'images/s', 'ternary runtime ms', 'images/s', 'speed-up vs dense nn'],
  rows,
));
