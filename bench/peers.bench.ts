/**
 * ResNet-20 against peers, in one run: training step (forward, cross-entropy, backward,
 * SGD-momentum update) at batch 32 and 128 and inference at batch 128, in images/s, for ec2t
 * (`benchModel`, EC2T_THREADS=1 and 2, each in its own child process so the thread setting takes
 * effect from the start), TF.js 4 `cpu` backend (train + infer) and `wasm` backend (infer only: it
 * has no Conv2DBackpropFilter), and Debian's PyTorch CPU (bench/peers_torch.py, 1 and 2 threads).
 * Then conv2d forward / forward+backward GFLOP/s on the ResNet-20 conv shapes and a depthwise 3×3
 * shape, ec2t vs TF.js cpu vs PyTorch. A peer whose package is missing is skipped with the reason.
 *
 *   npx tsc -p . && node dist/bench/peers.bench.js
 *   EC2T_PEERS_STEPS=5 (timed steps, default 3)  EC2T_PEERS_ONLY=models|conv  EC2T_PEERS_SKIP=tfjs,torch
 *
 * Timing: model steps take 0.05 s – minutes, so plain repeated timing: warm-up, then `STEPS` individually
 * timed steps, median. ec2t's `benchModel(model, mode, batch, 1)` builds the net, runs one warm-up
 * step and times one step; it is called `STEPS` times and the median taken. Conv kernels (ms scale):
 * tinybench, median latency (p50), warm-up on.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { loadavg, cpus } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';

type Tf = typeof import('@tensorflow/tfjs');
type TfTensor = import('@tensorflow/tfjs').Tensor;
type Tensor4D = import('@tensorflow/tfjs').Tensor4D;
type Tensor1D = import('@tensorflow/tfjs').Tensor1D;
type Variable = import('@tensorflow/tfjs').Variable;

const STEPS = Number(process.env.EC2T_PEERS_STEPS ?? 3);
const ONLY = process.env.EC2T_PEERS_ONLY ?? '';
const SKIP = new Set((process.env.EC2T_PEERS_SKIP ?? '').split(',').filter((s) => s !== ''));
const TRAIN_BATCHES = [32, 128] as const;
const INFER_BATCH = 128;
const THREADS = [1, 2] as const;
// TF.js cpu's Conv2DBackpropFilter runs at ~0.006 GFLOP/s (24 s for the 64→64 8×8 weight gradient at
// N=32), so one ResNet-20 training step at batch 32 takes minutes: by default TF.js cpu trains at
// batch 32 only, one timed step, no warm-up (JIT warm-up is noise against minutes). Full protocol:
// EC2T_PEERS_TFJS_TRAIN_BATCHES=32,128 EC2T_PEERS_TFJS_TRAIN_STEPS=3 EC2T_PEERS_TFJS_TRAIN_WARMUP=1.
const TFJS_TRAIN_BATCHES = (process.env.EC2T_PEERS_TFJS_TRAIN_BATCHES ?? '32').split(',').filter((b) => b !== '').map(Number);
const TFJS_TRAIN_STEPS = Number(process.env.EC2T_PEERS_TFJS_TRAIN_STEPS ?? 1);
const TFJS_TRAIN_WARMUP = Number(process.env.EC2T_PEERS_TFJS_TRAIN_WARMUP ?? 0);

/** Model rates of one implementation; keys `train32`, `train128`, `infer128` (images/s). */
type Rates = Partial<Record<string, number>>;
/** Conv GFLOP/s per shape name: [forward, forward+backward]. */
type ConvRates = Record<string, [number, number]>;

interface Shape { name: string; x: [number, number, number, number]; w: [number, number, number, number]; stride?: number; padding?: number; groups?: number }
/** The distinct conv shapes of ResNet-20 at batch 32 (NCHW / OIHW), plus a depthwise 3×3. */
const SHAPES: Shape[] = [
  { name: 'stem 3→16 32×32', x: [32, 3, 32, 32], w: [16, 3, 3, 3], padding: 1 },
  { name: '16→16 32×32', x: [32, 16, 32, 32], w: [16, 16, 3, 3], padding: 1 },
  { name: '16→32 32×32 s2', x: [32, 16, 32, 32], w: [32, 16, 3, 3], padding: 1, stride: 2 },
  { name: '32→32 16×16', x: [32, 32, 16, 16], w: [32, 32, 3, 3], padding: 1 },
  { name: '32→64 16×16 s2', x: [32, 32, 16, 16], w: [64, 32, 3, 3], padding: 1, stride: 2 },
  { name: '64→64 8×8', x: [32, 64, 8, 8], w: [64, 64, 3, 3], padding: 1 },
  { name: 'depthwise 96 16×16', x: [32, 96, 16, 16], w: [96, 1, 3, 3], padding: 1, groups: 96 },
];

const median = (v: number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Median seconds of `steps` timed calls after `warmup` untimed ones. */
function medianSeconds(fn: () => void, warmup: number, steps: number): number {
  for (let i = 0; i < warmup; i++) fn();
  const t: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    fn();
    t.push((performance.now() - t0) / 1000);
  }
  return median(t);
}

/** Median seconds per call through tinybench (warm-up on). */
async function benchSeconds(name: string, fn: () => void, timeMs = 600, iterations = 5): Promise<number> {
  const bench = new Bench({ time: timeMs, iterations, warmupTime: 100, warmupIterations: 2 });
  bench.add(name, fn);
  await bench.run();
  const r = bench.tasks[0].result;
  if (r.state !== 'completed') throw new Error(`benchmark ${name} did not complete: ${r.state}`);
  return r.latency.p50 / 1000;
}

const outSize = (n: number, k: number, s: number, p: number): number => Math.floor((n + 2 * p - k) / s) + 1;
function convFlops(s: Shape): number {
  const [n, , h, w] = s.x;
  const [o, ipg, kh, kw] = s.w;
  const st = s.stride ?? 1, p = s.padding ?? 0;
  return 2 * n * o * outSize(h, kh, st, p) * outSize(w, kw, st, p) * ipg * kh * kw;
}

// ---------------------------------------------------------------------------------------------
// ec2t, in a child process (EC2T_THREADS set before any ec2t module loads)

async function oursChild(): Promise<void> {
  const { benchModel } = await import('../cli/run-bench.js');
  const models: Rates = {};
  if (ONLY !== 'conv') {
    for (const b of TRAIN_BATCHES) models[`train${b}`] = b / median(Array.from({ length: STEPS }, () => benchModel('resnet20', 'train', b, 1).msPerStep / 1000));
    models[`infer${INFER_BATCH}`] = INFER_BATCH / median(Array.from({ length: STEPS }, () => benchModel('resnet20', 'infer', INFER_BATCH, 1).msPerStep / 1000));
  }
  const conv: ConvRates = {};
  if (ONLY !== 'models') {
    await import('../kernels/index.js');
    const { Rng } = await import('../base/rng.js');
    const { kernelFor } = await import('../kernels/registry.js');
    const { conv2dGeometry } = await import('../kernels/types.js');
    const rng = new Rng(7);
    const rand = (n: number): Float32Array => Float32Array.from({ length: n }, () => rng.uniformRange(-1, 1));
    for (const s of SHAPES) {
      const g = conv2dGeometry(s.x, s.w, { stride: s.stride, padding: s.padding, groups: s.groups });
      const x = rand(s.x.reduce((a, b) => a * b)), w = rand(s.w.reduce((a, b) => a * b));
      const out = new Float32Array(g.batch * g.outChannels * g.outHeight * g.outWidth);
      const dy = rand(out.length), dx = new Float32Array(x.length), dw = new Float32Array(w.length);
      const f = kernelFor('conv2dForward', 'cpu'), bi = kernelFor('conv2dBackwardInput', 'cpu'), bw = kernelFor('conv2dBackwardWeight', 'cpu');
      const fl = convFlops(s);
      const tf = await benchSeconds(`ours fwd ${s.name}`, () => f(x, w, null, out, g));
      const tb = await benchSeconds(`ours fwd+bwd ${s.name}`, () => { f(x, w, null, out, g); bi(dy, w, dx, g); bw(x, dy, dw, g); });
      conv[s.name] = [fl / tf / 1e9, (3 * fl) / tb / 1e9];
    }
  }
  process.stdout.write(JSON.stringify({ models, conv }) + '\n');
  process.exit(0); // worker threads of the threaded GEMM must not keep the child alive
}

function oursRun(threads: number): { models: Rates; conv: ConvRates } | string {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--ours-child'], {
    encoding: 'utf8', timeout: 1_200_000, env: { ...process.env, EC2T_THREADS: String(threads) }, maxBuffer: 1 << 24,
  });
  if (r.status !== 0) return `ec2t child (EC2T_THREADS=${threads}) failed: ${(r.stderr || r.error?.message || '').trim().split('\n').slice(-3).join(' | ')}`;
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as { models: Rates; conv: ConvRates };
}

// ---------------------------------------------------------------------------------------------
// TF.js: the same ResNet-20 on tf ops, NHWC, BN in training mode from batch moments

interface TfNet { vars: Variable[]; forward: (x: Tensor4D, training: boolean) => TfTensor }

function tfResNet20(tf: Tf): TfNet {
  const vars: Variable[] = [];
  let seed = 1;
  const conv = (cin: number, cout: number): Variable => {
    // kaiming_normal_ (fan_in, gain √2), as the model; HWIO layout.
    const v = tf.variable(tf.randomNormal([3, 3, cin, cout], 0, Math.sqrt(2 / (9 * cin)), 'float32', seed++));
    vars.push(v);
    return v;
  };
  const bn = (c: number): { g: Variable; b: Variable; rm: TfTensor; rv: TfTensor } => {
    const g = tf.variable(tf.ones([c])), b = tf.variable(tf.zeros([c]));
    vars.push(g, b);
    return { g, b, rm: tf.zeros([c]), rv: tf.ones([c]) };
  };
  const applyBn = (x: Tensor4D, p: ReturnType<typeof bn>, training: boolean): Tensor4D => {
    if (!training) return tf.batchNorm4d(x, p.rm as Tensor1D, p.rv as Tensor1D, p.b as unknown as Tensor1D, p.g as unknown as Tensor1D, 1e-5);
    const m = tf.moments(x, [0, 1, 2]); // biased variance, as PyTorch normalises in training
    return tf.batchNorm4d(x, m.mean as Tensor1D, m.variance as Tensor1D, p.b as unknown as Tensor1D, p.g as unknown as Tensor1D, 1e-5);
  };
  const stem = conv(3, 16), stemBn = bn(16);
  const blocks: { c1: Variable; b1: ReturnType<typeof bn>; c2: Variable; b2: ReturnType<typeof bn>; stride: number; padC: number }[] = [];
  let inp = 16;
  for (const [planes, stride] of [[16, 1], [32, 2], [64, 2]] as const) {
    for (let i = 0; i < 3; i++) {
      const st = i === 0 ? stride : 1;
      blocks.push({ c1: conv(inp, planes), b1: bn(planes), c2: conv(planes, planes), b2: bn(planes), stride: st, padC: st !== 1 || inp !== planes ? planes / 4 : 0 });
      inp = planes;
    }
  }
  const lw = tf.variable(tf.randomNormal([64, 10], 0, Math.sqrt(2 / 64), 'float32', seed++)), lb = tf.variable(tf.zeros([10]));
  vars.push(lw, lb);
  const forward = (x: Tensor4D, training: boolean): TfTensor => {
    let y = tf.relu(applyBn(tf.conv2d(x, stem as unknown as Tensor4D, 1, 1), stemBn, training)) as Tensor4D;
    for (const k of blocks) {
      let o = tf.relu(applyBn(tf.conv2d(y, k.c1 as unknown as Tensor4D, k.stride, 1), k.b1, training)) as Tensor4D;
      o = applyBn(tf.conv2d(o, k.c2 as unknown as Tensor4D, 1, 1), k.b2, training);
      let sc: Tensor4D = y;
      if (k.stride !== 1 || k.padC !== 0) {
        // Option A: every second pixel (even sizes), channels zero-padded by planes/4 on each side.
        const [n, h, w, c] = y.shape;
        // tfjs 4.22 has no StridedSlice gradient: x[:, ::2, ::2, :] as reshape → slice (which has one).
        const sub = tf.reshape(tf.slice(tf.reshape(y, [n, h / 2, 2, w / 2, 2, c]), [0, 0, 0, 0, 0, 0], [n, h / 2, 1, w / 2, 1, c]), [n, h / 2, w / 2, c]) as Tensor4D;
        sc = tf.pad(sub, [[0, 0], [0, 0], [0, 0], [k.padC, k.padC]]);
      }
      y = tf.relu(tf.add(o, sc)) as Tensor4D;
    }
    return tf.add(tf.matMul(tf.mean(y, [1, 2]), lw), lb);
  };
  return { vars, forward };
}

function tfModelRates(tf: Tf, train: boolean): Rates {
  const rates: Rates = {};
  if (train) {
    for (const b of TFJS_TRAIN_BATCHES) {
      const net = tfResNet20(tf);
      const x = tf.randomNormal([b, 32, 32, 3], 0, 1, 'float32', 3) as Tensor4D;
      const y = tf.oneHot(tf.tensor1d(Array.from({ length: b }, (_, i) => i % 10), 'int32'), 10);
      const opt = tf.train.momentum(0.01, 0.9);
      const step = (): void => {
        const loss = opt.minimize(() => {
          const ce = tf.losses.softmaxCrossEntropy(y, net.forward(x, true)) as import('@tensorflow/tfjs').Scalar;
          // weight_decay=5e-4 as the ec2t/PyTorch SGD: (wd/2)·Σ‖w‖² adds wd·w to every gradient.
          return tf.add(ce, tf.mul(2.5e-4, tf.addN(net.vars.map((v) => tf.sum(tf.square(v)))))) as import('@tensorflow/tfjs').Scalar;
        }, true, net.vars);
        loss?.dataSync();
        loss?.dispose();
      };
      rates[`train${b}`] = b / medianSeconds(step, TFJS_TRAIN_WARMUP, TFJS_TRAIN_STEPS);
      opt.dispose();
      for (const v of net.vars) v.dispose();
      tf.dispose([x, y]);
    }
  }
  const net = tfResNet20(tf);
  const x = tf.randomNormal([INFER_BATCH, 32, 32, 3], 0, 1, 'float32', 4) as Tensor4D;
  rates[`infer${INFER_BATCH}`] = INFER_BATCH / medianSeconds(() => {
    const out = tf.tidy(() => net.forward(x, false));
    out.dataSync();
    out.dispose();
  }, 2, STEPS);
  for (const v of net.vars) v.dispose();
  x.dispose();
  return rates;
}

async function tfConvRates(tf: Tf): Promise<ConvRates> {
  const res: ConvRates = {};
  for (const s of SHAPES) {
    const [n, c, h, w] = s.x;
    const [o, , kh, kw] = s.w;
    const dw = (s.groups ?? 1) > 1;
    const x = tf.randomNormal([n, h, w, c]) as Tensor4D;
    // HWIO for conv2d; [kh, kw, in, multiplier] for depthwise.
    const f = tf.randomNormal(dw ? [kh, kw, c, o / c] : [kh, kw, c, o]) as Tensor4D;
    const st = s.stride ?? 1, p = s.padding ?? 0;
    const op = (a: Tensor4D, b: Tensor4D): Tensor4D => (dw ? tf.depthwiseConv2d(a, b, st, p) : tf.conv2d(a, b, st, p));
    const y = op(x, f);
    const g = tf.grads((a: TfTensor, b: TfTensor) => op(a as Tensor4D, b as Tensor4D));
    const fl = convFlops(s);
    const tfw = await benchSeconds(`tfjs fwd ${s.name}`, () => { const r = op(x, f); r.dataSync(); r.dispose(); });
    // One timed call (seconds each, see TFJS_TRAIN_STEPS); the forward above warmed the JIT.
    const tfb = medianSeconds(() => {
      const r = g([x, f], y);
      r[0].dataSync(); r[1].dataSync();
      tf.dispose(r);
    }, 0, 1);
    res[s.name] = [fl / tfw / 1e9, (3 * fl) / tfb / 1e9];
    tf.dispose([x, f, y]);
  }
  return res;
}

interface TfResult { version?: string; cpu?: Rates; wasm?: Rates; conv?: ConvRates; skipCpu?: string; skipWasm?: string }

async function tfjsRun(): Promise<TfResult> {
  const out: TfResult = {};
  let tf: Tf;
  try {
    tf = (await import('@tensorflow/tfjs')) as Tf;
  } catch (e) {
    const why = `@tensorflow/tfjs not installed (${(e as Error).message.split('\n')[0]}); npm install --save-dev @tensorflow/tfjs`;
    return { skipCpu: why, skipWasm: why };
  }
  out.version = tf.version.tfjs;
  await tf.setBackend('cpu');
  await tf.ready();
  if (ONLY !== 'conv') out.cpu = tfModelRates(tf, true);
  if (ONLY !== 'models') out.conv = await tfConvRates(tf);
  if (ONLY === 'conv') return out;
  try {
    const require = createRequire(import.meta.url);
    const wasmMain = require.resolve('@tensorflow/tfjs-backend-wasm');
    const wasm = (await import('@tensorflow/tfjs-backend-wasm')) as { setWasmPaths: (p: string) => void };
    wasm.setWasmPaths(dirname(wasmMain) + '/'); // the .wasm files beside the package's main, no network
    if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") returned false');
    await tf.ready();
    out.wasm = tfModelRates(tf, false);
    await tf.setBackend('cpu');
  } catch (e) {
    out.skipWasm = `@tensorflow/tfjs-backend-wasm unavailable: ${(e as Error).message.split('\n')[0]}`;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// PyTorch, through /usr/bin/python3 bench/peers_torch.py

function torchRun(threads: number): { version: string; models: Rates; conv: ConvRates } | string {
  const script = fileURLToPath(new URL('../../bench/peers_torch.py', import.meta.url));
  const args = [script, '--threads', String(threads), '--steps', String(STEPS), '--warmup', '2',
    '--train-batches', ONLY === 'conv' ? '' : TRAIN_BATCHES.join(','), '--infer-batch', ONLY === 'conv' ? '0' : String(INFER_BATCH),
    '--conv', ONLY === 'models' ? '[]' : JSON.stringify(SHAPES)];
  const probe = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) return `PyTorch unavailable: /usr/bin/python3 -c "import torch" failed: ${(probe.stderr || probe.error?.message || '').trim().split('\n').pop()}`;
  const r = spawnSync('/usr/bin/python3', args, { encoding: 'utf8', timeout: 1_200_000 });
  if (r.status !== 0) return `PyTorch run (threads=${threads}) failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`;
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as { version: string; models: Rates; conv: ConvRates };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const load0 = loadavg();
  const t0 = performance.now();
  const skipped: string[] = [];
  const ours = new Map<number, { models: Rates; conv: ConvRates }>();
  for (const t of THREADS) {
    const r = oursRun(t);
    if (typeof r === 'string') skipped.push(r);
    else ours.set(t, r);
  }
  const tfr: TfResult = SKIP.has('tfjs') ? { skipCpu: 'EC2T_PEERS_SKIP=tfjs', skipWasm: 'EC2T_PEERS_SKIP=tfjs' } : await tfjsRun();
  if (tfr.skipCpu) skipped.push(`TF.js cpu skipped: ${tfr.skipCpu}`);
  if (tfr.skipWasm) skipped.push(`TF.js wasm skipped: ${tfr.skipWasm}`);
  const torch = new Map<number, { version: string; models: Rates; conv: ConvRates }>();
  for (const t of THREADS) {
    const r = SKIP.has('torch') ? 'PyTorch skipped: EC2T_PEERS_SKIP=torch' : torchRun(t);
    if (typeof r === 'string') skipped.push(r);
    else torch.set(t, r);
  }
  const load1 = loadavg();
  const f = (v: number | undefined, d = 1): string => (v === undefined ? '–' : v.toFixed(d));
  const x = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined ? '–' : `${(a / b).toFixed(2)}×`);
  const tv = torch.get(1)?.version ?? torch.get(2)?.version ?? '?';

  console.log(`node ${process.version}, ${process.platform}/${process.arch}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}); ` +
    `load average ${load0.map((v) => v.toFixed(2)).join(' ')} → ${load1.map((v) => v.toFixed(2)).join(' ')}; ` +
    `${STEPS} timed steps (median), total ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  for (const s of skipped) console.log(`skipped: ${s}`);
  if (ONLY !== 'conv') {
    console.log('\nResNet-20 (CIFAR, 32×32, option-A shortcut), images/s; train = forward + cross-entropy + backward + SGD momentum 0.9, wd 5e-4\n');
    console.log('| implementation | train b32 | train b128 | infer b128 |');
    console.log('|---|---:|---:|---:|');
    const row = (name: string, r: Rates | undefined): void => console.log(`| ${name} | ${f(r?.train32)} | ${f(r?.train128)} | ${f(r?.infer128)} |`);
    for (const t of THREADS) row(`ec2t, EC2T_THREADS=${t}`, ours.get(t)?.models);
    row(`TF.js ${tfr.version ?? ''} cpu (train: ${TFJS_TRAIN_WARMUP} warm-up, ${TFJS_TRAIN_STEPS} timed)`, tfr.cpu);
    row(`TF.js ${tfr.version ?? ''} wasm (infer only)`, tfr.wasm);
    for (const t of THREADS) row(`PyTorch ${tv} CPU, ${t} thread${t > 1 ? 's' : ''}`, torch.get(t)?.models);

    console.log('\nRatios (targets: ec2t / TF.js-cpu training ≥ 3×; ec2t / PyTorch at equal threads ≥ 0.25×)\n');
    console.log('| ratio | train b32 | train b128 | infer b128 |');
    console.log('|---|---:|---:|---:|');
    const keys = ['train32', 'train128', 'infer128'];
    for (const t of THREADS) {
      const o = ours.get(t)?.models;
      console.log(`| ec2t ${t}T / TF.js cpu | ${keys.map((k) => x(o?.[k], tfr.cpu?.[k])).join(' | ')} |`);
    }
    for (const t of THREADS) {
      const o = ours.get(t)?.models, p = torch.get(t)?.models;
      console.log(`| ec2t ${t}T / PyTorch ${t}T | ${keys.map((k) => x(o?.[k], p?.[k])).join(' | ')} |`);
    }
    {
      const o = ours.get(1)?.models;
      console.log(`| ec2t 1T / TF.js wasm | – | – | ${x(o?.infer128, tfr.wasm?.infer128)} |`);
    }
  }
  if (ONLY !== 'models') {
    console.log('\nconv2d GFLOP/s, forward / forward+backward (fwd+bwd = fwd + input grad + weight grad, counted as 3× forward FLOPs); N=32, 3×3, pad 1\n');
    console.log('| shape | ec2t 1T | ec2t 2T | TF.js cpu | PyTorch 1T | PyTorch 2T |');
    console.log('|---|---:|---:|---:|---:|---:|');
    const c = (r: [number, number] | undefined): string => (r === undefined ? '–' : `${f(r[0], 2)} / ${f(r[1], 2)}`);
    for (const s of SHAPES) {
      console.log(`| ${s.name} | ${c(ours.get(1)?.conv[s.name])} | ${c(ours.get(2)?.conv[s.name])} | ${c(tfr.conv?.[s.name])} | ${c(torch.get(1)?.conv[s.name])} | ${c(torch.get(2)?.conv[s.name])} |`);
    }
  }
}

if (process.argv.includes('--ours-child')) await oursChild();
else await main();
