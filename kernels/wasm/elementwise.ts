/**
 * Memory-bound elementwise and batch-norm kernels in generated WebAssembly SIMD (f32x4, and f64x2
 * where the TypeScript kernels compute in float64), used by kernels/cpu/elementwise.ts and
 * kernels/cpu/norm.ts where WASM SIMD validates (off with `EC2T_WASM=0` or {@link setElementwiseWasm}).
 *
 * Why: V8 compiles `v > 0 ? v : 0` over random signs to a mispredicted branch (~10 ns per element,
 * measured), and the float64 batch-norm sums to one latency-bound chain per channel. Here relu/relu6
 * and their gradients are branch-free masks (`f32x4.gt` + `v128.and`), and every batch-norm pass runs
 * two f64x2 accumulators per f32x4.
 *
 * Numerics: relu/relu6 (forward, backward) and same-shape add are bit-identical to the TypeScript
 * loops (same comparisons; f32 add equals the double add rounded to f32). Batch-norm elementwise
 * outputs use the same float64 formulas per element, so they are bit-identical given the same
 * per-channel statistics; the statistics' float64 sums run in another order (two lane pairs, then
 * a scalar tail), a difference far below float32 rounding. Still two passes (mean, then squared
 * deviations) so the variance does not suffer E[x²] − E[x]² cancellation.
 *
 * Data lives in the caller's Float32Arrays; each call copies its inputs into the module memory (one
 * `TypedArray.set`, ~20 GB/s), runs in place there and copies the result out. Elementwise ops go in
 * L2-sized chunks; batch norm runs channel by channel so a channel's planes stay in cache across its
 * passes. No allocation per call beyond the first growth of the memory.
 */
import { backendSettings, setBackendSettings } from '../settings.js';
import { F32, F64, I32, ModuleBuilder, V128, type FuncBuilder, type WasmMemory, forRange } from './assembler.js';
import { PAGE, requireWasm, wasmSimdAvailable } from './gemm.js';

/** Bytes 8–15 of a v128 moved to 0–7 (the high two f32 lanes, ready for promote_low). */
const HIGH_HALF = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];
/** Low 8 bytes of the first operand, then low 8 bytes of the second: two demoted pairs → one f32x4. */
const JOIN_LOW = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];

// ---------------------------------------------------------------- flat elementwise (in place over the first array)

type FlatOp = 'relu' | 'relu6' | 'reluBwd' | 'relu6Bwd' | 'add';

/**
 * `op(p, q, n)`: n floats at byte p are rewritten in place; q is the second operand (gradOut of the
 * backward ops — written in place there instead — or b of add). relu: p = p <= 0 ? 0 : p;
 * relu6: p <= 0 ? 0 : (p >= 6 ? 6 : p) — written with <= / >= so NaN passes through, as in
 * PyTorch; reluBwd: q = p > 0 ? q : 0 (p = x); relu6Bwd likewise on (0, 6);
 * add: p = p + q.
 */
function emitFlat(mod: ModuleBuilder, op: FlatOp): void {
  const f = mod.func(op, [I32, I32, I32], []);
  const [p, q, n] = [0, 1, 2];
  const i = f.local(I32), vecEnd = f.local(I32), end = f.local(I32), a = f.local(I32), b = f.local(I32);
  const v = f.local(V128), s = f.local(F32);
  f.get(n).i32Const(4).i32Mul().set(end);
  f.get(n).i32Const(-4).i32And().i32Const(4).i32Mul().set(vecEnd);
  f.i32Const(0).set(i);
  const addrs = (): void => {
    f.get(p).get(i).i32Add().set(a);
    f.get(q).get(i).i32Add().set(b);
  };
  forRange(f, i, vecEnd, 16, () => {
    addrs();
    switch (op) {
      case 'relu':
        // v & ~(v <= 0): a NaN lane compares false and is kept.
        f.get(a).get(a).v128Load().tee(v).get(v).f32x4Const(0).f32x4Le().v128Andnot().v128Store();
        break;
      case 'relu6':
        f.get(a);
        f.f32x4Const(6).get(a).v128Load().tee(v).get(v).f32x4Const(6).f32x4Ge().v128Bitselect();
        f.get(v).f32x4Const(0).f32x4Le().v128Andnot().v128Store();
        break;
      case 'reluBwd':
        f.get(b).get(b).v128Load().get(a).v128Load().f32x4Const(0).f32x4Gt().v128And().v128Store();
        break;
      case 'relu6Bwd':
        f.get(b).get(b).v128Load();
        f.get(a).v128Load().tee(v).f32x4Const(0).f32x4Gt();
        f.get(v).f32x4Const(6).f32x4Lt().v128And();
        f.v128And().v128Store();
        break;
      case 'add':
        f.get(a).get(a).v128Load().get(b).v128Load().f32x4Add().v128Store();
        break;
    }
  });
  forRange(f, i, end, 4, () => {
    addrs();
    switch (op) {
      case 'relu':
        f.get(a).f32Const(0).get(a).f32Load().tee(s).get(s).f32Const(0).f32Le().select().f32Store();
        break;
      case 'relu6':
        f.get(a).f32Const(0);
        f.f32Const(6).get(a).f32Load().tee(s).get(s).f32Const(6).f32Ge().select();
        f.get(s).f32Const(0).f32Le().select().f32Store();
        break;
      case 'reluBwd':
        f.get(b).get(b).f32Load().f32Const(0).get(a).f32Load().f32Const(0).f32Gt().select().f32Store();
        break;
      case 'relu6Bwd':
        f.get(b).get(b).f32Load().f32Const(0);
        f.get(a).f32Load().tee(s).f32Const(0).f32Gt();
        f.get(s).f32Const(6).f32Lt().i32And();
        f.select().f32Store();
        break;
      case 'add':
        f.get(a).get(a).f32Load().get(b).f32Load().f32Add().f32Store();
        break;
    }
  });
}

// ---------------------------------------------------------------- batch norm, one channel per call

/**
 * Emits a function over channel c's planes of one or more [N, C, S] arrays (byte bases in the first
 * `arrays` params, then N, C, S, c, then `extra` params): for n < N, plane (n, c) at
 * base + ((n·C + c)·S)·4. `vec(addrs)` handles 4 floats at those byte addresses, `scalar(addrs)` one.
 */
function emitPlanes(
  mod: ModuleBuilder, name: string, arrays: number, extra: readonly (typeof F64 | typeof I32)[], results: readonly (typeof F64)[],
  body: { pre?: (f: FuncBuilder) => void; vec: (f: FuncBuilder, addrs: number[]) => void; scalar: (f: FuncBuilder, addrs: number[]) => void; post?: (f: FuncBuilder) => void },
): FuncBuilder {
  const params = [...new Array<typeof I32>(arrays + 4).fill(I32), ...extra];
  const f = mod.func(name, params, results);
  const N = arrays, C = arrays + 1, S = arrays + 2, c = arrays + 3;
  const nIdx = f.local(I32), plane = f.local(I32), step = f.local(I32), i = f.local(I32), vecEnd = f.local(I32), end = f.local(I32);
  const addrs: number[] = [];
  for (let k = 0; k < arrays; k++) addrs.push(f.local(I32));
  f.get(S).i32Const(4).i32Mul().set(end);
  f.get(S).i32Const(-4).i32And().i32Const(4).i32Mul().set(vecEnd);
  f.get(C).get(S).i32Mul().i32Const(4).i32Mul().set(step);
  f.get(c).get(S).i32Mul().i32Const(4).i32Mul().set(plane);
  body.pre?.(f);
  f.i32Const(0).set(nIdx);
  forRange(f, nIdx, N, 1, () => {
    f.i32Const(0).set(i);
    const at = (): void => { for (let k = 0; k < arrays; k++) f.get(k).get(plane).i32Add().get(i).i32Add().set(addrs[k]); };
    forRange(f, i, vecEnd, 16, () => { at(); body.vec(f, addrs); });
    forRange(f, i, end, 4, () => { at(); body.scalar(f, addrs); });
    f.get(plane).get(step).i32Add().set(plane);
  });
  body.post?.(f);
  return f;
}

/** Locals of a float64 lane-pair sum: two f64x2 (low and high f32 lanes) and a scalar tail. */
interface Acc { lo: number; hi: number; s: number }
function accLocals(f: FuncBuilder): Acc {
  return { lo: f.local(V128), hi: f.local(V128), s: f.local(F64) };
}
function accZero(f: FuncBuilder, a: Acc): void {
  f.f32x4Const(0).set(a.lo).f32x4Const(0).set(a.hi);
  f.f64Const(0).set(a.s);
}
/** Pushes the accumulated sum: ((lo0 + lo1) + (hi0 + hi1)) + tail, a fixed order. */
function accTotal(f: FuncBuilder, a: Acc): void {
  f.get(a.lo).f64x2ExtractLane(0).get(a.lo).f64x2ExtractLane(1).f64Add();
  f.get(a.hi).f64x2ExtractLane(0).get(a.hi).f64x2ExtractLane(1).f64Add().f64Add();
  f.get(a.s).f64Add();
}
/**
 * Adds the f64x2 pair `lo`/`hi` (computed by `term` from the promoted low / high halves pushed on
 * the stack) into the accumulator.
 */
function accVec(f: FuncBuilder, a: Acc, src: number, term: (half: 'lo' | 'hi') => void): void {
  f.get(a.lo).get(src).f64x2PromoteLowF32x4(); term('lo'); f.f64x2Add().set(a.lo);
  f.get(a.hi).get(src).get(src).i8x16Shuffle(HIGH_HALF).f64x2PromoteLowF32x4(); term('hi'); f.f64x2Add().set(a.hi);
}

function emitBatchNorm(mod: ModuleBuilder): void {
  // bnSum(x, N, C, S, c) -> Σ x
  {
    let acc: Acc;
    const t = { v: 0 };
    emitPlanes(mod, 'bnSum', 1, [], [F64], {
      pre: (f) => { acc = accLocals(f); t.v = f.local(V128); accZero(f, acc); },
      vec: (f, [x]) => { f.get(x).v128Load().set(t.v); accVec(f, acc, t.v, () => {}); },
      scalar: (f, [x]) => { f.get(acc.s).get(x).f32Load().f64PromoteF32().f64Add().set(acc.s); },
      post: (f) => accTotal(f, acc),
    });
  }
  // bnSqDev(x, N, C, S, c, mean) -> Σ (x − mean)²
  {
    let acc: Acc;
    const l = { v: 0, m: 0, d: 0, ds: 0 };
    const mean = 5;
    emitPlanes(mod, 'bnSqDev', 1, [F64], [F64], {
      pre: (f) => {
        acc = accLocals(f); l.v = f.local(V128); l.m = f.local(V128); l.d = f.local(V128); l.ds = f.local(F64);
        accZero(f, acc); f.get(mean).f64x2Splat().set(l.m);
      },
      vec: (f, [x]) => {
        f.get(x).v128Load().set(l.v);
        accVec(f, acc, l.v, () => { f.get(l.m).f64x2Sub().tee(l.d).get(l.d).f64x2Mul(); });
      },
      scalar: (f, [x]) => {
        f.get(acc.s).get(x).f32Load().f64PromoteF32().get(mean).f64Sub().tee(l.ds).get(l.ds).f64Mul().f64Add().set(acc.s);
      },
      post: (f) => accTotal(f, acc),
    });
  }
  // bnAffine(x, y, N, C, S, c, scale, shift): y = f32(x·scale + shift) in float64
  // bnScale(x, y, N, C, S, c, scale): y = f32(x·scale)
  for (const withShift of [true, false]) {
    const l = { v: 0, sc: 0, sh: 0, lo: 0 };
    const scale = 6, shift = 7;
    emitPlanes(mod, withShift ? 'bnAffine' : 'bnScale', 2, withShift ? [F64, F64] : [F64], [], {
      pre: (f) => {
        l.v = f.local(V128); l.sc = f.local(V128); l.sh = f.local(V128); l.lo = f.local(V128);
        f.get(scale).f64x2Splat().set(l.sc);
        if (withShift) { f.get(shift).f64x2Splat().set(l.sh); }
      },
      vec: (f, [x, y]) => {
        f.get(y);
        f.get(x).v128Load().tee(l.v).f64x2PromoteLowF32x4().get(l.sc).f64x2Mul();
        if (withShift) { f.get(l.sh).f64x2Add(); }
        f.f32x4DemoteF64x2Zero();
        f.get(l.v).get(l.v).i8x16Shuffle(HIGH_HALF).f64x2PromoteLowF32x4().get(l.sc).f64x2Mul();
        if (withShift) { f.get(l.sh).f64x2Add(); }
        f.f32x4DemoteF64x2Zero();
        f.i8x16Shuffle(JOIN_LOW);
        f.v128Store();
      },
      scalar: (f, [x, y]) => {
        f.get(y).get(x).f32Load().f64PromoteF32().get(scale).f64Mul();
        if (withShift) { f.get(shift).f64Add(); }
        f.f32DemoteF64().f32Store();
      },
    });
  }
  // bnBwdSums(x, dy, N, C, S, c, out, mu) -> Σ dy; stores Σ dy·(x − mu) as f64 at byte `out`.
  {
    let a1: Acc, a2: Acc;
    const l = { vx: 0, vd: 0, m: 0, ts: 0 };
    const out = 6, mu = 7;
    emitPlanes(mod, 'bnBwdSums', 2, [I32, F64], [F64], {
      pre: (f) => {
        a1 = accLocals(f); a2 = accLocals(f); l.vx = f.local(V128); l.vd = f.local(V128); l.m = f.local(V128); l.ts = f.local(F64);
        accZero(f, a1); accZero(f, a2); f.get(mu).f64x2Splat().set(l.m);
      },
      vec: (f, [x, dy]) => {
        f.get(dy).v128Load().set(l.vd);
        f.get(x).v128Load().set(l.vx);
        accVec(f, a1, l.vd, () => {});
        // Σ dy·(x − mu): the promoted dy half times the promoted x half minus mu.
        f.get(a2.lo).get(l.vd).f64x2PromoteLowF32x4().get(l.vx).f64x2PromoteLowF32x4().get(l.m).f64x2Sub().f64x2Mul().f64x2Add().set(a2.lo);
        f.get(a2.hi).get(l.vd).get(l.vd).i8x16Shuffle(HIGH_HALF).f64x2PromoteLowF32x4();
        f.get(l.vx).get(l.vx).i8x16Shuffle(HIGH_HALF).f64x2PromoteLowF32x4().get(l.m).f64x2Sub().f64x2Mul().f64x2Add().set(a2.hi);
      },
      scalar: (f, [x, dy]) => {
        f.get(dy).f32Load().f64PromoteF32().tee(l.ts);
        f.get(a1.s).f64Add().set(a1.s); // NOTE: dy + s equals s + dy (IEEE add commutes)
        f.get(a2.s).get(l.ts).get(x).f32Load().f64PromoteF32().get(mu).f64Sub().f64Mul().f64Add().set(a2.s);
      },
      post: (f) => {
        f.get(out); accTotal(f, a2); f.f64Store();
        accTotal(f, a1);
      },
    });
  }
  // bnBwdDx(x, dy, dx, N, C, S, c, k, meanDy, mu, proj): dx = f32(k·((dy − meanDy) − (x − mu)·proj)) in float64
  {
    const l = { vx: 0, vd: 0, k: 0, md: 0, m: 0, p: 0 };
    const [k, meanDy, mu, proj] = [7, 8, 9, 10];
    const half = (f: FuncBuilder, hi: boolean): void => {
      const load = (v: number): void => { f.get(v); if (hi) { f.get(v).i8x16Shuffle(HIGH_HALF); } f.f64x2PromoteLowF32x4(); };
      f.get(l.k);
      load(l.vd); f.get(l.md).f64x2Sub();
      load(l.vx); f.get(l.m).f64x2Sub().get(l.p).f64x2Mul();
      f.f64x2Sub().f64x2Mul().f32x4DemoteF64x2Zero();
    };
    emitPlanes(mod, 'bnBwdDx', 3, [F64, F64, F64, F64], [], {
      pre: (f) => {
        l.vx = f.local(V128); l.vd = f.local(V128); l.k = f.local(V128); l.md = f.local(V128); l.m = f.local(V128); l.p = f.local(V128);
        f.get(k).f64x2Splat().set(l.k);
        f.get(meanDy).f64x2Splat().set(l.md);
        f.get(mu).f64x2Splat().set(l.m);
        f.get(proj).f64x2Splat().set(l.p);
      },
      vec: (f, [x, dy, dx]) => {
        f.get(dx);
        f.get(dy).v128Load().set(l.vd);
        f.get(x).v128Load().set(l.vx);
        half(f, false); half(f, true); f.i8x16Shuffle(JOIN_LOW);
        f.v128Store();
      },
      scalar: (f, [x, dy, dx]) => {
        f.get(dx).get(k);
        f.get(dy).f32Load().f64PromoteF32().get(meanDy).f64Sub();
        f.get(x).f32Load().f64PromoteF32().get(mu).f64Sub().get(proj).f64Mul();
        f.f64Sub().f64Mul().f32DemoteF64().f32Store();
      },
    });
  }
}

/** The module bytes: flat relu/relu6/add kernels and the batch-norm channel passes over one memory. */
export function elementwiseModuleBytes(): Uint8Array {
  const mod = new ModuleBuilder({ initialPages: 1 });
  for (const op of ['relu', 'relu6', 'reluBwd', 'relu6Bwd', 'add'] as const) emitFlat(mod, op);
  emitBatchNorm(mod);
  return mod.bytes();
}

// ---------------------------------------------------------------- instance and switches

type Flat = (p: number, q: number, n: number) => void;
interface Exports {
  relu: Flat; relu6: Flat; reluBwd: Flat; relu6Bwd: Flat; add: Flat;
  bnSum: (x: number, N: number, C: number, S: number, c: number) => number;
  bnSqDev: (x: number, N: number, C: number, S: number, c: number, mean: number) => number;
  bnAffine: (x: number, y: number, N: number, C: number, S: number, c: number, scale: number, shift: number) => void;
  bnScale: (x: number, y: number, N: number, C: number, S: number, c: number, scale: number) => void;
  bnBwdSums: (x: number, dy: number, N: number, C: number, S: number, c: number, out: number, mu: number) => number;
  bnBwdDx: (x: number, dy: number, dx: number, N: number, C: number, S: number, c: number, k: number, meanDy: number, mu: number, proj: number) => void;
}
interface Inst { memory: WasmMemory; f32: Float32Array; f64: Float64Array; E: Exports }

const AVAILABLE = wasmSimdAvailable().available;
let inst: Inst | undefined;

/** Elements per chunk of the flat ops: input + operand stay in L2 (2 × 256 KiB). */
const CHUNK = 1 << 16;
/** Below this many elements the TypeScript loop wins (the call and copies cost ~1 µs). */
const MIN_ELEMENTS = 64;
/** Largest batch-norm tensor handled here (bytes of module memory); bigger ones stay in TypeScript. */
const MAX_BYTES = 1 << 30;

/**
 * Turns the WASM elementwise/batch-norm path on or off (tests, benchmarks); returns whether it is
 * available here. Off or unavailable: the TypeScript loops of kernels/cpu.
 * @example setElementwiseWasm(false); // measure the TypeScript path
 */
export function setElementwiseWasm(on: boolean): boolean {
  setBackendSettings({ wasmElementwise: on });
  return AVAILABLE;
}

// `wasmElementwise: false` (`EC2T_WASM_ELEMENTWISE=0`) turns only this path off, to measure it against the TypeScript loops.
function on(): boolean {
  const s = backendSettings();
  return s.wasm && s.wasmElementwise;
}

function instance(bytes: number): Inst {
  if (inst === undefined) {
    const wa = requireWasm();
    const memory = new wa.Memory({ initial: 1 });
    const e = new wa.Instance(new wa.Module(elementwiseModuleBytes()), { env: { memory } }).exports as unknown as Exports;
    inst = { memory, f32: new Float32Array(memory.buffer), f64: new Float64Array(memory.buffer), E: e };
  }
  const have = inst.memory.buffer.byteLength;
  if (have < bytes) {
    inst.memory.grow(Math.ceil((bytes - have) / PAGE));
    inst.f32 = new Float32Array(inst.memory.buffer);
    inst.f64 = new Float64Array(inst.memory.buffer);
  }
  return inst;
}

const up16 = (floats: number): number => Math.ceil(floats / 16) * 16;

// ---------------------------------------------------------------- kernels (each returns false when it did not run)

/**
 * relu / relu6 forward: out[i] = op(x[i]) as the TypeScript loop; false (nothing done) when the
 * path is off or the op is not one of these.
 * @example if (!wasmUnary('relu', x, out)) unaryTs('relu', x, out);
 */
export function wasmUnary(op: string, x: Float32Array, out: Float32Array): boolean {
  if (!AVAILABLE || !on() || (op !== 'relu' && op !== 'relu6') || x.length < MIN_ELEMENTS) return false;
  const I = instance(CHUNK * 4);
  const fn = op === 'relu' ? I.E.relu : I.E.relu6;
  const n = x.length;
  for (let o = 0; o < n; o += CHUNK) {
    const m = Math.min(CHUNK, n - o);
    I.f32.set(x.subarray(o, o + m), 0);
    fn(0, 0, m);
    out.set(I.f32.subarray(0, m), o);
  }
  return true;
}

/**
 * relu / relu6 backward: gx[i] = x[i] inside the linear piece ? g[i] : 0.
 * @example if (!wasmUnaryBackward('relu', x, g, gx)) ...
 */
export function wasmUnaryBackward(op: string, x: Float32Array, g: Float32Array, gx: Float32Array): boolean {
  if (!AVAILABLE || !on() || (op !== 'relu' && op !== 'relu6') || x.length < MIN_ELEMENTS) return false;
  const I = instance(2 * CHUNK * 4);
  const fn = op === 'relu' ? I.E.reluBwd : I.E.relu6Bwd;
  const n = x.length;
  for (let o = 0; o < n; o += CHUNK) {
    const m = Math.min(CHUNK, n - o);
    I.f32.set(x.subarray(o, o + m), 0);
    I.f32.set(g.subarray(o, o + m), CHUNK);
    fn(0, CHUNK * 4, m);
    gx.set(I.f32.subarray(CHUNK, CHUNK + m), o);
  }
  return true;
}

/**
 * Same-length contiguous add: out = a + b (f32). The caller checks the operands are not broadcast.
 * @example if (!wasmAdd(a, b, out)) ...
 */
export function wasmAdd(a: Float32Array, b: Float32Array, out: Float32Array): boolean {
  const n = out.length;
  if (!AVAILABLE || !on() || n < MIN_ELEMENTS) return false;
  const I = instance(2 * CHUNK * 4);
  for (let o = 0; o < n; o += CHUNK) {
    const m = Math.min(CHUNK, n - o);
    I.f32.set(a.subarray(o, o + m), 0);
    I.f32.set(b.subarray(o, o + m), CHUNK);
    I.E.add(0, CHUNK * 4, m);
    out.set(I.f32.subarray(0, m), o);
  }
  return true;
}

/** Geometry of the batch-norm helpers (same as kernels/types BatchNormGeometry). */
interface BnGeometry { readonly batch: number; readonly channels: number; readonly spatial: number }

function bnFits(n: number, arrays: number): boolean {
  return AVAILABLE && on() && n >= MIN_ELEMENTS && (arrays * up16(n) + 16) * 4 <= MAX_BYTES;
}

/**
 * Training-mode batch-norm forward, same contract and float64 formulas as `batchNormForwardTrainCpu`.
 * @example if (!wasmBatchNormForwardTrain(x, w, b, 1e-5, out, mean, variance, g)) ...
 */
export function wasmBatchNormForwardTrain(
  x: Float32Array, weight: Float32Array | null, bias: Float32Array | null, eps: number,
  out: Float32Array, saveMean: Float32Array, saveVar: Float32Array, g: BnGeometry,
): boolean {
  const n = g.batch * g.channels * g.spatial;
  if (!bnFits(n, 1)) return false;
  const I = instance(up16(n) * 4);
  I.f32.set(x.subarray(0, n), 0);
  const { batch: N, channels: C, spatial: S } = g;
  const count = N * S;
  const E = I.E;
  for (let c = 0; c < C; c++) {
    const mean = E.bnSum(0, N, C, S, c) / count;
    const variance = E.bnSqDev(0, N, C, S, c, mean) / count;
    const scale = (weight === null ? 1 : weight[c]) / Math.sqrt(variance + eps);
    const shift = (bias === null ? 0 : bias[c]) - mean * scale;
    E.bnAffine(0, 0, N, C, S, c, scale, shift);
    saveMean[c] = mean;
    saveVar[c] = variance;
  }
  out.set(I.f32.subarray(0, n));
  return true;
}

/**
 * Evaluation-mode batch-norm forward, as `batchNormForwardEvalCpu`.
 * @example if (!wasmBatchNormForwardEval(x, w, b, mean, invstd, out, g)) ...
 */
export function wasmBatchNormForwardEval(
  x: Float32Array, weight: Float32Array | null, bias: Float32Array | null, mean: Float32Array, invstd: Float32Array,
  out: Float32Array, g: BnGeometry,
): boolean {
  const n = g.batch * g.channels * g.spatial;
  if (!bnFits(n, 1)) return false;
  const I = instance(up16(n) * 4);
  I.f32.set(x.subarray(0, n), 0);
  const { batch: N, channels: C, spatial: S } = g;
  for (let c = 0; c < C; c++) {
    const scale = (weight === null ? 1 : weight[c]) * invstd[c];
    const shift = (bias === null ? 0 : bias[c]) - mean[c] * scale;
    I.E.bnAffine(0, 0, N, C, S, c, scale, shift);
  }
  out.set(I.f32.subarray(0, n));
  return true;
}

/**
 * Batch-norm backward, as `batchNormBackwardCpu` (any of gradX/gradWeight/gradBias may be null).
 * @example if (!wasmBatchNormBackward(x, dy, w, mean, invstd, true, dx, dw, db, g)) ...
 */
export function wasmBatchNormBackward(
  x: Float32Array, gradOut: Float32Array, weight: Float32Array | null, mean: Float32Array, invstd: Float32Array, batchStats: boolean,
  gradX: Float32Array | null, gradWeight: Float32Array | null, gradBias: Float32Array | null, g: BnGeometry,
): boolean {
  const n = g.batch * g.channels * g.spatial;
  if (!bnFits(n, 2)) return false;
  const DY = up16(n);
  const SCRATCH = 2 * DY;
  const I = instance((SCRATCH + 16) * 4);
  I.f32.set(x.subarray(0, n), 0);
  I.f32.set(gradOut.subarray(0, n), DY);
  const { batch: N, channels: C, spatial: S } = g;
  const count = N * S;
  const E = I.E;
  for (let c = 0; c < C; c++) {
    const mu = mean[c];
    const is = invstd[c];
    const sumDy = E.bnBwdSums(0, DY * 4, N, C, S, c, SCRATCH * 4, mu);
    const sumDyXc = I.f64[SCRATCH / 2];
    if (gradWeight !== null) gradWeight[c] = sumDyXc * is;
    if (gradBias !== null) gradBias[c] = sumDy;
    if (gradX === null) continue;
    const k = (weight === null ? 1 : weight[c]) * is;
    if (batchStats) E.bnBwdDx(0, DY * 4, DY * 4, N, C, S, c, k, sumDy / count, mu, sumDyXc * is * is / count);
    else E.bnScale(DY * 4, DY * 4, N, C, S, c, k);
  }
  if (gradX !== null) gradX.set(I.f32.subarray(DY, DY + n));
  return true;
}
