/**
 * Multi-core WASM SIMD GEMM: a pool of `worker_threads` over one shared WebAssembly.Memory, each
 * instantiating the same compiled module as the main thread. The main thread packs A and B into
 * the shared memory, hands each worker a fixed block of row strips (or column strips when there are
 * fewer row strips than threads), computes block 0 itself, and waits with `Atomics.wait` — so
 * {@link threadedGemm} is synchronous, like the cpu `gemm` it can stand in for.
 *
 * Determinism: the partition is a pure function of (m, n, threads), and each element of C is summed
 * in the same order whichever block it falls in (see kernels/wasm/gemm.ts), so results are
 * bit-identical run to run and to the single-thread {@link wasmGemm}.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { KernelError, ValueError } from '../../engine/errors.js';
import type { WasmMemory, WasmModule } from './assembler.js';
import {
  KC, MC_STRIPS, MR, NC_STRIPS, NR, PAGE, type TilesFn,
  copyCIn, copyCOut, gemmLayout, gemmModuleBytes, loadB, packA, requireWasm, runTiles, useFma, wasmGemm,
} from './gemm.js';

/** Largest shared memory: 2 GiB (32768 pages); bigger problems fall back to the single-thread path. */
const MAX_PAGES = 32768;

// Control words (Int32Array over a SharedArrayBuffer).
const GEN = 0; // bumped by the main thread for each job; workers wait on it
const DONE = 1; // workers that finished the current job
const STOP = 2; // 1: workers exit
const ERROR = 3; // 1: a worker threw; message in the worker's 'message' event
const P_A = 4; const P_B = 5; const P_C = 6; const P_MPAD = 7; const P_NPAD = 8; const P_K = 9; const P_ACC = 10; const P_BROW = 11;
const RANGES = 16; // 4 words per worker: isStart, isEnd, jsStart, jsEnd

/** Body of each worker (CommonJS, evaluated): instantiate, then serve jobs until STOP. */
function workerSource(): string {
  return `
const { workerData, parentPort } = require('node:worker_threads');
${runTiles.toString()}
const { module, memory, control, index, MR, NR, KC, MC, NC } = workerData;
const ctl = new Int32Array(control);
let tiles = null;
let startupError = '';
try {
  tiles = new WebAssembly.Instance(module, { env: { memory } }).exports.tiles;
} catch (e) {
  startupError = String(e && e.stack || e);
}
let seen = 0;
for (;;) {
  Atomics.wait(ctl, ${GEN}, seen);
  seen = Atomics.load(ctl, ${GEN});
  if (Atomics.load(ctl, ${STOP}) === 1) break;
  const r = ${RANGES} + 4 * index;
  try {
    if (tiles === null) throw new Error('worker ' + index + ' could not instantiate the module: ' + startupError);
    if (ctl[r] < ctl[r + 1] && ctl[r + 2] < ctl[r + 3]) {
      runTiles(tiles, ctl[${P_A}], ctl[${P_B}], ctl[${P_C}], ctl[${P_MPAD}], ctl[${P_NPAD}], ctl[${P_K}],
        ctl[r], ctl[r + 1], ctl[r + 2], ctl[r + 3], ctl[${P_ACC}] === 1, ctl[${P_BROW}] === 1, MR, NR, KC, MC, NC);
    }
  } catch (e) {
    Atomics.store(ctl, ${ERROR}, 1);
    parentPort.postMessage(String(e && e.stack || e));
  }
  Atomics.add(ctl, ${DONE}, 1);
  Atomics.notify(ctl, ${DONE});
}
`;
}

interface Pool {
  module: WasmModule;
  memory: WasmMemory;
  view: Float32Array;
  tiles: TilesFn;
  control: Int32Array;
  workers: Worker[];
  errors: string[];
}

let pool: Pool | undefined;
let defaultThreads: number | undefined;

/**
 * Thread count used when {@link threadedGemm} is not given one: `EC2T_THREADS` if set, else
 * `os.availableParallelism()`.
 */
export function gemmThreads(): number {
  if (defaultThreads !== undefined) return defaultThreads;
  const env = process.env.EC2T_THREADS;
  if (env !== undefined && env !== '') {
    const t = Number(env);
    if (!Number.isInteger(t) || t < 1) throw new ValueError('threadedGemm', `EC2T_THREADS must be a positive integer, got '${env}'`);
    return t;
  }
  return Math.max(1, availableParallelism());
}

/** Sets the default thread count (undefined: back to `EC2T_THREADS` / available parallelism). */
export function setGemmThreads(threads: number | undefined): void {
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1)) {
    throw new ValueError('setGemmThreads', `expected a positive integer thread count, got ${threads}`);
  }
  defaultThreads = threads;
}

const MAX_WORKERS = 63; // RANGES + 4·64 words fit the control block below
const CONTROL_WORDS = RANGES + 4 * (MAX_WORKERS + 1);

function getPool(workersNeeded: number): Pool {
  if (pool === undefined) {
    const wa = requireWasm();
    const memory = new wa.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
    const module = new wa.Module(gemmModuleBytes({ shared: true, fma: useFma(), maximumPages: MAX_PAGES }));
    const tiles = new wa.Instance(module, { env: { memory } }).exports.tiles as TilesFn;
    const control = new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4));
    pool = { module, memory, view: new Float32Array(memory.buffer), tiles, control, workers: [], errors: [] };
  }
  const p = pool;
  while (p.workers.length < workersNeeded) {
    const index = p.workers.length + 1; // block 0 is the main thread's
    const w = new Worker(workerSource(), {
      eval: true,
      workerData: { module: p.module, memory: p.memory, control: p.control.buffer, index, MR, NR, KC, MC: MC_STRIPS, NC: NC_STRIPS },
    });
    w.on('message', (msg: unknown) => p.errors.push(String(msg)));
    w.on('error', (e: Error) => { p.errors.push(String(e.stack ?? e)); Atomics.store(p.control, ERROR, 1); });
    // Idle workers must not keep the process alive.
    w.unref();
    p.workers.push(w);
  }
  return p;
}

/**
 * Fixed partition of an mStrips×nStrips tile grid over `threads` blocks: contiguous row-strip
 * ranges when there are at least as many row strips as threads, else column-strip ranges.
 * Returns [isStart, isEnd, jsStart, jsEnd] per block (possibly empty ranges).
 */
export function partition(mStrips: number, nStrips: number, threads: number): [number, number, number, number][] {
  const out: [number, number, number, number][] = [];
  const byRows = mStrips >= threads || mStrips >= nStrips;
  const total = byRows ? mStrips : nStrips;
  for (let t = 0; t < threads; t++) {
    const s = Math.floor((total * t) / threads);
    const e = Math.floor((total * (t + 1)) / threads);
    out.push(byRows ? [s, e, 0, nStrips] : [0, mStrips, s, e]);
  }
  return out;
}

/**
 * C[m×n] (+)= op(A)[m×k]·op(B)[k×n] on `threads` cores (default {@link gemmThreads}); same
 * contract as the cpu `gemm`, synchronous (the main thread computes one block and waits for the
 * workers with `Atomics.wait`). Bit-identical to {@link wasmGemm} for any thread count.
 * @example threadedGemm(false, false, 512, 512, 512, a, 0, 512, b, 0, 512, c, 0, 512, false, 2)
 */
export function threadedGemm(
  transA: boolean, transB: boolean, m: number, n: number, k: number,
  a: Float32Array, aOff: number, lda: number,
  b: Float32Array, bOff: number, ldb: number,
  c: Float32Array, cOff: number, ldc: number,
  accumulate: boolean,
  threads: number = gemmThreads(),
): void {
  if (!Number.isInteger(threads) || threads < 1) throw new ValueError('threadedGemm', `expected a positive integer thread count, got ${threads}`);
  const L = gemmLayout(Math.max(m, 0), Math.max(n, 0), Math.max(k, 0));
  const t = Math.min(threads, MAX_WORKERS + 1, Math.max(L.mStrips, L.nStrips));
  if (m <= 0 || n <= 0 || k <= 0 || t <= 1 || L.bytes > MAX_PAGES * PAGE) {
    wasmGemm(transA, transB, m, n, k, a, aOff, lda, b, bOff, ldb, c, cOff, ldc, accumulate);
    return;
  }
  const p = getPool(t - 1);
  const have = p.memory.buffer.byteLength;
  if (have < L.bytes) p.memory.grow(Math.ceil((L.bytes - have) / PAGE));
  if (p.view.buffer !== p.memory.buffer || p.view.length * 4 !== p.memory.buffer.byteLength) p.view = new Float32Array(p.memory.buffer);
  const mem = p.view;
  packA(transA, m, k, a, aOff, lda, mem, L.aBase / 4, L.mPad, 0, L.mStrips);
  const bRowMajor = loadB(transB, m, n, k, b, bOff, ldb, mem, L.bBase / 4, L.nPad, L.nStrips);
  if (accumulate) copyCIn(m, n, c, cOff, ldc, mem, L.cBase / 4, L.nPad, 0, m);

  const ctl = p.control;
  const parts = partition(L.mStrips, L.nStrips, t);
  ctl[P_A] = L.aBase; ctl[P_B] = L.bBase; ctl[P_C] = L.cBase;
  ctl[P_MPAD] = L.mPad; ctl[P_NPAD] = L.nPad; ctl[P_K] = k; ctl[P_ACC] = accumulate ? 1 : 0; ctl[P_BROW] = bRowMajor ? 1 : 0;
  // Workers beyond t-1 get empty ranges (they still count DONE).
  for (let w = 0; w <= p.workers.length; w++) {
    const r = w < t ? parts[w] : [0, 0, 0, 0];
    for (let q = 0; q < 4; q++) ctl[RANGES + 4 * w + q] = r[q];
  }
  Atomics.store(ctl, DONE, 0);
  Atomics.store(ctl, ERROR, 0);
  Atomics.add(ctl, GEN, 1);
  Atomics.notify(ctl, GEN);
  const [is0, is1, js0, js1] = parts[0];
  if (is0 < is1 && js0 < js1) {
    runTiles(p.tiles, L.aBase, L.bBase, L.cBase, L.mPad, L.nPad, k, is0, is1, js0, js1, accumulate, bRowMajor, MR, NR, KC, MC_STRIPS, NC_STRIPS);
  }
  const nw = p.workers.length;
  for (;;) {
    const done = Atomics.load(ctl, DONE);
    if (done >= nw) break;
    // The timeout bounds the wait if a worker died without counting itself done.
    if (Atomics.wait(ctl, DONE, done, 10_000) === 'timed-out' && Atomics.load(ctl, ERROR) === 1) break;
  }
  if (Atomics.load(ctl, ERROR) === 1) {
    const msg = p.errors.join('\n');
    void shutdownThreads();
    throw new KernelError(`threadedGemm: a worker failed: ${msg || 'unknown error'}`);
  }
  copyCOut(m, n, c, cOff, ldc, mem, L.cBase / 4, L.nPad, 0, m);
}

/**
 * Stops and discards the worker pool (a later {@link threadedGemm} starts a new one). Workers are
 * `unref()`'d, so a process exits without this; tests call it to release threads promptly.
 * @example await shutdownThreads();
 */
export async function shutdownThreads(): Promise<void> {
  const p = pool;
  pool = undefined;
  if (p === undefined) return;
  Atomics.store(p.control, STOP, 1);
  Atomics.add(p.control, GEN, 1);
  Atomics.notify(p.control, GEN);
  await Promise.all(p.workers.map((w) => w.terminate()));
}
