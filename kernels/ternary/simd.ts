/**
 * Multi-threaded WebAssembly SIMD path of the ternary conv (any stride), on the shared kernel worker
 * pool (kernels/wasm/worker-pool.ts): one shared `WebAssembly.Memory` that every pool worker instantiates
 * this file's modules over; calls stay synchronous.
 *
 * Layout: x is copied in once and gathered (a wasm job split over the threads) into padded planes.
 * Stride 1 uses the *shared* padding of cpu.ts (one plane per channel, rows followed by ≥ padW zero
 * columns and planes by ≥ padH zero rows, so tap offsets may be negative); stride s uses *phase
 * planes* (plane (c, a, b) holds padded pixels `(a + sH·u, b + sW·v)`, explicit zeros), so a
 * strided conv becomes a stride-1 walk: tap (c, i, j) is a constant offset from an output's grid point.
 *
 * Two kernels over that layout, summing every output in the same order (tap order, one tap at a
 * time from 0), so they give bit-identical results:
 * - generated per layer (layers up to {@link JIT_MAX_NONZEROS} non-zeros, from a layer's third call
 *   per geometry by default, see {@link setTernaryJit}): a module built once per (layer, geometry
 *   without batch) with every tap offset baked in. Per block of output channels and output vector
 *   (4 pixels), each input vector is loaded once and added into the `+`/`−` register accumulators
 *   that use it; `w_p·P − w_n·N + b` goes straight to NCHW. Planes are sample-major
 *   `[N][C·sH·sW][Hq][Wq]`, so the code does not depend on the batch.
 * - generic: a tap table per output channel, planes channel-major `[C·sH·sW][N][Hq][Wq]`; per
 *   (chunk of grid rows, output channel) one call sums the `+` taps, one the `−` taps (8 per
 *   accumulator pass), one writes the rows.
 * Strided layers on generated kernels skip the whole-batch gather: each (sample, row band) unit
 * gathers the rows of the phase planes it reads into its thread's band buffer (cache-resident, see
 * {@link BAND_BUDGET}) right before summing them — the separate pass wrote 2.3 MB of planes that
 * the kernels then re-read, ~40 % of a 16→32 @32×32 /2 call at 90 % sparsity.
 * Work (planes, grid chunks, (sample, row band) units) is handed out from the job's shared counter;
 * every unit is computed by the same instruction sequence whichever thread takes it, so results are
 * bit-identical for any thread count and scheduling.
 */
import { traceImplementation } from '../registry.js';
import { type TernaryJitMode, backendSettings, setBackendSettings } from '../settings.js';
import type { Conv2dGeometry, TernaryLayer } from '../types.js';
import { F32, I32, ModuleBuilder, V128, uleb, webAssembly, type WasmMemory, type WasmModule, forRange } from '../wasm/assembler.js';
import { MAX_POOL_THREADS, type PoolFamily, checkThreadCount, registerPoolFamily, releasePoolFamily, runJob, shutdownPool, withWorkerRecovery } from '../wasm/worker-pool.js';
import { gemmThreads } from '../wasm/threaded-gemm.js';

/** Grid points per chunk (two accumulators of this size stay in L1). */
export const SIMD_CHUNK = 2048;
/** Chunks per call at least (when there are that many grid rows): balances the threads (a pure function of the geometry, so results stay thread-count independent). */
const MIN_CHUNKS = 8;
const MAX_PAGES = 16384; // 1 GiB
const PAGE = 65536;

// ------------------------------------------------------------------ code generation

/** Taps summed per pass over the accumulator (a power of two): more taps, fewer accumulator loads/stores. */
const TAPS_PER_PASS = 8;

/**
 * `taps(acc, base, tab, n, nbytes)`: acc[q] = Σ_{t<n} mem[base + tab[t] + q] (byte offsets), summed
 * from 0 one tap at a time in table order, TAPS_PER_PASS taps per pass over acc; n = 0 zeroes acc.
 * nbytes is a multiple of 16.
 */
function emitTaps(mod: ModuleBuilder): void {
  const f = mod.func('taps', [I32, I32, I32, I32, I32], []);
  const [acc, base, tab, n, nbytes] = [0, 1, 2, 3, 4];
  const i = f.local(I32), t = f.local(I32), r = f.local(I32);
  const a = Array.from({ length: TAPS_PER_PASS }, () => f.local(I32));
  const pass = (k: number, accumulate: boolean): void => {
    for (let q = 0; q < k; q++) f.get(base).get(tab).get(t).i32Const(2).i32Shl().i32Add().i32Load(4 * q).i32Add().set(a[q]);
    f.i32Const(0).set(i);
    forRange(f, i, nbytes, 16, () => {
      // ((((acc or 0) + x_t1) + x_t2) + …): one tap at a time in table order, the order (and
      // rounding) of the generated kernels, so the two give bit-identical results.
      f.get(acc).get(i).i32Add();
      if (accumulate) f.get(acc).get(i).i32Add().v128Load();
      else f.f32x4Const(0);
      for (let q = 0; q < k; q++) f.get(a[q]).get(i).i32Add().v128Load().f32x4Add();
      f.v128Store();
    });
  };
  f.i32Const(0).set(t);
  f.get(n).i32Eqz();
  f.if();
  f.i32Const(0).set(i);
  forRange(f, i, nbytes, 16, () => { f.get(acc).get(i).i32Add().f32x4Const(0).v128Store(); });
  f.return();
  f.end();
  // First pass takes n mod G taps (or G), the rest G at a time.
  f.get(n).i32Const(TAPS_PER_PASS - 1).i32And().set(r);
  f.get(r).i32Eqz();
  f.if(); f.i32Const(TAPS_PER_PASS).set(r); f.end();
  for (let k = 1; k <= TAPS_PER_PASS; k++) {
    f.get(r).i32Const(k).i32Eq();
    f.if(); pass(k, false); f.end();
  }
  f.get(r).set(t);
  forRange(f, t, n, TAPS_PER_PASS, () => pass(TAPS_PER_PASS, true));
}

/**
 * `rows(pos, neg, rowB, nRows, oy, Hq, OH, ow, dst, dstRowB, dstSampleB, wp, wn, b)`: for each grid
 * row with oy < OH, dst row = wp·pos − wn·neg + b over `ow` floats; oy wraps at Hq (next sample).
 */
function emitRows(mod: ModuleBuilder): void {
  const f = mod.func('rows', [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, F32, F32, F32], []);
  const [pos, neg, rowB, nRows, oy, Hq, OH, ow, dst, dstRowB, dstSampleB, wp, wn, b] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13];
  const r = f.local(I32), i = f.local(I32), vecEnd = f.local(I32), end = f.local(I32), d = f.local(I32), src = f.local(I32);
  f.get(ow).i32Const(4).i32Mul().set(end);
  f.get(ow).i32Const(-4).i32And().i32Const(4).i32Mul().set(vecEnd);
  f.i32Const(0).set(r);
  forRange(f, r, nRows, 1, () => {
    f.get(oy).get(OH).i32LtU();
    f.if();
    f.get(dst).get(oy).get(dstRowB).i32Mul().i32Add().set(d);
    f.get(r).get(rowB).i32Mul().set(src);
    f.i32Const(0).set(i);
    const body = (vec: boolean): void => {
      f.get(d).get(i).i32Add();
      if (vec) {
        f.get(wp).f32x4Splat().get(pos).get(src).i32Add().get(i).i32Add().v128Load().f32x4Mul();
        f.get(wn).f32x4Splat().get(neg).get(src).i32Add().get(i).i32Add().v128Load().f32x4Mul().f32x4Sub();
        f.get(b).f32x4Splat().f32x4Add().v128Store();
      } else {
        f.get(wp).get(pos).get(src).i32Add().get(i).i32Add().f32Load().f32Mul();
        f.get(wn).get(neg).get(src).i32Add().get(i).i32Add().f32Load().f32Mul().raw(0x93); // f32.sub
        f.get(b).f32Add().f32Store();
      }
    };
    forRange(f, i, vecEnd, 16, () => body(true));
    forRange(f, i, end, 4, () => body(false));
    f.end();
    f.get(oy).i32Const(1).i32Add().tee(oy).get(Hq).i32Eq();
    f.if(); f.i32Const(0).set(oy); f.get(dst).get(dstSampleB).i32Add().set(dst); f.end();
  });
}

/**
 * `plane(src, dst, H, W, Hq, Wq, ph, pw, count)`: `count` consecutive stride-1 padded planes (sources
 * H·W floats apart, destinations Hq·Wq apart): Hq rows of Wq floats, the source rows (W floats each,
 * contiguous) at column pw of rows ph..ph+H−1, zeros elsewhere.
 */
function emitPlane(mod: ModuleBuilder): void {
  const f = mod.func('plane', [I32, I32, I32, I32, I32, I32, I32, I32, I32], []);
  const [src, dst, H, W, Hq, Wq, ph, pw, count] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const k = f.local(I32), u = f.local(I32), i = f.local(I32), e = f.local(I32), s = f.local(I32), vecEnd = f.local(I32), wB = f.local(I32), rowB = f.local(I32);
  f.get(W).i32Const(4).i32Mul().set(wB);
  f.get(W).i32Const(-4).i32And().i32Const(4).i32Mul().set(vecEnd);
  f.get(Wq).i32Const(4).i32Mul().set(rowB);
  f.i32Const(0).set(k);
  forRange(f, k, count, 1, () => {
  f.i32Const(0).set(u);
  forRange(f, u, Hq, 1, () => {
    f.get(u).get(ph).i32Sub().get(H).i32LtU();
    f.if();
    // Left pad zeros, the source row, right pad zeros: each float written once.
    f.get(pw).i32Const(4).i32Mul().set(s);
    f.i32Const(0).set(i);
    forRange(f, i, s, 4, () => { f.get(dst).get(i).i32Add().f32Const(0).f32Store(); });
    f.get(dst).get(s).i32Add().set(e);
    f.i32Const(0).set(i);
    forRange(f, i, vecEnd, 16, () => { f.get(e).get(i).i32Add().get(src).get(i).i32Add().v128Load().v128Store(); });
    forRange(f, i, wB, 4, () => { f.get(e).get(i).i32Add().get(src).get(i).i32Add().f32Load().f32Store(); });
    f.get(src).get(wB).i32Add().set(src);
    f.get(s).get(wB).i32Add().set(i);
    forRange(f, i, rowB, 4, () => { f.get(dst).get(i).i32Add().f32Const(0).f32Store(); });
    f.else();
    f.i32Const(0).set(i);
    f.get(rowB).i32Const(-16).i32And().set(s);
    forRange(f, i, s, 16, () => { f.get(dst).get(i).i32Add().f32x4Const(0).v128Store(); });
    forRange(f, i, rowB, 4, () => { f.get(dst).get(i).i32Add().f32Const(0).f32Store(); });
    f.end();
    f.get(dst).get(rowB).i32Add().set(dst);
  });
  });
}

/**
 * `gather(src, dst, uLo, uHi, vLo, vHi, Hq, Wq, src0, rowStepB, colStepB)`: one phase plane of a
 * strided conv, Hq rows of Wq floats; rows [uLo, uHi) × columns [vLo, vHi) read
 * `src0 + (u−uLo)·rowStepB + (v−vLo)·colStepB`, everything else is 0.
 */
/** `i8x16.shuffle` lanes taking floats 0 and 2 of each operand: the even columns of 8 consecutive floats. */
const EVEN_LANES = [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27];

function emitGather(mod: ModuleBuilder): void {
  const f = mod.func('gather', [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32], []);
  const [, dst, uLo, uHi, vLo, vHi, Hq, Wq, src0, rowStepB, colStepB] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const u = f.local(I32), v = f.local(I32), sp = f.local(I32), d = f.local(I32), vEnd4 = f.local(I32);
  f.get(dst).set(d);
  f.i32Const(0).set(u);
  forRange(f, u, Hq, 1, () => {
    f.get(u).get(uLo).i32GeS().get(u).get(uHi).i32LtS().i32And();
    f.if();
    f.get(src0).get(u).get(uLo).i32Sub().get(rowStepB).i32Mul().i32Add().set(sp);
    // Zeros, the strided source run, zeros: no per-element range test.
    const zero = (): void => { f.get(d).f32Const(0).f32Store(); f.get(d).i32Const(4).i32Add().set(d); };
    f.i32Const(0).set(v);
    forRange(f, v, vLo, 1, zero);
    // Column stride 2 (the common downsampling conv): four outputs from two f32x4 loads and one
    // shuffle of their even lanes. Reads up to 8 floats from sp (the staging area has that slack).
    f.get(colStepB).i32Const(8).i32Eq();
    f.if();
    f.get(vHi).i32Const(3).i32Sub().set(vEnd4);
    f.block();
    f.loop();
    f.get(v).get(vEnd4).i32LtS().i32Eqz().brIf(1);
    f.get(d).get(sp).v128Load().get(sp).v128Load(16).raw(0xfd, 0x0d, ...EVEN_LANES).v128Store();
    f.get(sp).i32Const(32).i32Add().set(sp);
    f.get(d).i32Const(16).i32Add().set(d);
    f.get(v).i32Const(4).i32Add().set(v);
    f.br(0);
    f.end();
    f.end();
    f.end();
    forRange(f, v, vHi, 1, () => {
      f.get(d).get(sp).f32Load().f32Store();
      f.get(sp).get(colStepB).i32Add().set(sp);
      f.get(d).i32Const(4).i32Add().set(d);
    });
    forRange(f, v, Wq, 1, zero);
    f.else();
    f.i32Const(0).set(v);
    forRange(f, v, Wq, 1, () => { f.get(d).f32Const(0).f32Store(); f.get(d).i32Const(4).i32Add().set(d); });
    f.end();
  });
}

function moduleBytes(): Uint8Array {
  const mod = new ModuleBuilder({ initialPages: 1, maximumPages: MAX_PAGES, shared: true });
  emitTaps(mod);
  emitRows(mod);
  emitPlane(mod);
  emitGather(mod);
  return mod.bytes();
}

/** The module's exports. */
export interface TernaryExports {
  taps(acc: number, base: number, tab: number, n: number, nbytes: number): void;
  rows(pos: number, neg: number, rowB: number, nRows: number, oy: number, Hq: number, OH: number, ow: number, dst: number, dstRowB: number, dstSampleB: number, wp: number, wn: number, b: number): void;
  plane(src: number, dst: number, H: number, W: number, Hq: number, Wq: number, ph: number, pw: number, count: number): void;
  gather(src: number, dst: number, uLo: number, uHi: number, vLo: number, vHi: number, Hq: number, Wq: number, src0: number, rowStepB: number, colStepB: number): void;
}

// ------------------------------------------------------------------ generated per-layer code

/**
 * Output channels per generated block. Each channel keeps a `+` and a `−` f32x4 accumulator in
 * registers, and a tap's input vector is loaded once per block and added into every accumulator
 * that uses it. NOTE: 4 channels (8 accumulators) with groups of 6–7 taps (the loaded vectors of a
 * group stay live until their last addition: 14–15 of x64's 15 allocatable xmm registers) measured
 * fastest single-thread on the ResNet-20 shapes; 5×5 and 3×9 were 5–30 % slower, 6×3 up to 2×
 * slower (many more `br_table` cases).
 */
const CHANNELS_PER_BLOCK = 4;
/**
 * Distinct tap offsets per group (one case of the block's tap switch; see {@link emitBlock}): 6 when
 * a loaded vector feeds more than two accumulators on average (dense layers: more adds per case),
 * else 7 (sparser layers: fewer `br_table` dispatches; 64→64 @8×8 at 70 %: 1.1 vs 1.3 ms).
 */
function tapsPerGroup(adds: number, offsets: number): number {
  return adds > 2 * offsets ? 6 : 7;
}
/** Layers with more non-zero weights than this use the generic tap-table kernel (generated code grows with the non-zeros). */
const JIT_MAX_NONZEROS = 1 << 18;

/** Where a layer's generated code reads its taps: byte offsets from a grid point's input address. */
interface JitGeometry {
  /** Grid row length (floats) and output size. */
  readonly Wq: number;
  readonly OH: number;
  readonly OW: number;
  /** Byte offset of tap t of output channel m, relative to the grid point (may be negative). */
  readonly tapOffset: (m: number, t: number) => number;
  /** Output channels per group (channels of one group read the same input planes). */
  readonly outPerGroup: number;
  /** Strided convs: each work unit gathers its own band of the phase planes (see {@link emitBandGather}). */
  readonly band?: BandSpec;
}

/**
 * A strided layer's band gather (geometry constants, batch aside): per work unit, the phase planes'
 * rows [u0, u0 + R) of one sample (R = band rows + kernel halo), `R·Wq` floats a plane, into the
 * thread's band buffer — the rows the unit's output rows read, gathered by the thread that reads
 * them while they are in its cache, instead of a separate pass writing (and the kernels re-reading)
 * every plane of the batch.
 */
interface BandSpec {
  readonly C: number;
  readonly phases: number;
  /** Output rows per band at most, and grid rows per band plane (rows + halo). */
  readonly rows: number;
  readonly R: number;
  readonly Wq: number;
  readonly hwB: number;
  readonly rowStepB: number;
  readonly colStepB: number;
  /** Per phase: valid grid rows [uLo, uHi) and columns [vLo, vHi) of the full plane, and the source byte offset of (uLo, vLo). */
  readonly uLo: readonly number[];
  readonly uHi: readonly number[];
  readonly vLo: readonly number[];
  readonly vHi: readonly number[];
  readonly off: readonly number[];
}

/**
 * `g(src, dst, u0, nr)`: grid rows [u0, u0 + nr) (nr ≤ R) of every phase plane of one sample
 * (NCHW source at `src`) into `dst` (plane k of channel c at `(c·phases + k)·R·Wq` floats), through
 * `gather` (function 0 of the module); rows outside the input are zeros: the same values as the
 * whole-plane gather, so the generated kernels sum the same numbers in the same order.
 */
function emitBandGather(mod: ModuleBuilder, b: BandSpec): void {
  const f = mod.func('g', [I32, I32, I32, I32], []);
  const [src, dst, u0, nr] = [0, 1, 2, 3];
  const c = f.local(I32), lo = f.local(I32), cEnd = f.local(I32), planeB = b.R * b.Wq * 4;
  f.i32Const(0).set(c);
  f.i32Const(b.C).set(cEnd);
  forRange(f, c, cEnd, 1, () => {
    for (let k = 0; k < b.phases; k++) {
      // lo = max(uLo − u0, 0): band row of the first valid grid row; its source row is u0 + lo.
      f.i32Const(b.uLo[k]).get(u0).i32Sub().set(lo);
      f.get(lo).i32Const(0).get(lo).i32Const(0).i32GtS().raw(0x1b).set(lo); // select
      f.i32Const(0);
      f.get(dst).i32Const(k * planeB).i32Add();
      f.get(lo);
      f.i32Const(b.uHi[k]).get(u0).i32Sub();
      f.i32Const(b.vLo[k]).i32Const(b.vHi[k]).get(nr).i32Const(b.Wq);
      f.get(src).i32Const(b.off[k]).i32Add().get(u0).get(lo).i32Add().i32Const(b.uLo[k]).i32Sub().i32Const(b.rowStepB).i32Mul().i32Add();
      f.i32Const(b.rowStepB).i32Const(b.colStepB);
      f.raw(0x10, 0); // call gather
    }
    f.get(src).i32Const(b.hwB).i32Add().set(src);
    f.get(dst).i32Const(b.phases * planeB).i32Add().set(dst);
  });
}

/**
 * `b{k}(xs, outS, oy0, oy1, bias, scratch)`: output channels [m0, m1) of one sample, output rows
 * [oy0, oy1). Per output vector (4 grid points of one row): every `+` and `−` tap of the block's
 * channels summed into registers (each distinct input vector loaded once, at a constant offset
 * from `xs`; groups of {@link tapsPerGroup} offsets are the cases of a `br_table` loop), then
 * `w_p·P − w_n·N + b` stored into the NCHW output at `outS`. Every output is summed in ascending
 * tap-offset order whichever thread runs it. A row's last partial
 * vector (OW mod 4 ≠ 0) goes through `scratch` so it never writes past its row.
 */
function emitBlock(mod: ModuleBuilder, name: string, layer: TernaryLayer, m0: number, m1: number, geo: JitGeometry, minOff: number): void {
  const f = mod.func(name, [I32, I32, I32, I32, I32, I32], []);
  const [xs, outS, oy0, oy1, bias, scratch] = [0, 1, 2, 3, 4, 5];
  const oy = f.local(I32), v = f.local(I32), vEnd = f.local(I32), xr = f.local(I32), xa = f.local(I32), orow = f.local(I32), dst = f.local(I32), grp = f.local(I32);
  const k = m1 - m0;
  const acc = Array.from({ length: 2 * k }, () => f.local(V128));
  const tmp = f.local(V128);
  // Distinct (group, tap) inputs of the block, in ascending (group, tap) order, each with its offset
  // and the accumulators it feeds. NOTE: tap order, not offset order: every accumulator then sums
  // its taps in the order the generic kernel's tables list them, so the two kernels round alike.
  const per = layer.inPerGroup * layer.kernelHeight * layer.kernelWidth;
  const users = new Map<number, number[]>();
  const offsetOf = new Map<number, number>();
  const add = (m: number, tap: number, a: number): void => {
    const key = Math.floor(m / geo.outPerGroup) * per + tap;
    const u = users.get(key);
    if (u === undefined) {
      users.set(key, [a]);
      offsetOf.set(key, geo.tapOffset(m, tap) - minOff);
    } else u.push(a);
  };
  for (let j = 0; j < k; j++) {
    const m = m0 + j;
    for (let t = layer.posStart[m]; t < layer.posStart[m + 1]; t++) add(m, layer.posTaps[t], 2 * j);
    for (let t = layer.negStart[m]; t < layer.negStart[m + 1]; t++) add(m, layer.negTaps[t], 2 * j + 1);
  }
  const offsets = [...users.keys()].sort((a, b) => a - b);
  let adds = 0;
  for (const us of users.values()) adds += us.length;
  const perGroup = tapsPerGroup(adds, offsets.length);
  const groups: number[][] = [];
  for (let g0 = 0; g0 < offsets.length; g0 += perGroup) groups.push(offsets.slice(g0, g0 + perGroup));
  const G = groups.length;
  const ohwB = geo.OH * geo.OW * 4;
  const nFull = Math.floor(geo.OW / 4);
  const rem = geo.OW % 4;
  const nVec = Math.ceil(geo.OW / 4);
  f.i32Const(nVec * 16).set(vEnd);
  f.get(oy0).set(oy);
  forRange(f, oy, oy1, 1, () => {
    f.get(xs).get(oy).i32Const(geo.Wq * 4).i32Mul().i32Add().set(xr);
    f.get(outS).get(oy).i32Const(geo.OW * 4).i32Mul().i32Add().i32Const(m0 * ohwB).i32Add().set(orow);
    f.i32Const(0).set(v);
    forRange(f, v, vEnd, 16, () => {
      f.get(xr).get(v).i32Add().set(xa);
      for (const a of acc) f.f32x4Const(0).set(a);
      // NOTE: the taps run as the cases of a loop over groups (a `br_table` switch): accumulators
      // carried round a loop must be complete at each back-edge, so the optimiser finishes one
      // group's additions before the next group's loads. As straight-line code it hoisted every
      // load to the top and sank every addition to the bottom, spilling nearly every value.
      const emitGroup = (grpOffsets: number[]): void => {
        for (const key of grpOffsets) {
          const us = users.get(key) as number[];
          const off = offsetOf.get(key) as number;
          if (us.length === 1) {
            f.get(acc[us[0]]).get(xa).v128Load(off).f32x4Add().set(acc[us[0]]);
            continue;
          }
          f.get(xa).v128Load(off).set(tmp);
          for (const a of us) f.get(acc[a]).get(tmp).f32x4Add().set(acc[a]);
        }
      };
      if (G > 0) {
        f.i32Const(0).set(grp);
        f.loop();
        f.block(); // exit
        for (let i = G - 1; i >= 0; i--) f.block();
        f.get(grp);
        f.raw(0x0e, ...uleb(G), ...Array.from({ length: G }, (_, i) => uleb(i)).flat(), ...uleb(G)); // br_table 0..G−1, default: exit
        for (let i = 0; i < G; i++) {
          f.end();
          emitGroup(groups[i]);
          f.get(grp).i32Const(1).i32Add().set(grp);
          f.br(G - i);
        }
        f.end(); // exit
        f.end(); // loop
      }
      if (rem === 0) {
        f.get(orow).get(v).i32Add().set(dst);
      } else {
        f.get(v).i32Const(nFull * 16).i32LtU();
        f.if(); f.get(orow).get(v).i32Add().set(dst); f.else(); f.get(scratch).set(dst); f.end();
      }
      for (let j = 0; j < k; j++) {
        // Same order as the generic kernel's `rows`: (w_p·P − w_n·N) + b.
        f.get(dst);
        f.f32x4Const(layer.wp).get(acc[2 * j]).f32x4Mul();
        f.f32x4Const(layer.wn).get(acc[2 * j + 1]).f32x4Mul().f32x4Sub();
        f.get(bias).f32Load((m0 + j) * 4).f32x4Splat().f32x4Add();
        f.v128Store(j * ohwB);
      }
      if (rem !== 0) {
        f.get(v).i32Const(nFull * 16).i32Eq();
        f.if();
        for (let j = 0; j < k; j++) {
          for (let l = 0; l < rem; l++) f.get(orow).get(v).i32Add().get(scratch).f32Load(j * ohwB + l * 4).f32Store(j * ohwB + l * 4);
        }
        f.end();
      }
    });
  });
}

/** A layer's generated module for one input geometry (batch aside) and its pool registration. */
interface Jit {
  readonly family: PoolFamily;
  readonly blocks: number;
  /** Channels in the largest block (the tail scratch holds that many output planes). */
  readonly maxBlock: number;
  /** Byte shift added to the sample base so every tap offset is a non-negative immediate. */
  readonly minOff: number;
  /** Strided layers: the band gather's layout (units gather their own input rows). */
  readonly band?: BandSpec;
}

function buildJit(layer: TernaryLayer, geo: JitGeometry): Jit {
  const M = layer.outChannels;
  const blocks = Math.ceil(M / CHANNELS_PER_BLOCK);
  let minOff = 0;
  for (let m = 0; m < M; m++) {
    for (let t = layer.posStart[m]; t < layer.posStart[m + 1]; t++) minOff = Math.min(minOff, geo.tapOffset(m, layer.posTaps[t]));
    for (let t = layer.negStart[m]; t < layer.negStart[m + 1]; t++) minOff = Math.min(minOff, geo.tapOffset(m, layer.negTaps[t]));
  }
  const mod = new ModuleBuilder({ initialPages: 1, maximumPages: MAX_PAGES, shared: true });
  if (geo.band !== undefined) {
    emitGather(mod); // function 0: `g` calls it
    emitBandGather(mod, geo.band);
  }
  let maxBlock = 0;
  for (let b = 0; b < blocks; b++) {
    // Balanced blocks: sizes differ by at most one.
    const m0 = Math.floor((M * b) / blocks), m1 = Math.floor((M * (b + 1)) / blocks);
    maxBlock = Math.max(maxBlock, m1 - m0);
    emitBlock(mod, `b${b}`, layer, m0, m1, geo, minOff);
  }
  const wa = webAssembly as NonNullable<typeof webAssembly>;
  const module = new wa.Module(mod.bytes());
  const I = instance() as Instance;
  return { family: registerPoolFamily('ternaryConv2d (generated)', module, I.memory, `${jitWork.toString()}\nreturn jitWork;`), blocks, maxBlock, minOff, band: geo.band };
}

/** Main-thread instances of the generated modules. */
const jitExports = new WeakMap<PoolFamily, Record<string, unknown>>();
/** Releases a layer's generated modules from the pool once the layer is garbage-collected. */
const jitRelease = new FinalizationRegistry<PoolFamily>((family) => releasePoolFamily(family));

// ------------------------------------------------------------------ the work (runs in every thread)

/** Input planes a thread takes per visit to the job's shared counter (a gather of one plane is only ~1 µs). */
const PLANES_PER_TAKE = 8;

// Job operation codes.
const GATHER = 0, TAPS = 1, JIT = 2;
const PARAMS = [
  'xStage', 'xp', 'out', 'posTab', 'negTab', 'posStart', 'negStart', 'bias', 'acc', 'accB',
  'C', 'N', 'H', 'W', 'Hq', 'Wq', 'ph', 'pw', 'sH', 'sW', 'M', 'OH', 'OW', 'totalRows', 'rowsPer', 'chunks', 'hasBias', 'wpBits', 'wnBits',
  'sampleMajor',
] as const;
type Params = Record<(typeof PARAMS)[number], number>;

/**
 * One thread's part of a generic-kernel job: phase 0 (op GATHER) gathers input planes
 * (channel-major `[C][N]` planes, or sample-major `[N][C]` for the generated kernels), phase 1 (op
 * TAPS) runs chunks of the output grid; both taken from the job's shared counter `next`. Every
 * plane and chunk is computed the same whichever thread takes it, so results do not depend on the
 * thread count or the scheduling. Self-contained (the pool's workers evaluate its source).
 */
export function ternaryWork(E: TernaryExports, mem: ArrayBuffer | SharedArrayBuffer, ctl: Int32Array, p0: number, names: readonly string[], index: number, phase: number, next: () => number): void {
  // NOTE: plain locals, not an object keyed by name: a dictionary-mode object made the per-plane
  // loop of the strided gather cost more than the gather itself.
  const w = (name: string): number => ctl[p0 + names.indexOf(name)];
  const C = w('C'), N = w('N'), H = w('H'), W = w('W'), Hq = w('Hq'), Wq = w('Wq'), ph = w('ph'), pw = w('pw'), sH = w('sH'), sW = w('sW');
  const xStage = w('xStage'), xp = w('xp'), sampleMajor = w('sampleMajor') === 1;
  const plane = Hq * Wq;
  if (phase === 0 && (sH > 1 || sW > 1)) {
    // Phase planes (c, a, b) of a strided conv: valid rows/columns are a range, found by division.
    const per = sH * sW;
    const planes = C * per * N;
    // Per phase (a, b): the valid row/column ranges and the source offset (they do not depend on
    // the sample or channel), computed once rather than per plane.
    const uLo: number[] = [], uHi: number[] = [], vLo: number[] = [], vHi: number[] = [], off: number[] = [];
    for (let a = 0; a < sH; a++) {
      for (let b = 0; b < sW; b++) {
        // Padded row a + sH·u is input row y = a + sH·u − ph, valid for 0 ≤ y < H.
        const u0 = Math.max(0, Math.ceil((ph - a) / sH));
        const v0 = Math.max(0, Math.ceil((pw - b) / sW));
        uLo.push(u0);
        uHi.push(Math.max(u0, Math.min(Hq, Math.ceil((H + ph - a) / sH))));
        vLo.push(v0);
        vHi.push(Math.max(v0, Math.min(Wq, Math.ceil((W + pw - b) / sW))));
        off.push(((a + sH * u0 - ph) * W + (b + sW * v0 - pw)) * 4);
      }
    }
    const rowStepB = sH * W * 4, colStepB = sW * 4, hwB = H * W * 4;
    for (let q0 = next() * PLANES_PER_TAKE; q0 < planes; q0 = next() * PLANES_PER_TAKE) {
      for (let q = q0; q < Math.min(planes, q0 + PLANES_PER_TAKE); q++) {
        // Source plane n·C + c and phase k of destination plane q, in either layout.
        let src: number, k: number;
        if (sampleMajor) {
          src = Math.floor(q / per);
          k = q - src * per;
        } else {
          const vc = Math.floor(q / N);
          const c = Math.floor(vc / per);
          src = (q - vc * N) * C + c;
          k = vc - c * per;
        }
        E.gather(0, xp + q * plane * 4, uLo[k], uHi[k], vLo[k], vHi[k], Hq, Wq, xStage + src * hwB + off[k], rowStepB, colStepB);
      }
    }
    return;
  }
  if (phase === 0) {
    const planes = C * N;
    const hw = H * W;
    for (let q0 = next() * PLANES_PER_TAKE; q0 < planes; q0 = next() * PLANES_PER_TAKE) {
      const q1 = Math.min(planes, q0 + PLANES_PER_TAKE);
      // Sample-major planes follow the NCHW source planes one to one: one call for the batch.
      if (sampleMajor) E.plane(xStage + q0 * hw * 4, xp + q0 * plane * 4, H, W, Hq, Wq, ph, pw, q1 - q0);
      else {
        for (let q = q0; q < q1; q++) {
          const c = Math.floor(q / N);
          E.plane(xStage + ((q - c * N) * C + c) * hw * 4, xp + q * plane * 4, H, W, Hq, Wq, ph, pw, 1);
        }
      }
    }
    return;
  }
  const P: Record<string, number> = {};
  for (let k = 0; k < names.length; k++) P[names[k]] = ctl[p0 + k];
  const f32 = new Float32Array(1);
  const i32 = new Int32Array(f32.buffer);
  i32[0] = P.wpBits; const wp = f32[0];
  i32[0] = P.wnBits; const wn = f32[0];
  const view = new Int32Array(mem);
  const bias = new Float32Array(mem);
  const pos = P.acc + index * 2 * P.accB;
  const neg = pos + P.accB;
  const ohw = P.OH * P.OW;
  for (let ck = next(); ck < P.chunks; ck = next()) {
    const r0 = ck * P.rowsPer;
    const r1 = Math.min(P.totalRows, r0 + P.rowsPer);
    const nbytes = (((r1 - r0) * P.Wq + 3) & ~3) * 4;
    const base = P.xp + r0 * P.Wq * 4;
    const n0 = Math.floor(r0 / P.Hq);
    const oy0 = r0 - n0 * P.Hq;
    for (let m = 0; m < P.M; m++) {
      const ps = view[(P.posStart >> 2) + m], pe = view[(P.posStart >> 2) + m + 1];
      const ns = view[(P.negStart >> 2) + m], ne = view[(P.negStart >> 2) + m + 1];
      E.taps(pos, base, P.posTab + ps * 4, pe - ps, nbytes);
      E.taps(neg, base, P.negTab + ns * 4, ne - ns, nbytes);
      const b = P.hasBias === 1 ? bias[(P.bias >> 2) + m] : 0;
      E.rows(pos, neg, P.Wq * 4, r1 - r0, oy0, P.Hq, P.OH, P.OW, P.out + ((n0 * P.M + m) * ohw) * 4, P.OW * 4, P.M * ohw * 4, wp, wn, b);
    }
  }
}

// Parameter words of a generated-kernel job.
const J_N = 0, J_CPS = 1, J_ROWS = 2, J_OH = 3, J_BLOCKS = 4, J_XS = 5, J_SAMPLE_B = 6, J_OUT = 7, J_OUT_SAMPLE_B = 8, J_BIAS = 9, J_SCRATCH = 10, J_SCRATCH_B = 11;
// Band gather (strided layers; J_BAND 0: none): band buffers, per-thread stride, staged input and its sample stride, grid row bytes.
// J_READY: byte address of the count of samples staged so far (the main thread stages them during the job).
const J_BAND = 12, J_BAND_B = 13, J_SRC = 14, J_SRC_SAMPLE_B = 15, J_ROW_B = 16, J_HALO = 17, J_READY = 18;
const J_WORDS = 19;

/**
 * One thread's part of a generated-kernel job: work units (sample n, band of `rows` output rows)
 * from the job's shared counter, each through every channel block; `index` picks the thread's tail
 * scratch. A unit's outputs are computed the same whichever thread takes it. Self-contained (the
 * pool's workers evaluate its source); word indices are literals for that reason.
 */
function jitWork(E: Record<string, unknown>, _memory: unknown, P: Int32Array, _op: number, index: number, _threads: number, next: () => number): void {
  const N = P[0], cps = P[1], rows = P[2], OH = P[3], nb = P[4], xs0 = P[5], sampleB = P[6], out = P[7], outSampleB = P[8], bias = P[9];
  const scratch = P[10] + index * P[11];
  const units = N * cps;
  const fns: ((xs: number, outS: number, oy0: number, oy1: number, bias: number, scratch: number) => void)[] = [];
  for (let b = 0; b < nb; b++) fns.push(E[`b${b}`] as (typeof fns)[number]);
  // Strided layers: the unit first gathers its band of every phase plane into the thread's band buffer.
  const band = P[12] === 0 ? 0 : P[12] + index * P[13], src0 = P[14], srcSampleB = P[15], rowB = P[16];
  const gather = E.g as (src: number, dst: number, u0: number, nr: number) => void;
  const halo = P[17];
  const ready = P[18] >> 2, staged = new Int32Array((_memory as { buffer: SharedArrayBuffer }).buffer);
  for (let u = next(); u < units; u = next()) {
    const n = Math.floor(u / cps);
    const oy0 = (u - n * cps) * rows;
    const oy1 = Math.min(OH, oy0 + rows);
    let xs = xs0 + n * sampleB;
    if (band !== 0) {
      // Wait (briefly: a sample's copy is µs) until the main thread has staged sample n.
      while (Atomics.load(staged, ready) <= n);
      gather(src0 + n * srcSampleB, band, oy0, oy1 - oy0 + halo);
      xs = band + xs0 - oy0 * rowB;
    }
    const os = out + n * outSampleB;
    for (let b = 0; b < nb; b++) fns[b](xs, os, oy0, oy1, bias, scratch);
  }
}

// ------------------------------------------------------------------ instance

interface Instance { module: WasmModule; memory: WasmMemory; E: TernaryExports; family: PoolFamily }
let inst: Instance | null | undefined;

function genericRunnerFactory(): string {
  return `const names = ${JSON.stringify(PARAMS)};
const PLANES_PER_TAKE = ${PLANES_PER_TAKE};
${ternaryWork.toString()}
return function (E, memory, params, op, index, threads, next) { ternaryWork(E, memory.buffer, params, 0, names, index, op === ${GATHER} ? 0 : 1, next); };`;
}

function instance(): Instance | null {
  if (inst !== undefined) return inst;
  inst = null;
  try {
    const wa = webAssembly;
    if (wa === undefined || typeof SharedArrayBuffer === 'undefined') return null;
    const bytes = moduleBytes();
    if (!wa.validate(bytes)) return null;
    const memory = new wa.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
    const module = new wa.Module(bytes);
    const E = new wa.Instance(module, { env: { memory } }).exports as unknown as TernaryExports;
    inst = { module, memory, E, family: registerPoolFamily('ternaryConv2d', module, memory, genericRunnerFactory()) };
  } catch {
    inst = null;
  }
  return inst;
}

/** Is the wasm SIMD ternary path available in this engine and on (the `ternaryWasm` backend setting, `EC2T_TERNARY_WASM`)? */
export function ternarySimdAvailable(): boolean {
  return backendSettings().ternaryWasm && instance() !== null;
}

/**
 * Fills the whole shared scratch memory with NaN (tests: proves every output was written by this
 * call, whichever thread owns it, rather than left over from an earlier one).
 * @example poisonTernaryScratch()
 */
export function poisonTernaryScratch(): void {
  const I = instance();
  if (I !== null) new Float32Array(I.memory.buffer).fill(Number.NaN);
}

/** Threads the ternary conv uses: the `ternaryThreads` backend setting ({@link setTernaryThreads}), else the `threads` one (`setGemmThreads`, `--threads`, `EC2T_THREADS`, available parallelism). */
export function ternaryThreads(): number {
  return backendSettings().ternaryThreads ?? gemmThreads();
}

/**
 * Sets the ternary conv's thread count (undefined: back to the default). Results do not depend on it.
 * @example setTernaryThreads(1)
 */
export function setTernaryThreads(threads: number | undefined): void {
  checkThreadCount('setTernaryThreads', threads);
  setBackendSettings({ ternaryThreads: threads });
}

// NOTE: generated code costs 5–200 ms a layer, hence `lazy` by default; layers above the size limit
// always stay on the generic kernel. Both sum every output in the same order (bit-identical results).
export type { TernaryJitMode };
/** Calls of a (layer, geometry) on the generic kernel before `lazy` mode generates its code. */
const LAZY_CALLS = 2;

/**
 * Sets when layers get generated code (see {@link TernaryJitMode}); returns the previous mode.
 * @example const was = setTernaryJit('eager'); … setTernaryJit(was);
 */
export function setTernaryJit(mode: TernaryJitMode): TernaryJitMode {
  const was = backendSettings().ternaryJit;
  setBackendSettings({ ternaryJit: mode });
  return was;
}

/**
 * Stops the shared kernel worker pool (kernels/wasm/worker-pool.ts; workers are `unref()`'d, tests call
 * this to release them promptly).
 * @example await shutdownTernaryThreads();
 */
export async function shutdownTernaryThreads(): Promise<void> {
  await shutdownPool();
}

// ------------------------------------------------------------------ plan and entry point

interface SimdPlan {
  readonly key: string;
  readonly Hq: number;
  readonly Wq: number;
  /** Planes per sample: C·sH·sW. */
  readonly planes: number;
  /** Zero floats before the first plane (stride 1: shared padding, negative tap offsets reach into it). */
  readonly lead: number;
  /** Padding the gather writes explicitly (0 in the shared-padding layout). */
  readonly gatherPadH: number;
  readonly gatherPadW: number;
  /** Zero floats after the last plane (garbage grid points read up to a kernel extent past it). */
  readonly tail: number;
  /** Byte offset of tap t of output m from a grid point, for a plane stride of `planeF` floats. */
  readonly tapOffset: (m: number, t: number, planeF: number) => number;
}
const plans = new WeakMap<TernaryLayer, SimdPlan>();

/** The layer's padded layout for geometry g (batch aside). */
function planFor(layer: TernaryLayer, g: Conv2dGeometry): SimdPlan {
  const key = `${g.inChannels},${g.inHeight},${g.inWidth},${g.outChannels},${g.strideH},${g.strideW},${g.padH},${g.padW},${g.dilationH},${g.dilationW},${g.groups}`;
  const cached = plans.get(layer);
  if (cached !== undefined && cached.key === key) return cached;
  const { strideH: sh, strideW: sw, dilationH: dh, dilationW: dw } = g;
  // Stride 1: the shared-padding layout (each row followed by gw ≥ padW zero columns, each plane by
  // gh ≥ padH zero rows, so a read off one side of a row lands in zeros) — fewer wasted grid points
  // than explicit padding on small maps (8×8: 81 vs 100 per 64 outputs). NOTE: ≥ OW−W / OH−H keeps
  // the grid from overlapping the next row/plane when pad > kernel.
  const shared = sh === 1 && sw === 1;
  const Hq = shared ? g.inHeight + Math.max(g.padH, g.outHeight - g.inHeight, 0) : Math.ceil((g.inHeight + 2 * g.padH) / sh);
  const Wq = shared ? g.inWidth + Math.max(g.padW, g.outWidth - g.inWidth, 0) : Math.ceil((g.inWidth + 2 * g.padW) / sw);
  const lead = shared ? g.padH * Wq + g.padW : 0;
  const kh = layer.kernelHeight, kw = layer.kernelWidth;
  // Garbage grid points past the last plane read up to one kernel extent further (+8: f32x4 rounding).
  const tail = (Math.floor(((kh - 1) * dh) / sh) + 1) * Wq + Math.floor(((kw - 1) * dw) / sw) + 8;
  const cpg = layer.inPerGroup;
  const opg = layer.outChannels / g.groups;
  const tapOffset = (m: number, t: number, planeF: number): number => {
    const j = t % kw;
    const ci = (t - j) / kw;
    const i = ci % kh;
    const c = (ci - i) / kh;
    const gi = Math.floor(m / opg);
    const yi = i * dh, xj = j * dw;
    const plane = ((gi * cpg + c) * sh + (yi % sh)) * sw + (xj % sw);
    if (shared) return (plane * planeF + (yi - g.padH) * Wq + (xj - g.padW)) * 4;
    return (plane * planeF + Math.floor(yi / sh) * Wq + Math.floor(xj / sw)) * 4;
  };
  const plan = { key, Hq, Wq, planes: g.inChannels * sh * sw, lead, gatherPadH: shared ? 0 : g.padH, gatherPadW: shared ? 0 : g.padW, tail, tapOffset };
  plans.set(layer, plan);
  return plan;
}

/** Generic kernel: tap byte offsets for the channel-major layout of batch N (cached per layer). */
const genericOffsets = new WeakMap<TernaryLayer, { key: string; posOff: Int32Array; negOff: Int32Array }>();
function offsetsFor(layer: TernaryLayer, p: SimdPlan, N: number): { posOff: Int32Array; negOff: Int32Array } {
  const key = `${p.key};${N}`;
  const hit = genericOffsets.get(layer);
  if (hit !== undefined && hit.key === key) return hit;
  const chanStride = N * p.Hq * p.Wq;
  const posOff = new Int32Array(layer.posTaps.length);
  const negOff = new Int32Array(layer.negTaps.length);
  for (let m = 0; m < layer.outChannels; m++) {
    for (let t = layer.posStart[m]; t < layer.posStart[m + 1]; t++) posOff[t] = p.tapOffset(m, layer.posTaps[t], chanStride);
    for (let t = layer.negStart[m]; t < layer.negStart[m + 1]; t++) negOff[t] = p.tapOffset(m, layer.negTaps[t], chanStride);
  }
  const r = { key, posOff, negOff };
  genericOffsets.set(layer, r);
  return r;
}

/** Generated kernels of a layer (or its call count so far, in lazy mode), per plan key (the same layer may serve several geometries). */
const jits = new WeakMap<TernaryLayer, Map<string, Jit | number>>();
/** The layer's generated kernel for this geometry, or null while the `ternaryJit` setting says not (yet). */
function jitFor(layer: TernaryLayer, p: SimdPlan, g: Conv2dGeometry): Jit | null {
  const jitMode = backendSettings().ternaryJit;
  if (jitMode === 'off' || layer.posTaps.length + layer.negTaps.length > JIT_MAX_NONZEROS) return null;
  let per = jits.get(layer);
  if (per === undefined) jits.set(layer, (per = new Map()));
  const j = per.get(p.key);
  if (typeof j === 'object') return j;
  const calls = j ?? 0;
  if (jitMode === 'lazy' && calls < LAZY_CALLS) {
    per.set(p.key, calls + 1);
    return null;
  }
  const band = bandFor(layer, p, g);
  const planeF = band === undefined ? p.Hq * p.Wq : band.R * p.Wq;
  const built = buildJit(layer, { Wq: p.Wq, OH: g.outHeight, OW: g.outWidth, tapOffset: (m, t) => p.tapOffset(m, t, planeF), outPerGroup: layer.outChannels / g.groups, band });
  per.set(p.key, built);
  jitRelease.register(layer, built.family);
  return built;
}

/**
 * Most bytes of a strided layer's band buffer (per thread). NOTE: measured, not derived: on
 * 16→32 @32×32 /2 at N = 32, whole-sample bands (74 KiB) ran 0.37–0.39 ms a call against 0.45–0.50
 * for 24 KiB bands (4 rows) and 0.47–0.55 for 8-row bands; 64→64 @32×32 /2: 296 KiB whole samples
 * 2.3 ms, 200 KiB bands 2.6, 24 KiB 3.6. Small batches still get short bands (units ≥ 16 a call).
 */
const BAND_BUDGET = 1 << 20;

/**
 * The band gather of a strided layer (undefined for stride 1, whose shared-padding planes are a
 * plain copy): bands of at most `rows` output rows, their input (every phase plane, rows + halo)
 * at most {@link BAND_BUDGET} bytes; a pure function of the geometry (the generated code bakes the
 * band plane stride in).
 */
function bandFor(layer: TernaryLayer, p: SimdPlan, g: Conv2dGeometry): BandSpec | undefined {
  const { strideH: sH, strideW: sW, padH: ph, padW: pw, inHeight: H, inWidth: W } = g;
  if (sH === 1 && sW === 1) return undefined;
  const halo = Math.floor(((layer.kernelHeight - 1) * g.dilationH) / sH);
  const rows = Math.min(g.outHeight, Math.max(1, Math.floor(BAND_BUDGET / (p.planes * p.Wq * 4)) - halo));
  // Per phase (a, b): valid grid rows/columns and the source offset, as in ternaryWork's gather
  // (repeated, not shared: workers evaluate ternaryWork's own source, so it cannot call helpers here).
  const uLo: number[] = [], uHi: number[] = [], vLo: number[] = [], vHi: number[] = [], off: number[] = [];
  for (let a = 0; a < sH; a++) {
    for (let b = 0; b < sW; b++) {
      const u0 = Math.max(0, Math.ceil((ph - a) / sH));
      const v0 = Math.max(0, Math.ceil((pw - b) / sW));
      uLo.push(u0);
      uHi.push(Math.max(u0, Math.min(p.Hq, Math.ceil((H + ph - a) / sH))));
      vLo.push(v0);
      vHi.push(Math.max(v0, Math.min(p.Wq, Math.ceil((W + pw - b) / sW))));
      off.push(((a + sH * u0 - ph) * W + (b + sW * v0 - pw)) * 4);
    }
  }
  return { C: g.inChannels, phases: sH * sW, rows, R: rows + halo, Wq: p.Wq, hwB: H * W * 4, rowStepB: sH * W * 4, colStepB: sW * 4, uLo, uHi, vLo, vHi, off };
}

/** Byte layout of one call's shared memory. */
function layoutFor(layer: TernaryLayer, g: Conv2dGeometry, p: SimdPlan, threads: number, jit: Jit | null): { bytes: number; at: Params; jitWords: Int32Array | null } {
  const { batch: N, inChannels: C, inHeight: H, inWidth: W, outChannels: M, outHeight: OH, outWidth: OW } = g;
  const planeF = p.Hq * p.Wq;
  let at = 0;
  const take = (floats: number): number => { const a = at; at += ((floats + 3) & ~3) * 4 + 16; return a; };
  const xStage = take(N * C * H * W + 8);
  const fused = jit?.band !== undefined;
  // Band-gathered layers need no whole-batch planes.
  const xp = fused ? take(0) : take(p.lead + N * p.planes * planeF + p.tail) + p.lead * 4;
  const out = take(N * M * OH * OW);
  const bias = take(M);
  const params: Params = {
    xStage, xp, out, posTab: 0, negTab: 0, posStart: 0, negStart: 0, bias, acc: 0, accB: 0,
    C, N, H, W, Hq: p.Hq, Wq: p.Wq, ph: p.gatherPadH, pw: p.gatherPadW, sH: g.strideH, sW: g.strideW, M, OH, OW, totalRows: N * p.Hq, rowsPer: 1,
    chunks: 0, hasBias: 0, wpBits: 0, wnBits: 0, sampleMajor: jit === null ? 0 : 1,
  };
  if (jit !== null) {
    const scratchB = ((jit.maxBlock * OH * OW + 3) & ~3) * 4 + 64;
    const scratch = at;
    at += threads * scratchB;
    // Work units: (sample, band of output rows); a band's input (every plane, rows + kernel) ≈ 24 KiB
    // so the channel blocks re-read it from L1/L2, and ≥ 16 units in all for balance.
    const band = jit.band;
    const bandRows = band !== undefined ? band.rows : Math.max(1, Math.floor(24576 / (p.planes * p.Wq * 4)) - (g.kernelHeight - 1));
    const cps = Math.min(OH, Math.max(Math.ceil(OH / bandRows), Math.ceil(16 / N)));
    const rows = Math.ceil(OH / cps);
    const w = new Int32Array(J_WORDS);
    w[J_N] = N; w[J_CPS] = Math.ceil(OH / rows); w[J_ROWS] = rows; w[J_OH] = OH; w[J_BLOCKS] = jit.blocks;
    w[J_XS] = xp + jit.minOff; w[J_SAMPLE_B] = p.planes * planeF * 4; w[J_OUT] = out; w[J_OUT_SAMPLE_B] = M * OH * OW * 4;
    w[J_BIAS] = bias; w[J_SCRATCH] = scratch; w[J_SCRATCH_B] = scratchB;
    if (band !== undefined) {
      // Per-thread band buffers; the slack past the last band plane covers garbage grid points' reads.
      const bandB = ((p.planes * band.R * p.Wq + p.tail + 3) & ~3) * 4 + 16;
      w[J_BAND] = at; w[J_BAND_B] = bandB; w[J_SRC] = xStage; w[J_SRC_SAMPLE_B] = C * H * W * 4; w[J_ROW_B] = p.Wq * 4; w[J_HALO] = band.R - band.rows;
      w[J_XS] = jit.minOff;
      at += threads * bandB;
      w[J_READY] = at;
      at += 16;
    }
    return { bytes: at, at: params, jitWords: w };
  }
  const totalRows = N * p.Hq;
  const rowsPer = Math.max(1, Math.min(Math.floor(SIMD_CHUNK / p.Wq), Math.ceil(totalRows / MIN_CHUNKS)));
  const accB = ((rowsPer * p.Wq + 3) & ~3) * 4 + 16;
  params.posTab = take(layer.posTaps.length);
  params.negTab = take(layer.negTaps.length);
  params.posStart = take(M + 1);
  params.negStart = take(M + 1);
  params.acc = at;
  params.accB = accB;
  params.rowsPer = rowsPer;
  params.chunks = Math.ceil(totalRows / rowsPer);
  at += threads * 2 * accB;
  return { bytes: at, at: params, jitWords: null };
}

/**
 * The ternary conv on the wasm SIMD path with `threads` threads; returns false (doing nothing) when
 * wasm SIMD is unavailable or the problem does not fit the shared memory. Arguments are pre-checked.
 */
export function ternaryConv2dSimd(x: Float32Array, layer: TernaryLayer, bias: Float32Array | null, out: Float32Array, g: Conv2dGeometry, threads = ternaryThreads()): boolean {
  // Everything is staged again on each call and `out` is written last: a worker death reruns it all.
  return withWorkerRecovery(() => ternaryConv2dSimdOnce(x, layer, bias, out, g, threads));
}

function ternaryConv2dSimdOnce(x: Float32Array, layer: TernaryLayer, bias: Float32Array | null, out: Float32Array, g: Conv2dGeometry, threads: number): boolean {
  const I = instance();
  if (I === null) return false;
  const T = Math.min(threads, MAX_POOL_THREADS);
  const p = planFor(layer, g);
  const jit = jitFor(layer, p, g);
  const { bytes, at: P, jitWords } = layoutFor(layer, g, p, T, jit);
  if (bytes > MAX_PAGES * PAGE) return false;
  if (backendSettings().traceKernels) traceImplementation('ternaryConv2d', `wasm-simd ${jit === null ? 'generic' : 'generated'}, ${T} thread${T === 1 ? '' : 's'}`);
  const have = I.memory.buffer.byteLength;
  if (have < bytes) I.memory.grow(Math.ceil((bytes - have) / PAGE));
  const buf = I.memory.buffer;
  const f32 = new Float32Array(buf);
  const i32 = new Int32Array(buf);
  const { batch: N, inChannels: C, inHeight: H, inWidth: W, outChannels: M, outHeight: OH, outWidth: OW } = g;
  if (bias !== null) { f32.set(bias.subarray(0, M), P.bias >> 2); P.hasBias = 1; }
  else f32.fill(0, P.bias >> 2, (P.bias >> 2) + M);
  const bits = new Int32Array(new Float32Array([layer.wp, layer.wn]).buffer);
  P.wpBits = bits[0];
  P.wnBits = bits[1];
  const xp0 = P.xp >> 2;
  const gridF = N * p.planes * p.Hq * p.Wq;
  // Lead and tail around the planes: shared-padding taps and garbage grid points read them.
  const fused = jit?.band !== undefined;
  if (!fused) {
    f32.fill(0, xp0 - p.lead, xp0);
    f32.fill(0, xp0 + gridF, xp0 + gridF + p.tail);
  }
  // Band-gathered layers stage x sample by sample inside the job (the other threads start on the
  // first samples meanwhile); the others before the gather.
  if (!fused) f32.set(x.subarray(0, N * C * H * W), P.xStage >> 2);
  const words = new Int32Array(PARAMS.length);
  for (let k = 0; k < PARAMS.length; k++) words[k] = P[PARAMS[k]];
  const planesT = Math.min(T, p.planes * N);
  // Band-gathered (strided, generated) layers gather inside the kernel job.
  if (!fused) runJob(I.family, GATHER, words, planesT, (next) => ternaryWork(I.E, buf, words, 0, PARAMS, 0, 0, next));
  if (jit !== null && jitWords !== null) {
    let E = jitExports.get(jit.family);
    if (E === undefined) {
      E = new (webAssembly as NonNullable<typeof webAssembly>).Instance(jit.family.module, { env: { memory: I.memory } }).exports;
      jitExports.set(jit.family, E);
    }
    const units = N * jitWords[J_CPS];
    const t = Math.min(T, units);
    const ex = E;
    const chw = C * H * W, stage0 = P.xStage >> 2, ready = jitWords[J_READY] >> 2;
    if (fused) i32[ready] = 0;
    runJob(jit.family, JIT, jitWords, t, (next) => {
      if (fused) {
        try {
          for (let n = 0; n < N; n++) {
            f32.set(x.subarray(n * chw, (n + 1) * chw), stage0 + n * chw);
            Atomics.store(i32, ready, n + 1);
          }
        } finally {
          Atomics.store(i32, ready, N); // never leave a worker waiting, even if the copy threw
        }
      }
      jitWork(ex, I.memory, jitWords, JIT, 0, t, next);
    });
  } else {
    const { posOff, negOff } = offsetsFor(layer, p, N);
    i32.set(posOff, P.posTab >> 2);
    i32.set(negOff, P.negTab >> 2);
    i32.set(layer.posStart, P.posStart >> 2);
    i32.set(layer.negStart, P.negStart >> 2);
    const t = Math.min(T, P.chunks);
    runJob(I.family, TAPS, words, t, (next) => ternaryWork(I.E, buf, words, 0, PARAMS, 0, 1, next));
  }
  out.set(f32.subarray(P.out >> 2, (P.out >> 2) + N * M * OH * OW));
  return true;
}
