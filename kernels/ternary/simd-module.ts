/**
 * The generic WebAssembly SIMD module of the ternary conv (one per process, see simd.ts): tap sums
 * over a tap table (`taps`), the `w_p·P − w_n·N + b` output rows (`rows`), and the two input layouts'
 * gathers: stride-1 shared-padding planes (`plane`) and strided phase planes (`gather`).
 */
import { F32, I32, ModuleBuilder, type FuncBuilder, forRange } from '../wasm/assembler.js';

/** Grid points per chunk (two accumulators of this size stay in L1). */
export const SIMD_CHUNK = 2048;
/** Most pages of the shared memory (1 GiB). */
export const MAX_PAGES = 16384;
/** Bytes per WebAssembly page. */
export const PAGE = 65536;

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

/**
 * What differs between the float gather and the integer path's quantizing one (./int-gather.ts);
 * {@link emitRowGather} writes the rest. Callbacks emit code reading at local `sp` (and, scalar,
 * storing at local `d`).
 */
export interface RowGatherSpec {
  /** Bytes of one stored element: 4 (float32 planes) or 2 (int16). */
  readonly elemBytes: 4 | 2;
  /** Values one vector store writes (4 float32 or 8 int16). */
  readonly perVector: 4 | 8;
  /** Pushes the next vector of values for column step `step` bytes (4: adjacent floats, 8: every other one). */
  readonly vector: (f: FuncBuilder, sp: number, step: 4 | 8) => void;
  /** Stores the value at `sp` (its element at `d`); any other column step. */
  readonly scalar: (f: FuncBuilder, sp: number, d: number) => void;
  /** Stores a zero element at `d`. */
  readonly zero: (f: FuncBuilder, d: number) => void;
}

/**
 * A gather's body over its parameters `(src, dst, uLo, uHi, vLo, vHi, Hq, Wq, src0, rowStepB,
 * colStepB)`: Hq rows of Wq elements at `dst`; rows [uLo, uHi) × columns [vLo, vHi) come from
 * `src0 + (u−uLo)·rowStepB + (v−vLo)·colStepB`, everything else is 0. Column steps 4 and 8 run a
 * vector at a time, reading up to 8 floats past a run (the staging area and arena regions have that
 * slack); padding rows are zeroed a vector at a time.
 * @example emitRowGather(mod.func('gather', params, []), floatRows)
 */
export function emitRowGather(f: FuncBuilder, spec: RowGatherSpec): void {
  const [, dst, uLo, uHi, vLo, vHi, Hq, Wq, src0, rowStepB, colStepB] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const u = f.local(I32), v = f.local(I32), sp = f.local(I32), d = f.local(I32), vEnd = f.local(I32);
  const P = spec.perVector, E = spec.elemBytes;
  const zero = (): void => { spec.zero(f, d); f.get(d).i32Const(E).i32Add().set(d); };
  // while (v + P <= limit) { body; d += 16; v += P } — signed: limit − (P − 1) is negative for runs
  // shorter than a vector (forRange compares unsigned).
  const vectors = (limit: number, body: () => void): void => {
    f.get(limit).i32Const(P - 1).i32Sub().set(vEnd);
    f.block();
    f.loop();
    f.get(v).get(vEnd).i32LtS().i32Eqz().brIf(1);
    body();
    f.get(d).i32Const(16).i32Add().set(d);
    f.get(v).i32Const(P).i32Add().set(v);
    f.br(0);
    f.end();
    f.end();
  };
  f.get(dst).set(d);
  f.i32Const(0).set(u);
  forRange(f, u, Hq, 1, () => {
    f.get(u).get(uLo).i32GeS().get(u).get(uHi).i32LtS().i32And();
    f.if();
    f.get(src0).get(u).get(uLo).i32Sub().get(rowStepB).i32Mul().i32Add().set(sp);
    // Zeros, the source run, zeros: no per-element range test.
    f.i32Const(0).set(v);
    forRange(f, v, vLo, 1, zero);
    for (const step of [4, 8] as const) {
      f.get(colStepB).i32Const(step).i32Eq();
      f.if();
      vectors(vHi, () => {
        f.get(d);
        spec.vector(f, sp, step);
        f.v128Store();
        f.get(sp).i32Const(P * step).i32Add().set(sp);
      });
      f.end();
    }
    forRange(f, v, vHi, 1, () => {
      spec.scalar(f, sp, d);
      f.get(sp).get(colStepB).i32Add().set(sp);
      f.get(d).i32Const(E).i32Add().set(d);
    });
    forRange(f, v, Wq, 1, zero);
    f.else();
    // A row outside the input (padding).
    f.i32Const(0).set(v);
    vectors(Wq, () => { f.get(d).f32x4Const(0).v128Store(); });
    forRange(f, v, Wq, 1, zero);
    f.end();
  });
}

/** The float gather: values copied (column step 8: the even lanes of two loads). */
export function emitGather(mod: ModuleBuilder): void {
  emitRowGather(mod.func('gather', [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32], []), {
    elemBytes: 4,
    perVector: 4,
    vector: (f, sp, step) => {
      if (step === 4) f.get(sp).v128Load();
      else f.get(sp).v128Load().get(sp).v128Load(16).raw(0xfd, 0x0d, ...EVEN_LANES);
    },
    scalar: (f, sp, d) => { f.get(d).get(sp).f32Load().f32Store(); },
    zero: (f, d) => { f.get(d).f32Const(0).f32Store(); },
  });
}

/**
 * Whether this engine has shared memory. Without it (a page that is not cross-origin isolated) the
 * ternary modules import an ordinary memory and every job runs on the calling thread, with the
 * same code and the same partition, so the bits are those of the threaded path.
 */
export const SHARED_MEMORY = typeof SharedArrayBuffer !== 'undefined';

export function moduleBytes(): Uint8Array {
  const mod = new ModuleBuilder({ initialPages: 1, maximumPages: MAX_PAGES, shared: SHARED_MEMORY });
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

