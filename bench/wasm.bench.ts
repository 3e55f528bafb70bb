/**
 * WebAssembly SIMD GEMM benchmark: GFLOP/s of the TypeScript cpu `gemm`, `wasmGemm` (1 thread) and
 * `threadedGemm` (2 threads) at 512³ and 1024³, and a 3×3 conv (N=32 16→16 32×32 pad 1) as im2col
 * + GEMM, all in one run; ratios against the TS gemm. Peers in the same run when present:
 * TF.js with the WASM backend (XNNPACK; install temporarily with
 * `npm install --no-save @tensorflow/tfjs-core @tensorflow/tfjs-backend-wasm`) and PyTorch CPU
 * (`/usr/bin/python3 -c "import torch"`) at 1 and 2 threads. Prints a markdown table.
 *
 *   npx tsc -p . && node dist/bench/wasm.bench.js
 *   (relaxed-SIMD FMA on Node 20: node --experimental-wasm-relaxed-simd dist/bench/wasm.bench.js)
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import '../kernels/index.js';
import { Rng } from '../base/rng.js';
import { gemm } from '../kernels/cpu/gemm.js';
import { kernelFor } from '../kernels/registry.js';
import { conv2dGeometry } from '../kernels/types.js';
import { relaxedSimdSupported } from '../kernels/wasm/assembler.js';
import { useFma, wasmGemm, wasmSimdAvailable } from '../kernels/wasm/gemm.js';
import { shutdownThreads, threadedGemm } from '../kernels/wasm/threaded-gemm.js';
import { gflops, markdownTable, randomArrays, seconds } from './util.js';

const rng = new Rng(7);
const rand = randomArrays(rng);

type GemmFn = typeof gemm;
const rows: { what: string; shape: string; impl: string; gflops: number; ratio: number }[] = [];

const CONV = { n: 32, c: 16, hw: 32 };
const convFlops = 2 * CONV.n * CONV.c * CONV.hw * CONV.hw * CONV.c * 9;

/** im2col for a 3×3 stride-1 pad-1 conv of one sample: col[(ci·9 + ky·3 + kx) × (H·W)] at column offset `colOff` with leading dim `ldcol`. */
function im2col3x3(x: Float32Array, xOff: number, c: number, h: number, w: number, col: Float32Array, colOff: number, ldcol: number): void {
  for (let ci = 0; ci < c; ci++) {
    for (let ky = 0; ky < 3; ky++) {
      for (let kx = 0; kx < 3; kx++) {
        const row = colOff + (ci * 9 + ky * 3 + kx) * ldcol;
        for (let y = 0; y < h; y++) {
          const iy = y + ky - 1;
          const o = row + y * w;
          if (iy < 0 || iy >= h) {
            col.fill(0, o, o + w);
            continue;
          }
          const src = xOff + (ci * h + iy) * w + kx - 1;
          for (let xx = 0; xx < w; xx++) {
            const ix = xx + kx - 1;
            col[o + xx] = ix >= 0 && ix < w ? x[src + xx] : 0;
          }
        }
      }
    }
  }
}

async function gemmRows(size: number): Promise<void> {
  const a = rand(size * size), b = rand(size * size), c = new Float32Array(size * size);
  const flops = 2 * size ** 3;
  const run = (f: GemmFn) => () => f(false, false, size, size, size, a, 0, size, b, 0, size, c, 0, size, false);
  const ts = gflops(flops, await seconds(`ts ${size}`, run(gemm), { timeMs: 2000, iterations: 3 }));
  const w1 = gflops(flops, await seconds(`wasm ${size}`, run(wasmGemm), { timeMs: 2000, iterations: 5 }));
  const w2 = gflops(flops, await seconds(`wasm2 ${size}`, () => threadedGemm(false, false, size, size, size, a, 0, size, b, 0, size, c, 0, size, false, 2), { timeMs: 2000, iterations: 5 }));
  const shape = `${size}³`;
  rows.push({ what: 'GEMM', shape, impl: 'TS gemm (kernels/cpu)', gflops: ts, ratio: 1 });
  rows.push({ what: 'GEMM', shape, impl: 'wasmGemm, 1 thread', gflops: w1, ratio: w1 / ts });
  rows.push({ what: 'GEMM', shape, impl: 'threadedGemm, 2 threads', gflops: w2, ratio: w2 / ts });
}

async function convRows(): Promise<void> {
  const { n, c, hw } = CONV;
  const hwN = hw * hw;
  const x = rand(n * c * hwN), w = rand(c * c * 9), out = new Float32Array(n * c * hwN);
  const kdim = c * 9;
  const col = new Float32Array(kdim * hwN);
  const perSample = (f: GemmFn) => () => {
    for (let s = 0; s < n; s++) {
      im2col3x3(x, s * c * hwN, c, hw, hw, col, 0, hwN);
      f(false, false, c, hwN, kdim, w, 0, kdim, col, 0, hwN, out, s * c * hwN, hwN, false);
    }
  };
  const ts = gflops(convFlops, await seconds('conv ts', perSample(gemm), { timeMs: 1500, iterations: 5 }));
  const g = conv2dGeometry([n, c, hw, hw], [c, c, 3, 3], { padding: 1 });
  const cpuConv = kernelFor('conv2dForward', 'cpu');
  const cpu = gflops(convFlops, await seconds('conv cpu kernel', () => cpuConv(x, w, null, out, g), { timeMs: 1500, iterations: 5 }));
  const w1 = gflops(convFlops, await seconds('conv wasm', perSample(wasmGemm), { timeMs: 1500, iterations: 5 }));
  // Whole batch as one GEMM: col [kdim × (N·H·W)], out' [c × N·H·W] (then a transpose back to NCHW would follow).
  const colAll = new Float32Array(kdim * n * hwN), outAll = new Float32Array(c * n * hwN);
  const batched = (threads: number) => () => {
    for (let s = 0; s < n; s++) im2col3x3(x, s * c * hwN, c, hw, hw, colAll, s * hwN, n * hwN);
    threadedGemm(false, false, c, n * hwN, kdim, w, 0, kdim, colAll, 0, n * hwN, outAll, 0, n * hwN, false, threads);
  };
  const b1 = gflops(convFlops, await seconds('conv wasm batched', batched(1), { timeMs: 1500, iterations: 5 }));
  const b2 = gflops(convFlops, await seconds('conv wasm batched 2t', batched(2), { timeMs: 1500, iterations: 5 }));
  const shape = `N=${n} ${c}→${c} ${hw}×${hw} 3×3 p1`;
  rows.push({ what: 'conv fwd', shape, impl: 'im2col + TS gemm, per sample', gflops: ts, ratio: 1 });
  rows.push({ what: 'conv fwd', shape, impl: 'cpu conv2dForward kernel (registry)', gflops: cpu, ratio: cpu / ts });
  rows.push({ what: 'conv fwd', shape, impl: 'im2col + wasmGemm, per sample', gflops: w1, ratio: w1 / ts });
  rows.push({ what: 'conv fwd', shape, impl: 'batched im2col + wasm GEMM, 1 thread', gflops: b1, ratio: b1 / ts });
  rows.push({ what: 'conv fwd', shape, impl: 'batched im2col + threadedGemm, 2 threads', gflops: b2, ratio: b2 / ts });
}

/** TF.js WASM backend (XNNPACK), when installed; single-threaded in Node. */
async function tfjsRows(): Promise<string> {
  const require = createRequire(import.meta.url);
  type Tf = {
    setBackend(b: string): Promise<boolean>; ready(): Promise<void>; getBackend(): string;
    tensor(v: Float32Array, s: number[]): { dispose(): void; dataSync(): Float32Array };
    matMul(a: unknown, b: unknown): { dataSync(): Float32Array; dispose(): void };
    conv2d(x: unknown, f: unknown, strides: number, pad: string, fmt: string): { dataSync(): Float32Array; dispose(): void };
  };
  let tf: Tf;
  try {
    tf = require('@tensorflow/tfjs-core') as Tf;
    const wasmBackend = require('@tensorflow/tfjs-backend-wasm') as { setThreadsCount?: (n: number) => void };
    void wasmBackend;
    if (!(await tf.setBackend('wasm'))) return 'TF.js wasm backend did not initialise';
    await tf.ready();
  } catch (e) {
    return `TF.js not installed (${(e as Error).message.split('\n')[0]})`;
  }
  for (const size of [512, 1024]) {
    const a = tf.tensor(rand(size * size), [size, size]), b = tf.tensor(rand(size * size), [size, size]);
    const t = await seconds(`tfjs ${size}`, () => { const r = tf.matMul(a, b); r.dataSync(); r.dispose(); }, { timeMs: 2000, iterations: 5 });
    const ts = rows.find((r) => r.shape === `${size}³` && r.ratio === 1)?.gflops ?? NaN;
    const gf = gflops(2 * size ** 3, t);
    rows.push({ what: 'GEMM', shape: `${size}³`, impl: 'TF.js 4.22 wasm (XNNPACK), 1 thread', gflops: gf, ratio: gf / ts });
    a.dispose(); b.dispose();
  }
  const { n, c, hw } = CONV;
  // TF.js conv2d is NHWC with HWIO filters.
  const x = tf.tensor(rand(n * hw * hw * c), [n, hw, hw, c]), f = tf.tensor(rand(9 * c * c), [3, 3, c, c]);
  const t = await seconds('tfjs conv', () => { const r = tf.conv2d(x, f, 1, 'same', 'NHWC'); r.dataSync(); r.dispose(); }, { timeMs: 1500, iterations: 5 });
  const ts = rows.find((r) => r.what === 'conv fwd' && r.ratio === 1)?.gflops ?? NaN;
  const shape = `N=${n} ${c}→${c} ${hw}×${hw} 3×3 p1`;
  rows.push({ what: 'conv fwd', shape, impl: 'TF.js 4.22 wasm (XNNPACK) conv2d NHWC, 1 thread', gflops: gflops(convFlops, t), ratio: gflops(convFlops, t) / ts });
  return `TF.js backend ${tf.getBackend()}`;
}

/** PyTorch CPU at 1 and 2 threads, same shapes, in a child process (Debian's python3-torch). */
function torchRows(): string {
  const script = `
import time, json, torch
torch.manual_seed(0)
res = {}
def rate(fn, flops, secs=2.0):
    fn(); fn()
    n = 0; t0 = time.perf_counter()
    while time.perf_counter() - t0 < secs:
        fn(); n += 1
    return flops * n / (time.perf_counter() - t0) / 1e9
for th in (1, 2):
    torch.set_num_threads(th)
    for s in (512, 1024):
        a = torch.rand(s, s) - 0.5; b = torch.rand(s, s) - 0.5
        res[f'gemm{s}_{th}'] = rate(lambda: torch.mm(a, b), 2 * s ** 3)
    x = torch.rand(${CONV.n}, ${CONV.c}, ${CONV.hw}, ${CONV.hw}); w = torch.rand(${CONV.c}, ${CONV.c}, 3, 3)
    with torch.no_grad():
        res[f'conv_{th}'] = rate(lambda: torch.nn.functional.conv2d(x, w, padding=1), ${convFlops})
res['version'] = torch.__version__
print(json.dumps(res))
`;
  const r = spawnSync('/usr/bin/python3', ['-c', script], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) return `PyTorch unavailable (${(r.stderr || r.error?.message || '').trim().split('\n').pop()})`;
  const res = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Record<string, number | string>;
  for (const th of [1, 2]) {
    for (const s of [512, 1024]) {
      const ts = rows.find((x) => x.shape === `${s}³` && x.ratio === 1)?.gflops ?? NaN;
      const gf = res[`gemm${s}_${th}`] as number;
      rows.push({ what: 'GEMM', shape: `${s}³`, impl: `PyTorch ${res.version} CPU, ${th} thread${th > 1 ? 's' : ''}`, gflops: gf, ratio: gf / ts });
    }
    const ts = rows.find((x) => x.what === 'conv fwd' && x.ratio === 1)?.gflops ?? NaN;
    const gf = res[`conv_${th}`] as number;
    rows.push({ what: 'conv fwd', shape: `N=${CONV.n} ${CONV.c}→${CONV.c} ${CONV.hw}×${CONV.hw} 3×3 p1`, impl: `PyTorch ${res.version} CPU conv2d, ${th} thread${th > 1 ? 's' : ''}`, gflops: gf, ratio: gf / ts });
  }
  return `PyTorch ${res.version}`;
}

const av = wasmSimdAvailable();
if (!av.available) {
  console.log(`WASM SIMD unavailable: ${av.reason}`);
} else {
  const only = process.argv[2];
  if (only === undefined || only === 'gemm') for (const s of [512, 1024]) await gemmRows(s);
  if (only === undefined || only === 'conv') await convRows();
  const notes = [`relaxed SIMD ${relaxedSimdSupported() ? 'available' : 'unavailable'}; FMA kernel ${useFma() ? 'on' : 'off'}`];
  if (only === undefined || only === 'peers') notes.push(await tfjsRows(), torchRows());
  await shutdownThreads();
  console.log(`node ${process.version}, ${process.platform}/${process.arch}; ${notes.join('; ')}\n`);
  const sorted = rows.sort((p, q) => p.what.localeCompare(q.what) || p.shape.localeCompare(q.shape));
  console.log(markdownTable(
    ['op', 'shape', 'implementation', 'GFLOP/s', '× TS gemm'],
    sorted.map((r) => [r.what, r.shape, r.impl, r.gflops.toFixed(2), `${r.ratio.toFixed(1)}×`]),
    'lllrr',
  ));
}
