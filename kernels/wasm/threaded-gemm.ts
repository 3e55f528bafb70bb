/**
 * Multi-core WASM SIMD GEMM on the shared kernel worker pool (kernels/wasm/worker-pool.ts): one shared
 * WebAssembly.Memory, which every pool worker instantiates the GEMM module over. The main thread packs A and B into
 * the shared memory, hands each worker a fixed block of row strips (or column strips when there are
 * fewer row strips than threads), computes block 0 itself, and waits with `Atomics.wait` — so
 * {@link threadedGemm} is synchronous, like the cpu `gemm` it can stand in for.
 *
 * Determinism: the partition is a pure function of (m, n, threads), and each element of C is summed
 * in the same order whichever block it falls in (see kernels/wasm/gemm.ts), so results are
 * bit-identical run to run and to the single-thread {@link wasmGemm}.
 */
import { ValueError } from '../../base/errors.js';
import { setBackendSettings } from '../settings.js';
import type { WasmMemory } from './assembler.js';
import {
  KC, MC_STRIPS, MR, NC_STRIPS, NR, PAGE, type TilesFn,
  copyCIn, copyCOut, gemmLayout, gemmModuleBytes, loadB, packA, requireWasm, runTiles, useFma, wasmGemm,
} from './gemm.js';
import { MAX_POOL_THREADS, type PoolFamily, checkThreadCount, poolDefaultThreads, registerPoolFamily, releasePoolFamily, runJob, shutdownPool, withWorkerRecovery } from './worker-pool.js';

/** Largest shared memory: 2 GiB (32768 pages); bigger problems fall back to the single-thread path. */
const MAX_PAGES = 32768;

// Job parameter words.
const P_A = 0; const P_B = 1; const P_C = 2; const P_MPAD = 3; const P_NPAD = 4; const P_K = 5; const P_ACC = 6; const P_BROW = 7;
const P_MSTRIPS = 8; const P_NSTRIPS = 9; const P_MR = 10; const P_NR = 11; const P_KC = 12; const P_MC = 13; const P_NC = 14;
const N_PARAMS = 15;

/**
 * Block `t` of {@link partition} as [isStart, isEnd, jsStart, jsEnd]. NOTE: self-contained: its
 * source runs in the pool's workers, so each thread finds its own block.
 */
export function partitionBlock(mStrips: number, nStrips: number, threads: number, t: number): [number, number, number, number] {
  const byRows = mStrips >= threads || mStrips >= nStrips;
  const total = byRows ? mStrips : nStrips;
  const s = Math.floor((total * t) / threads);
  const e = Math.floor((total * (t + 1)) / threads);
  return byRows ? [s, e, 0, nStrips] : [0, mStrips, s, e];
}

/** The GEMM job runner (self-contained: the pool's workers evaluate its source). */
function gemmRunner(E: { tiles: TilesFn }, _memory: unknown, P: Int32Array, _op: number, index: number, threads: number): void {
  const [is0, is1, js0, js1] = partitionBlock(P[P_MSTRIPS], P[P_NSTRIPS], threads, index);
  if (is0 < is1 && js0 < js1) {
    runTiles(E.tiles, P[P_A], P[P_B], P[P_C], P[P_MPAD], P[P_NPAD], P[P_K], is0, is1, js0, js1, P[P_ACC] === 1, P[P_BROW] === 1,
      P[P_MR], P[P_NR], P[P_KC], P[P_MC], P[P_NC]);
  }
}

/** The runner's source for the pool: the word indices are inlined as constants. */
function gemmRunnerFactory(): string {
  const words = { P_A, P_B, P_C, P_MPAD, P_NPAD, P_K, P_ACC, P_BROW, P_MSTRIPS, P_NSTRIPS, P_MR, P_NR, P_KC, P_MC, P_NC };
  return `${Object.entries(words).map(([k, v]) => `const ${k} = ${v};`).join('\n')}
${runTiles.toString()}
${partitionBlock.toString()}
${gemmRunner.toString()}
return gemmRunner;`;
}

interface Gemm {
  family: PoolFamily;
  memory: WasmMemory;
  view: Float32Array;
  tiles: TilesFn;
  /** Whether the module was compiled with relaxed-SIMD FMA. */
  fma: boolean;
}

let gemm: Gemm | undefined;

/** Whether the threaded GEMM runs (or, not compiled yet, will run) the FMA kernel. */
export function threadedGemmFma(): boolean {
  return gemm?.fma ?? useFma();
}
/**
 * Thread count used when {@link threadedGemm} is not given one (and the default of the conv and
 * ternary kernels): the `threads` backend setting ({@link setGemmThreads}, `--threads`,
 * `EC2T_THREADS`), else `os.availableParallelism()`.
 */
export function gemmThreads(): number {
  return poolDefaultThreads();
}

/**
 * Sets the default thread count, the API level of the `threads` backend setting (undefined: back
 * to `--threads` / `EC2T_THREADS` / available parallelism).
 * @example setGemmThreads(2)
 */
export function setGemmThreads(threads: number | undefined): void {
  checkThreadCount('setGemmThreads', threads);
  setBackendSettings({ threads });
}

function getGemm(): Gemm {
  // Compiled on first use, and again over the same memory when the `fma` setting changed since.
  if (gemm !== undefined && gemm.fma !== useFma()) {
    releasePoolFamily(gemm.family);
    const wa = requireWasm();
    const fma = useFma();
    const module = new wa.Module(gemmModuleBytes({ shared: true, fma, maximumPages: MAX_PAGES }));
    const tiles = new wa.Instance(module, { env: { memory: gemm.memory } }).exports.tiles as TilesFn;
    gemm = { family: registerPoolFamily('threadedGemm', module, gemm.memory, gemmRunnerFactory()), memory: gemm.memory, view: gemm.view, tiles, fma };
  }
  if (gemm === undefined) {
    const wa = requireWasm();
    const memory = new wa.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
    const fma = useFma();
    const module = new wa.Module(gemmModuleBytes({ shared: true, fma, maximumPages: MAX_PAGES }));
    const tiles = new wa.Instance(module, { env: { memory } }).exports.tiles as TilesFn;
    gemm = { family: registerPoolFamily('threadedGemm', module, memory, gemmRunnerFactory()), memory, view: new Float32Array(memory.buffer), tiles, fma };
  }
  return gemm;
}

/**
 * Fixed partition of an mStrips×nStrips tile grid over `threads` blocks: contiguous row-strip
 * ranges when there are at least as many row strips as threads, else column-strip ranges.
 * Returns [isStart, isEnd, jsStart, jsEnd] per block (possibly empty ranges).
 */
export function partition(mStrips: number, nStrips: number, threads: number): [number, number, number, number][] {
  const out: [number, number, number, number][] = [];
  for (let t = 0; t < threads; t++) out.push(partitionBlock(mStrips, nStrips, threads, t));
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
  const t = Math.min(threads, MAX_POOL_THREADS, Math.max(L.mStrips, L.nStrips));
  if (m <= 0 || n <= 0 || k <= 0 || t <= 1 || L.bytes > MAX_PAGES * PAGE) {
    wasmGemm(transA, transB, m, n, k, a, aOff, lda, b, bOff, ldb, c, cOff, ldc, accumulate);
    return;
  }
  const G = getGemm();
  // Staging is repeated with the job (the job accumulates into the staged C), and c is only
  // written after it: a worker death reruns both.
  const mem = withWorkerRecovery(() => {
    const have = G.memory.buffer.byteLength;
    if (have < L.bytes) G.memory.grow(Math.ceil((L.bytes - have) / PAGE));
    if (G.view.buffer !== G.memory.buffer || G.view.length * 4 !== G.memory.buffer.byteLength) G.view = new Float32Array(G.memory.buffer);
    const mem = G.view;
    packA(transA, m, k, a, aOff, lda, mem, L.aBase / 4, L.mPad, 0, L.mStrips);
    const bRowMajor = loadB(transB, m, n, k, b, bOff, ldb, mem, L.bBase / 4, L.nPad, L.nStrips);
    if (accumulate) copyCIn(m, n, c, cOff, ldc, mem, L.cBase / 4, L.nPad, 0, m);
    const P = new Int32Array(N_PARAMS);
    P[P_A] = L.aBase; P[P_B] = L.bBase; P[P_C] = L.cBase; P[P_MPAD] = L.mPad; P[P_NPAD] = L.nPad; P[P_K] = k;
    P[P_ACC] = accumulate ? 1 : 0; P[P_BROW] = bRowMajor ? 1 : 0; P[P_MSTRIPS] = L.mStrips; P[P_NSTRIPS] = L.nStrips;
    P[P_MR] = MR; P[P_NR] = NR; P[P_KC] = KC; P[P_MC] = MC_STRIPS; P[P_NC] = NC_STRIPS;
    runJob(G.family, 0, P, t, () => gemmRunner({ tiles: G.tiles }, G.memory, P, 0, 0, t));
    return mem;
  });
  copyCOut(m, n, c, cOff, ldc, mem, L.cBase / 4, L.nPad, 0, m);
}

/**
 * Stops the shared kernel worker pool (kernels/wasm/worker-pool.ts; a later threaded call starts a new one).
 * Workers are `unref()`'d, so a process exits without this; tests call it to release threads promptly.
 * @example await shutdownThreads();
 */
export async function shutdownThreads(): Promise<void> {
  await shutdownPool();
}
