/**
 * SGEMM in WebAssembly SIMD generated at run time by {@link ModuleBuilder}: the same contract as
 * `kernels/cpu/gemm.ts` (docs/ENGINE-API.md, "CPU GEMM contract").
 *
 * Goto/BLIS structure: op(A) and op(B) are packed in JS into WASM memory (MR-tall strips of A and
 * NR-wide strips of B, per KC-deep block), C is copied into a padded MR×NR-aligned scratch, and one
 * generated function runs an MR×NR register-blocked micro-kernel (MR·NR/4 f32x4 accumulators kept in
 * locals, A broadcast with `v128.load32_splat`) over every tile of a block, so JS crosses into WASM a
 * few times per block rather than per tile. Padding removes all edge cases from the generated code.
 *
 * Determinism: every element of C is computed the same way whatever tile or thread it lands in:
 * for each KC block in order, a fresh accumulator sums p = 0..kc-1 in order, then C += accumulator
 * (C = accumulator for the first block when overwriting). So a partition of the rows/columns over
 * threads (kernels/wasm/threaded-gemm.ts) gives results bit-identical to one thread.
 */
import { KernelError } from '../../base/errors.js';
import { backendSettings } from '../settings.js';
import { I32, ModuleBuilder, V128, type WasmApi, type WasmMemory, relaxedSimdSupported, simdSupported, webAssembly } from './assembler.js';

/** Rows of a register tile. */
export const MR = 4;
/** f32x4 vectors per tile row; NR = 4·NV columns. */
export const NV = 2;
/** Columns of a register tile. */
export const NR = 4 * NV;
/** Depth of a packed block: an A strip (MR·KC floats) and a B strip (NR·KC) stay in L1. */
export const KC = 256;
/** Row strips per call of the tile loop: MC_STRIPS·MR·KC floats of packed A (≈128 KiB) stay in L2. */
export const MC_STRIPS = 32;
/** Column strips per call: the packed B block (NC_STRIPS·NR·KC floats, ≈512 KiB) stays in L2/L3. */
export const NC_STRIPS = 64;

/**
 * Up to this many rows of C, a non-transposed B is copied row-major rather than packed.
 * NOTE: packing costs about as much per B element as 2·m flops of micro-kernel, so for small m
 * (conv forward: m = out channels) the plain row copy wins (16×1024×144: 23 vs 10 GFLOP/s); for
 * large m the packed strips' locality wins (1024³: 36 vs 25). Measured crossover near m = 64–128.
 * The `packB` backend setting (`EC2T_WASM_PACK_B=1`: always pack, `=0`: always copy) overrides it, for measurement.
 */
export const ROW_MAJOR_B_MAX_M = 64;

function rowMajorBMaxM(): number {
  const mode = backendSettings().packB;
  return mode === 'pack' ? 0 : mode === 'copy' ? Infinity : ROW_MAJOR_B_MAX_M;
}

/** Bytes per WebAssembly page. */
export const PAGE = 65536;

/** Options of the generated module. */
export interface GemmModuleOptions {
  /** Import a shared memory (for worker threads); then `maximumPages` bounds it. */
  readonly shared: boolean;
  /** Use relaxed-SIMD `f32x4.relaxed_madd` (fused multiply-add where the hardware has it). */
  readonly fma: boolean;
  readonly maximumPages?: number;
  /** Adds further functions to the same module (over the same memory), e.g. the conv data movers of kernels/wasm/conv.ts. */
  readonly extra?: (mod: ModuleBuilder) => void;
}

/**
 * Generates the module bytes. Export
 * `tiles(aPtr, bPtr, cPtr, kc, ldcBytes, mStrips, nStrips, add, bStripBytes, bRowBytes)`:
 * for every (row strip i < mStrips, column strip j < nStrips), C tile (i, j) at
 * `cPtr + i·MR·ldcBytes + j·NR·4` becomes (add ? C : 0) + Σ_p A[i][p]·B[j][p] with the packed A strip
 * i at `aPtr + i·MR·kc·4` ([kc][MR] floats) and B strip j's row p (NR floats) at
 * `bPtr + j·bStripBytes + p·bRowBytes` (packed strips: NR·kc·4 and NR·4; row-major: NR·4 and ldb·4).
 * Requires kc ≥ 1, mStrips ≥ 1, nStrips ≥ 1.
 */
export function gemmModuleBytes(opts: GemmModuleOptions): Uint8Array {
  const mod = new ModuleBuilder({
    initialPages: 1,
    maximumPages: opts.shared ? (opts.maximumPages ?? 32768) : opts.maximumPages,
    shared: opts.shared,
  });
  const f = mod.func('tiles', [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32], []);
  const [aPtr, bPtr, cPtr, kc, ldcBytes, mStrips, nStrips, add, bStride, bRowStride] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const i = f.local(I32);
  const j = f.local(I32);
  const aP = f.local(I32);
  const bP = f.local(I32);
  const aEnd = f.local(I32);
  const aStrip = f.local(I32); // start of the current A strip
  const bStrip = f.local(I32);
  const cTile = f.local(I32);
  const cRow = f.local(I32);
  const aStride = f.local(I32); // MR·kc·4 bytes
  const acc: number[] = [];
  for (let r = 0; r < MR * NV; r++) acc.push(f.local(V128));
  const bv: number[] = [];
  for (let v = 0; v < NV; v++) bv.push(f.local(V128));
  const av = f.local(V128);

  f.get(kc).i32Const(MR * 4).i32Mul().set(aStride);
  f.get(bPtr).set(bStrip);
  f.i32Const(0).set(j);
  f.loop(); // J: column strips
  {
    f.get(aPtr).set(aStrip);
    f.i32Const(0).set(i);
    f.loop(); // I: row strips
    {
      for (const r of acc) f.f32x4Const(0).set(r);
      f.get(aStrip).tee(aP).get(aStride).i32Add().set(aEnd);
      f.get(bStrip).set(bP);
      f.loop(); // P: depth
      {
        for (let v = 0; v < NV; v++) f.get(bP).v128Load(16 * v).set(bv[v]);
        for (let r = 0; r < MR; r++) {
          f.get(aP).v128Load32Splat(4 * r).set(av);
          for (let v = 0; v < NV; v++) {
            const x = acc[r * NV + v];
            if (opts.fma) f.get(av).get(bv[v]).get(x).f32x4RelaxedMadd().set(x);
            else f.get(x).get(av).get(bv[v]).f32x4Mul().f32x4Add().set(x);
          }
        }
        f.get(aP).i32Const(MR * 4).i32Add().tee(aP);
        f.get(bP).get(bRowStride).i32Add().set(bP);
        f.get(aEnd).i32LtU().brIf(0);
      }
      f.end();
      // cTile = cPtr + i·MR·ldcBytes + j·NR·4
      f.get(cPtr).get(i).get(ldcBytes).i32Mul().i32Const(MR).i32Mul().i32Add()
        .get(j).i32Const(NR * 4).i32Mul().i32Add().set(cTile);
      const storeTile = (accumulate: boolean): void => {
        f.get(cTile).set(cRow);
        for (let r = 0; r < MR; r++) {
          for (let v = 0; v < NV; v++) {
            f.get(cRow);
            if (accumulate) f.get(cRow).v128Load(16 * v).get(acc[r * NV + v]).f32x4Add();
            else f.get(acc[r * NV + v]);
            f.v128Store(16 * v);
          }
          if (r < MR - 1) f.get(cRow).get(ldcBytes).i32Add().set(cRow);
        }
      };
      f.get(add).if();
      storeTile(true);
      f.else();
      storeTile(false);
      f.end();
      f.get(aStrip).get(aStride).i32Add().set(aStrip);
      f.get(i).i32Const(1).i32Add().tee(i).get(mStrips).i32LtU().brIf(0);
    }
    f.end();
    f.get(bStrip).get(bStride).i32Add().set(bStrip);
    f.get(j).i32Const(1).i32Add().tee(j).get(nStrips).i32LtU().brIf(0);
  }
  f.end();
  opts.extra?.(mod);
  return mod.bytes();
}

/** The generated `tiles` export. */
export type TilesFn = (aPtr: number, bPtr: number, cPtr: number, kc: number, ldcBytes: number, mStrips: number, nStrips: number, add: number, bStripBytes: number, bRowBytes: number) => void;

/** Where one GEMM's operands live in WASM memory (byte offsets) and its padded sizes. */
export interface GemmLayout {
  readonly mStrips: number;
  readonly nStrips: number;
  /** Padded rows (mStrips·MR) and columns (nStrips·NR); C's scratch has leading dimension nPad. */
  readonly mPad: number;
  readonly nPad: number;
  readonly aBase: number;
  readonly bBase: number;
  readonly cBase: number;
  /** Total bytes needed from offset 0. */
  readonly bytes: number;
}

/** Layout for an m×n×k GEMM: packed A, then packed B, then padded C, from byte 0. */
export function gemmLayout(m: number, n: number, k: number): GemmLayout {
  const mStrips = Math.ceil(m / MR);
  const nStrips = Math.ceil(n / NR);
  const mPad = mStrips * MR;
  const nPad = nStrips * NR;
  const aBase = 0;
  const bBase = aBase + mPad * k * 4;
  const cBase = bBase + nPad * k * 4;
  return { mStrips, nStrips, mPad, nPad, aBase, bBase, cBase, bytes: cBase + mPad * nPad * 4 };
}

/**
 * Runs the tile loops for row strips [isStart, isEnd) × column strips [jsStart, jsEnd) over all KC
 * blocks, in a fixed order. NOTE: self-contained (no closure over module scope) because
 * kernels/wasm/threaded-gemm.ts ships its source text to the workers.
 */
export function runTiles(
  tiles: TilesFn, aBase: number, bBase: number, cBase: number, mPad: number, nPad: number, k: number,
  isStart: number, isEnd: number, jsStart: number, jsEnd: number, accumulate: boolean, bRowMajor: boolean,
  mr: number, nr: number, kcMax: number, mcStrips: number, ncStrips: number,
): void {
  for (let pc = 0; pc < k; pc += kcMax) {
    const kc = Math.min(kcMax, k - pc);
    const add = accumulate || pc > 0 ? 1 : 0;
    const aBlock = aBase + mPad * pc * 4;
    const bBlock = bBase + nPad * pc * 4;
    const bStrip = bRowMajor ? nr * 4 : nr * kc * 4;
    const bRow = bRowMajor ? nPad * 4 : nr * 4;
    for (let js = jsStart; js < jsEnd; js += ncStrips) {
      const ns = Math.min(ncStrips, jsEnd - js);
      for (let is = isStart; is < isEnd; is += mcStrips) {
        const ms = Math.min(mcStrips, isEnd - is);
        tiles(aBlock + is * mr * kc * 4, bBlock + js * bStrip, cBase + (is * mr * nPad + js * nr) * 4, kc, nPad * 4, ms, ns, add, bStrip, bRow);
      }
    }
  }
}

/**
 * Packs op(A) (m×k) into `mem` (a Float32Array over WASM memory) at float index `base`: per KC block,
 * MR-tall strips laid out [p][MR], rows past m zero. Strips [isStart, isEnd) only.
 */
export function packA(
  transA: boolean, m: number, k: number, a: Float32Array, aOff: number, lda: number,
  mem: Float32Array, base: number, mPad: number, isStart: number, isEnd: number,
): void {
  for (let pc = 0; pc < k; pc += KC) {
    const kc = Math.min(KC, k - pc);
    for (let is = isStart; is < isEnd; is++) {
      const i0 = is * MR;
      const h = Math.min(MR, m - i0);
      const o = base + mPad * pc + is * MR * kc;
      if (transA) {
        // op(A)(i, p) = A[p, i]: the strip's MR values per p are contiguous in A's row p.
        let src = aOff + pc * lda + i0;
        if (h === MR) {
          for (let p = 0, d = o; p < kc; p++, src += lda, d += MR) {
            for (let ii = 0; ii < MR; ii++) mem[d + ii] = a[src + ii];
          }
        } else {
          for (let p = 0, d = o; p < kc; p++, src += lda, d += MR) {
            for (let ii = 0; ii < MR; ii++) mem[d + ii] = ii < h ? a[src + ii] : 0;
          }
        }
      } else {
        for (let ii = 0; ii < MR; ii++) {
          if (ii < h) {
            let src = aOff + (i0 + ii) * lda + pc;
            for (let p = 0, d = o + ii; p < kc; p++, d += MR) mem[d] = a[src++];
          } else {
            for (let p = 0, d = o + ii; p < kc; p++, d += MR) mem[d] = 0;
          }
        }
      }
    }
  }
}

/** Packs op(B) (k×n) at float index `base`: per KC block, NR-wide strips [p][NR], columns past n zero. */
export function packB(
  transB: boolean, n: number, k: number, b: Float32Array, bOff: number, ldb: number,
  mem: Float32Array, base: number, nPad: number, jsStart: number, jsEnd: number,
): void {
  for (let pc = 0; pc < k; pc += KC) {
    const kc = Math.min(KC, k - pc);
    for (let js = jsStart; js < jsEnd; js++) {
      const j0 = js * NR;
      const w = Math.min(NR, n - j0);
      const o = base + nPad * pc + js * NR * kc;
      if (!transB) {
        let src = bOff + pc * ldb + j0;
        if (w === NR) {
          for (let p = 0, d = o; p < kc; p++, src += ldb, d += NR) {
            for (let jj = 0; jj < NR; jj++) mem[d + jj] = b[src + jj];
          }
        } else {
          for (let p = 0, d = o; p < kc; p++, src += ldb, d += NR) {
            for (let jj = 0; jj < NR; jj++) mem[d + jj] = jj < w ? b[src + jj] : 0;
          }
        }
      } else {
        // op(B)(p, j) = B[j, p]: each of the strip's columns is a contiguous run of B's row j.
        for (let jj = 0; jj < NR; jj++) {
          if (jj < w) {
            let src = bOff + (j0 + jj) * ldb + pc;
            for (let p = 0, d = o + jj; p < kc; p++, d += NR) mem[d] = b[src++];
          } else {
            for (let p = 0, d = o + jj; p < kc; p++, d += NR) mem[d] = 0;
          }
        }
      }
    }
  }
}

/**
 * Copies B (k×n, not transposed) row by row into a k×nPad row-major block at float index `base`,
 * zeroing columns past n. Cheaper than packing (one typed-array copy per row), and the tile loop
 * reads it with a row stride of nPad·4 bytes.
 */
export function copyBRowMajor(n: number, k: number, b: Float32Array, bOff: number, ldb: number, mem: Float32Array, base: number, nPad: number): void {
  for (let p = 0; p < k; p++) {
    const d = base + p * nPad;
    mem.set(b.subarray(bOff + p * ldb, bOff + p * ldb + n), d);
    if (nPad > n) mem.fill(0, d + n, d + nPad);
  }
}

/** Loads B into WASM memory, packed or row-major; returns whether it is row-major (for {@link runTiles}). */
export function loadB(transB: boolean, m: number, n: number, k: number, b: Float32Array, bOff: number, ldb: number, mem: Float32Array, base: number, nPad: number, nStrips: number): boolean {
  if (!transB && m <= rowMajorBMaxM()) {
    copyBRowMajor(n, k, b, bOff, ldb, mem, base, nPad);
    return true;
  }
  packB(transB, n, k, b, bOff, ldb, mem, base, nPad, 0, nStrips);
  return false;
}

/** Copies C's m×n window into the padded scratch (rows [i0, i1)), for accumulate. */
export function copyCIn(m: number, n: number, c: Float32Array, cOff: number, ldc: number, mem: Float32Array, base: number, nPad: number, i0: number, i1: number): void {
  for (let i = i0; i < Math.min(i1, m); i++) mem.set(c.subarray(cOff + i * ldc, cOff + i * ldc + n), base + i * nPad);
}

/** Copies the scratch's m×n window back into C (rows [i0, i1)). */
export function copyCOut(m: number, n: number, c: Float32Array, cOff: number, ldc: number, mem: Float32Array, base: number, nPad: number, i0: number, i1: number): void {
  for (let i = i0; i < Math.min(i1, m); i++) c.set(mem.subarray(base + i * nPad, base + i * nPad + n), cOff + i * ldc);
}

/** Should the generated kernels use relaxed-SIMD FMA? Where the runtime validates it, unless the `fma` backend setting is off (`EC2T_WASM_FMA=0`). */
export function useFma(): boolean {
  return backendSettings().fma && relaxedSimdSupported();
}

/**
 * Whether the single-thread WASM GEMM runs (or, not compiled yet, will run) the FMA kernel: the
 * module is compiled once, with {@link useFma} as it was then.
 */
export function wasmGemmFma(): boolean {
  return single?.fma ?? useFma();
}

/**
 * The kernel trace's name of a generated-SIMD implementation: `wasm-simd`, or `wasm-simd fma` when
 * its module uses relaxed-SIMD fused multiply-add.
 * @example traceImplementation('gemm', `${wasmSimdLabel(wasmGemmFma())}, 1 thread`)
 */
export function wasmSimdLabel(fma: boolean): string {
  return fma ? 'wasm-simd fma' : 'wasm-simd';
}

/**
 * Can this runtime run the WASM SIMD GEMM? A runtime without WebAssembly or without SIMD reports why,
 * so callers fall back to the TypeScript GEMM.
 * @example if (wasmSimdAvailable().available) wasmGemm(...);
 */
export function wasmSimdAvailable(): { available: boolean; reason?: string } {
  if (webAssembly === undefined) return { available: false, reason: 'no WebAssembly in this runtime' };
  if (!simdSupported()) return { available: false, reason: 'WebAssembly SIMD (f32x4) does not validate in this runtime' };
  return { available: true };
}

/** The WebAssembly API, or a typed error naming why the SIMD GEMM cannot run here. */
export function requireWasm(): WasmApi {
  const av = wasmSimdAvailable();
  if (!av.available || webAssembly === undefined) throw new KernelError(`wasm gemm: ${av.reason ?? 'unavailable'}; use the cpu gemm instead`);
  return webAssembly;
}

/** Lazily built single-thread instance over its own (non-shared) memory. */
let single: { tiles: TilesFn; memory: WasmMemory; view: Float32Array; fma: boolean } | undefined;

function instance(bytes: number): { tiles: TilesFn; memory: WasmMemory; view: Float32Array } {
  // Compiled on first use, and again (fresh memory: nothing lives in it between calls) when the
  // `fma` setting changed since.
  if (single !== undefined && single.fma !== useFma()) single = undefined;
  if (single === undefined) {
    const wa = requireWasm();
    const memory = new wa.Memory({ initial: 1 });
    const fma = useFma();
    const module = new wa.Module(gemmModuleBytes({ shared: false, fma }));
    const inst = new wa.Instance(module, { env: { memory } });
    single = { tiles: inst.exports.tiles as TilesFn, memory, view: new Float32Array(memory.buffer), fma };
  }
  const have = single.memory.buffer.byteLength;
  if (have < bytes) {
    single.memory.grow(Math.ceil((bytes - have) / PAGE));
    single.view = new Float32Array(single.memory.buffer);
  }
  return single;
}

/**
 * The GEMM contract's empty cases, shared by every GEMM entry point: nothing to do when m or n is 0;
 * with k = 0 the product is zero, so C is zeroed unless accumulating. Returns whether it handled the call.
 * @example if (gemmEmpty(m, n, k, c, cOff, ldc, accumulate)) return;
 */
export function gemmEmpty(m: number, n: number, k: number, c: Float32Array, cOff: number, ldc: number, accumulate: boolean): boolean {
  if (m <= 0 || n <= 0) return true;
  if (k > 0) return false;
  if (!accumulate) for (let i = 0; i < m; i++) c.fill(0, cOff + i * ldc, cOff + i * ldc + n);
  return true;
}

/**
 * C[m×n] (+)= op(A)[m×k]·op(B)[k×n] in WebAssembly SIMD, single thread; same contract as the cpu
 * `gemm` (`transA`: A stored k×m; `transB`: B stored n×k; `accumulate=false` overwrites C).
 * Throws if {@link wasmSimdAvailable} says no.
 * @example wasmGemm(false, false, 2, 2, 3, a, 0, 3, b, 0, 2, c, 0, 2, false)
 */
export function wasmGemm(
  transA: boolean, transB: boolean, m: number, n: number, k: number,
  a: Float32Array, aOff: number, lda: number,
  b: Float32Array, bOff: number, ldb: number,
  c: Float32Array, cOff: number, ldc: number,
  accumulate: boolean,
): void {
  if (gemmEmpty(m, n, k, c, cOff, ldc, accumulate)) return;
  const L = gemmLayout(m, n, k);
  const inst = instance(L.bytes);
  const mem = inst.view;
  packA(transA, m, k, a, aOff, lda, mem, L.aBase / 4, L.mPad, 0, L.mStrips);
  const bRowMajor = loadB(transB, m, n, k, b, bOff, ldb, mem, L.bBase / 4, L.nPad, L.nStrips);
  if (accumulate) copyCIn(m, n, c, cOff, ldc, mem, L.cBase / 4, L.nPad, 0, m);
  runTiles(inst.tiles, L.aBase, L.bBase, L.cBase, L.mPad, L.nPad, k, 0, L.mStrips, 0, L.nStrips, accumulate, bRowMajor, MR, NR, KC, MC_STRIPS, NC_STRIPS);
  copyCOut(m, n, c, cOff, ldc, mem, L.cBase / 4, L.nPad, 0, m);
}
