/**
 * Ternary inference against peers on one ResNet-20 (issue 17), in one process: the packed ternary
 * runtime with float, int16 and int8 activations (`ec2t export --activations`), the same network
 * dense in ec2t's nn eval forward (float weights Wt, dense convs), and onnxruntime-node running the
 * ONNX file `ec2t export --format onnx` writes for it (dense float32, native kernels). Batch 1 and 32,
 * 1 and 2 threads (ec2t: the `threads` backend setting; onnxruntime: `intraOpNumThreads`). Every
 * contender runs once per round, rounds interleaved, best round kept, so a burst of load from other
 * processes hits one round of one contender rather than the comparison; the load average is printed.
 *
 *   npx tsc -p . && node dist/bench/inference-peers.bench.js [--weights FILE] [--rounds 5] [--quick]
 *
 * The default network is ResNet-20 with random ternary weights at 65 % sparsity in its 18 block convs
 * (random batch-norm statistics); `--weights FILE` takes a ternary state dict instead (a ternarize
 * run's ternary.safetensors, or a float file whose policy layers hold {−a, 0, +b}, such as the
 * authors' published ResNet-20). Inputs and the calibration batch of the integer modes are N(0, 1)
 * images (no CIFAR-10 here); the int modes' logit agreement with the float runtime on those inputs is
 * printed with the table.
 */
import '../kernels/index.js';
import { loadavg } from 'node:os';
import { Rng } from '../base/rng.js';
import { packModel, withIntActivations } from '../ec2t/export.js';
import { exportOnnx } from '../ec2t/onnx.js';
import { loadTernaryModelBytes } from '../ec2t/runtime/index.js';
import { setGemmThreads } from '../kernels/wasm/threaded-gemm.js';
import { shutdownTernaryThreads } from '../kernels/ternary/simd.js';
import { createModel, ternaryLayerNames } from '../nn/models/index.js';
import { entryToFloat32, loadSafetensors, type SafetensorEntry } from '../nn/safetensors.js';
import { Tensor, noGrad } from '../engine/tensor.js';
import { markdownTable } from './util.js';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const quick = process.argv.includes('--quick');
const ROUNDS = Number(arg('--rounds') ?? (quick ? 2 : 5));
const WEIGHTS = arg('--weights');
const BATCHES = [1, 32];
const THREADS = [1, 2];

/** A ternary ResNet-20 state dict as `ec2t ternarize` writes it, random weights at 65 % sparsity. */
function randomTernaryResnet20(): Map<string, SafetensorEntry> {
  const rng = new Rng(7);
  const model = createModel('resnet20', { rng: rng.fork() });
  const sd = new Map<string, SafetensorEntry>();
  for (const [k, t] of model.stateDict()) {
    const data = Float32Array.from(t.data);
    if (k.endsWith('running_mean')) for (let i = 0; i < data.length; i++) data[i] = 0.1 * rng.normal();
    else if (k.endsWith('running_var')) for (let i = 0; i < data.length; i++) data[i] = rng.uniformRange(0.5, 1.5);
    sd.set(k, { dtype: 'F32', shape: [...t.shape], data });
  }
  for (const name of ternaryLayerNames(model, 'resnet20')) {
    const w = sd.get(`${name}.weight`) as SafetensorEntry;
    const a = new Int8Array(w.data.length);
    for (let k = 0; k < a.length; k++) a[k] = rng.uniform() < 0.65 ? 0 : rng.uniform() < 0.5 ? 1 : -1;
    const wp = Math.fround(0.05 + 0.1 * rng.uniform());
    const wn = Math.fround(0.05 + 0.1 * rng.uniform());
    sd.set(`${name}.weight`, { dtype: 'F32', shape: w.shape, data: Float32Array.from(a, (v) => (v === 1 ? wp : v === -1 ? -wn : 0)) });
    sd.set(`${name}.w_p`, { dtype: 'F32', shape: [1], data: Float32Array.of(wp) });
    sd.set(`${name}.w_n`, { dtype: 'F32', shape: [1], data: Float32Array.of(wn) });
    sd.set(`${name}.assignment`, { dtype: 'I8', shape: w.shape, data: a });
  }
  return sd;
}

function normal(n: number, rng: Rng): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}

/** Seconds per call: warm-up, then the best of a few timed bursts (at least ~0.3 s each). */
async function secondsPerCall(f: () => unknown | Promise<unknown>): Promise<number> {
  // 4 calls: the lazy ternary code generation happens on the third call of a layer.
  for (let i = 0; i < 4; i++) await f();
  let best = Number.POSITIVE_INFINITY;
  for (let burst = 0; burst < 2; burst++) {
    let calls = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < (quick ? 150 : 300)) {
      await f();
      calls++;
    }
    best = Math.min(best, (performance.now() - t0) / 1e3 / calls);
  }
  return best;
}

async function main(): Promise<void> {
  const sd = WEIGHTS === undefined ? randomTernaryResnet20() : loadSafetensors(WEIGHTS).tensors;
  const source = WEIGHTS ?? 'random ternary ResNet-20';
  const packed = packModel('resnet20', {}, sd, { source });
  const rng = new Rng(11);
  const calibration = { data: normal(64 * 3 * 32 * 32, rng), shape: [64, 3, 32, 32] as [number, number, number, number] };
  const ec2t = new Map<string, ReturnType<typeof loadTernaryModelBytes>>();
  ec2t.set('ec2t ternary float', loadTernaryModelBytes(packed.bytes, 'float'));
  for (const mode of ['int16', 'int8'] as const) {
    const { packed: p, layers } = withIntActivations(packed, mode, calibration, source);
    const kept = layers.filter((l) => l.mode === 'float').length;
    ec2t.set(`ec2t ternary ${mode}`, loadTernaryModelBytes(p.bytes, mode));
    if (kept > 0) console.log(`${mode}: ${kept} of ${layers.length} ternary layers keep float activations (accumulator bound)`);
  }
  // Dense: the same float network (weights Wt) in ec2t's nn eval forward. NOTE: not through the
  // runtime: packModel reads ternary-valued float layers as ternary, so a packed "dense" copy would
  // run the ternary kernels again (it measured the same as the ternary row).
  const floatSd = new Map([...sd].filter(([k]) => !/\.(w_p|w_n|assignment)$/.test(k)));
  const net = createModel('resnet20', { rng: new Rng(0) });
  net.loadStateDict(new Map([...net.stateDict().keys()].map((k) => {
    const e = floatSd.get(k) as SafetensorEntry;
    return [k, new Tensor(entryToFloat32(e), e.shape)];
  })), { strict: true });
  net.eval();
  const dense = { predict: (x: Float32Array, shape: [number, number, number, number]): unknown => noGrad(() => net.forward(new Tensor(x, shape))) };
  let ort: typeof import('onnxruntime-node') | null = null;
  let ortSkip = '';
  try {
    ort = await import('onnxruntime-node');
  } catch (e) {
    ortSkip = `onnxruntime-node unavailable (${(e as Error).message.split('\n')[0]})`;
  }
  const onnx = exportOnnx('resnet20', {}, floatSd, { source }).bytes;
  const sessions = new Map<number, import('onnxruntime-node').InferenceSession>();
  if (ort !== null) {
    for (const t of THREADS) sessions.set(t, await ort.InferenceSession.create(onnx, { intraOpNumThreads: t, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' }));
  }
  const names = [...ec2t.keys(), 'ec2t dense (nn eval)', ...(ort !== null ? ['onnxruntime-node dense'] : [])];
  const best = new Map<string, number>();
  const agreement: string[] = [];
  const loadBefore = loadavg()[0];
  for (const N of BATCHES) {
    const shape: [number, number, number, number] = [N, 3, 32, 32];
    const x = normal(N * 3 * 32 * 32, rng);
    const ref = (ec2t.get('ec2t ternary float') as ReturnType<typeof loadTernaryModelBytes>).predict(x, shape).data;
    if (N === 32) {
      for (const mode of ['int16', 'int8']) {
        const got = (ec2t.get(`ec2t ternary ${mode}`) as ReturnType<typeof loadTernaryModelBytes>).predict(x, shape).data;
        let agree = 0, rel = 0;
        for (let r = 0; r < N; r++) {
          const row = (a: Float32Array): Float32Array => a.subarray(r * 10, r * 10 + 10);
          const am = (a: Float32Array): number => a.indexOf(Math.max(...a));
          if (am(row(got)) === am(row(ref))) agree++;
          const s = Math.max(...row(ref).map(Math.abs));
          for (let k = 0; k < 10; k++) rel = Math.max(rel, Math.abs(row(got)[k] - row(ref)[k]) / s);
        }
        agreement.push(`${mode} vs float activations (batch 32, N(0,1) inputs): top-1 agreement ${agree}/${N}, max relative logit error ${rel.toExponential(2)}`);
      }
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const t of THREADS) {
        setGemmThreads(t);
        for (const [name, m] of ec2t) {
          const s = await secondsPerCall(() => m.predict(x, shape));
          const key = `${name}|${N}|${t}`;
          best.set(key, Math.min(best.get(key) ?? Number.POSITIVE_INFINITY, s));
        }
        {
          const s = await secondsPerCall(() => dense.predict(x, shape));
          const key = `ec2t dense (nn eval)|${N}|${t}`;
          best.set(key, Math.min(best.get(key) ?? Number.POSITIVE_INFINITY, s));
        }
        const session = sessions.get(t);
        if (ort !== null && session !== undefined) {
          const feeds = { input: new ort.Tensor('float32', x, shape) };
          const s = await secondsPerCall(() => session.run(feeds));
          const key = `onnxruntime-node dense|${N}|${t}`;
          best.set(key, Math.min(best.get(key) ?? Number.POSITIVE_INFINITY, s));
        }
      }
    }
  }
  const loadAfter = loadavg()[0];
  setGemmThreads(undefined);
  const cols = BATCHES.flatMap((N) => THREADS.map((t) => [N, t] as const));
  const rows = names.map((name) => [name, ...cols.map(([N, t]) => {
    const s = best.get(`${name}|${N}|${t}`) as number;
    const o = best.get(`onnxruntime-node dense|${N}|${t}`);
    return `${Math.round(N / s)}${o !== undefined && name !== 'onnxruntime-node dense' ? ` (${(o / s).toFixed(2)}×)` : ''}`;
  })]);
  console.log(`\n${source}: packed ${packed.bytes.length} bytes; best of ${ROUNDS} interleaved rounds; images/s (ratio to onnxruntime-node at the same batch and threads); load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after, ${process.version}\n`);
  console.log(markdownTable(['', ...cols.map(([N, t]) => `batch ${N}, ${t} thread${t === 1 ? '' : 's'}`)], rows));
  if (ortSkip !== '') console.log(`\nskipped: ${ortSkip}`);
  console.log('\n' + agreement.join('\n'));
  await shutdownTernaryThreads();
}

await main();
