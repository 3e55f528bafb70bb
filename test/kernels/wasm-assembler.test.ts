/**
 * The WebAssembly binary emitter: LEB128 encodings against the spec's examples and as round trips,
 * and emitted modules that validate and compute small things correctly (integer loops, memory,
 * f32x4 arithmetic, shared memories, relaxed SIMD where the runtime has it).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  F32, FuncBuilder, I32, ModuleBuilder, V128, type WasmApi, relaxedSimdSupported, simdSupported, sleb, uleb, webAssembly,
} from '../../kernels/wasm/assembler.js';

const SEED = 20240612;
const wa = webAssembly as WasmApi;

function decodeU(bytes: number[]): number {
  let v = 0;
  let scale = 1;
  for (const b of bytes) {
    v += (b & 0x7f) * scale;
    scale *= 128;
  }
  return v;
}
function decodeS(bytes: number[]): number {
  let v = 0;
  let shift = 0;
  for (const b of bytes) {
    v |= (b & 0x7f) << shift;
    shift += 7;
  }
  const last = bytes[bytes.length - 1];
  if (shift < 32 && (last & 0x40) !== 0) v |= -1 << shift;
  return v | 0;
}

test('LEB128: spec examples and round trips', () => {
  assert.deepEqual(uleb(0), [0]);
  assert.deepEqual(uleb(127), [0x7f]);
  assert.deepEqual(uleb(128), [0x80, 0x01]);
  assert.deepEqual(uleb(624485), [0xe5, 0x8e, 0x26]);
  assert.deepEqual(sleb(0), [0]);
  assert.deepEqual(sleb(63), [0x3f]);
  assert.deepEqual(sleb(64), [0xc0, 0x00]);
  assert.deepEqual(sleb(-64), [0x40]);
  assert.deepEqual(sleb(-65), [0xbf, 0x7f]);
  assert.deepEqual(sleb(-123456), [0xc0, 0xbb, 0x78]);
  assert.throws(() => uleb(-1), RangeError);
  assert.throws(() => sleb(2 ** 33), RangeError);
  fc.assert(fc.property(fc.nat({ max: 2 ** 32 - 1 }), (v) => {
    const e = uleb(v);
    assert.equal(decodeU(e), v);
    assert.ok(e.slice(0, -1).every((b) => b >= 0x80) && e[e.length - 1] < 0x80);
  }), { seed: SEED, numRuns: 500 });
  fc.assert(fc.property(fc.integer(), (v) => {
    const e = sleb(v);
    assert.equal(decodeS(e), v);
    assert.ok(e.length <= 5);
  }), { seed: SEED, numRuns: 500 });
});

/** Builds, validates and instantiates over a fresh memory of `pages`. */
function build(emit: (mod: ModuleBuilder) => void, pages = 1, shared = false): { exports: Record<string, unknown>; memory: { buffer: ArrayBuffer | SharedArrayBuffer } } {
  const mod = new ModuleBuilder({ initialPages: pages, maximumPages: shared ? 16 : undefined, shared });
  emit(mod);
  const bytes = mod.bytes();
  assert.ok(wa.validate(bytes), 'emitted module must validate');
  const memory = new wa.Memory({ initial: pages, maximum: shared ? 16 : undefined, shared });
  return { exports: new wa.Instance(new wa.Module(bytes), { env: { memory } }).exports, memory };
}

test('integer arithmetic, locals, loops and branches: sum of i32s in memory and a factorial', () => {
  const { exports, memory } = build((mod) => {
    // sum(ptr, n): Σ i32 at ptr..ptr+4n (n may be 0)
    const f = mod.func('sum', [I32, I32], [I32]);
    const acc = f.local(I32);
    const end = f.local(I32);
    f.get(0).get(1).i32Const(2).i32Shl().i32Add().set(end);
    f.block().loop();
    f.get(0).get(end).i32GeS().brIf(1);
    f.get(acc).get(0).i32Load().i32Add().set(acc);
    f.get(0).i32Const(4).i32Add().set(0);
    f.br(0).end().end();
    f.get(acc);
    // fact(n) with if/else
    const g = mod.func('fact', [I32], [I32]);
    const r = g.local(I32);
    g.i32Const(1).set(r);
    g.get(0).i32Const(1).i32GtS().if();
    g.loop().get(r).get(0).i32Mul().set(r).get(0).i32Const(1).i32Sub().tee(0).i32Const(1).i32GtS().brIf(0).end();
    g.end().get(r);
  });
  const mem = new Int32Array(memory.buffer);
  const vals = [5, -3, 100000, 7, 2 ** 30];
  mem.set(vals, 4);
  const sum = exports.sum as (p: number, n: number) => number;
  assert.equal(sum(16, vals.length), vals.reduce((s, v) => (s + v) | 0, 0));
  assert.equal(sum(16, 0), 0);
  assert.equal((exports.fact as (n: number) => number)(10), 3628800);
  assert.equal((exports.fact as (n: number) => number)(0), 1);
});

test('f32 scalar ops and stores', () => {
  const { exports, memory } = build((mod) => {
    const f = mod.func('axpy1', [I32, F32], []);
    // mem[p] = mem[p] * s + 0.5
    f.get(0).get(0).f32Load().get(1).f32Mul().f32Const(0.5).f32Add().f32Store();
  });
  const m = new Float32Array(memory.buffer);
  m[3] = 1.25;
  (exports.axpy1 as (p: number, s: number) => void)(12, 4);
  assert.equal(m[3], 5.5);
});

test('f32x4: load/store/splat/load32_splat/add/sub/mul/extract_lane', { skip: simdSupported() ? false : 'WebAssembly SIMD unavailable' }, () => {
  const { exports, memory } = build((mod) => {
    // out[0..4) = (x[0..4) + y[0..4)) * s - splat(x[0]); returns lane 2
    const f = mod.func('k', [I32, I32, I32, F32], [F32]);
    const t = f.local(V128);
    f.get(2);
    f.get(0).v128Load().get(1).v128Load().f32x4Add().get(3).f32x4Splat().f32x4Mul().get(0).v128Load32Splat().f32x4Sub().tee(t);
    f.v128Store();
    f.get(t).f32x4ExtractLane(2);
    const g = mod.func('fill', [I32], []);
    g.get(0).f32x4Const(2.5).v128Store(16);
  });
  const m = new Float32Array(memory.buffer);
  m.set([1, 2, 3, 4], 0);
  m.set([10, 20, 30, 40], 4);
  const lane = (exports.k as (x: number, y: number, o: number, s: number) => number)(0, 16, 32, 2);
  assert.deepEqual([...m.subarray(8, 12)], [21, 43, 65, 87]);
  assert.equal(lane, 65);
  (exports.fill as (p: number) => void)(64);
  assert.deepEqual([...m.subarray(20, 24)], [2.5, 2.5, 2.5, 2.5]);
});

test('relaxed SIMD madd computes a·b + c', { skip: relaxedSimdSupported() ? false : 'relaxed SIMD unavailable (Node 20: --experimental-wasm-relaxed-simd)' }, () => {
  const { exports, memory } = build((mod) => {
    const f = mod.func('madd', [I32], []);
    f.get(0).get(0).v128Load().get(0).v128Load(16).get(0).v128Load(32).f32x4RelaxedMadd().v128Store(48);
  });
  const m = new Float32Array(memory.buffer);
  m.set([1, 2, 3, 4, 5, 6, 7, 8, 0.5, 0.5, 0.5, 0.5]);
  (exports.madd as (p: number) => void)(0);
  assert.deepEqual([...m.subarray(12, 16)], [5.5, 12.5, 21.5, 32.5]);
});

test('a shared imported memory validates and is visible through a SharedArrayBuffer', () => {
  const { exports, memory } = build((mod) => {
    const f = mod.func('store', [I32, I32], []);
    f.get(0).get(1).i32Store();
  }, 1, true);
  assert.ok(memory.buffer instanceof SharedArrayBuffer);
  (exports.store as (p: number, v: number) => void)(8, 42);
  assert.equal(new Int32Array(memory.buffer)[2], 42);
});

test('builder details: locals in runs of types, raw bytes, exports by name', () => {
  const mod = new ModuleBuilder({ initialPages: 0 });
  const f: FuncBuilder = mod.func('mix', [I32], [I32]);
  assert.equal(f.local(I32), 1);
  assert.equal(f.local(F32), 2);
  assert.equal(f.local(I32), 3);
  f.get(0).raw(0x41, 0x02).i32Add().set(3).get(3).drop().get(0).return();
  const bytes = mod.bytes();
  assert.ok(wa.validate(bytes));
  const memory = new wa.Memory({ initial: 0 });
  assert.equal((new wa.Instance(new wa.Module(bytes), { env: { memory } }).exports.mix as (x: number) => number)(40), 40);
  assert.throws(() => new ModuleBuilder({ initialPages: 1, shared: true }).bytes(), RangeError);
});

test('named scalar, f64x2 and bitwise opcodes encode as the spec tables give them', () => {
  const code = (emit: (f: FuncBuilder) => void): number[] => {
    const f = new FuncBuilder('t', [], []);
    emit(f);
    return f.code;
  };
  // Core spec §5.4 (numeric, parametric, memory) and the SIMD proposal's opcode table (prefix 0xfd, uleb opcode).
  assert.deepEqual(code((f) => f.select()), [0x1b]);
  assert.deepEqual(code((f) => f.f32Lt().f32Gt().f32Le().f32Ge()), [0x5d, 0x5e, 0x5f, 0x60]);
  assert.deepEqual(code((f) => f.f64Add().f64Sub().f64Mul().f32DemoteF64().f64PromoteF32()), [0xa0, 0xa1, 0xa2, 0xb6, 0xbb]);
  assert.deepEqual(code((f) => f.f64Store(0)), [0x39, 3, 0]);
  assert.deepEqual(code((f) => f.f64Const(0)), [0x44, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(code((f) => f.f64Const(1)), [0x44, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f]);
  assert.deepEqual(code((f) => f.f32x4Lt().f32x4Gt().f32x4Le().f32x4Ge()), [0xfd, 0x43, 0xfd, 0x44, 0xfd, 0x45, 0xfd, 0x46]);
  assert.deepEqual(code((f) => f.v128And().v128Andnot().v128Bitselect()), [0xfd, 0x4e, 0xfd, 0x4f, 0xfd, 0x52]);
  assert.deepEqual(code((f) => f.f64x2Splat().f64x2ExtractLane(1)), [0xfd, 0x14, 0xfd, 0x21, 1]);
  assert.deepEqual(code((f) => f.f32x4DemoteF64x2Zero().f64x2PromoteLowF32x4()), [0xfd, 0x5e, 0xfd, 0x5f]);
  // Opcodes ≥ 0x80 take two uleb bytes.
  assert.deepEqual(code((f) => f.f64x2Add().f64x2Sub().f64x2Mul()), [0xfd, 0xf0, 0x01, 0xfd, 0xf1, 0x01, 0xfd, 0xf2, 0x01]);
  const lanes = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];
  assert.deepEqual(code((f) => f.i8x16Shuffle(lanes)), [0xfd, 0x0d, ...lanes]);
  assert.throws(() => code((f) => f.i8x16Shuffle([0, 1])), RangeError);
});

test('f64x2 lane-pair arithmetic and f32x4 compares compute what their names say', { skip: simdSupported() ? false : 'WebAssembly SIMD unavailable' }, () => {
  // widen(x)·2 + 1 per low lane pair, demoted back, and the mask of x > 0: f32 values exact in both widths.
  const mod = new ModuleBuilder({ initialPages: 1 });
  const f = mod.func('run', [I32], []);
  f.get(0).i32Const(16).i32Add();
  f.get(0).v128Load().f64x2PromoteLowF32x4().f64Const(2).f64x2Splat().f64x2Mul().f64Const(1).f64x2Splat().f64x2Add().f32x4DemoteF64x2Zero();
  f.v128Store();
  f.get(0).i32Const(32).i32Add().get(0).v128Load().f32x4Const(0).f32x4Gt().v128Store();
  const memory = new wa.Memory({ initial: 1 });
  const run = new wa.Instance(new wa.Module(mod.bytes()), { env: { memory } }).exports.run as (p: number) => void;
  const f32 = new Float32Array(memory.buffer);
  f32.set([1.5, -3, 7, -0.25], 0);
  run(0);
  assert.deepEqual(Array.from(f32.subarray(4, 8)), [4, -5, 0, 0]);
  assert.deepEqual(Array.from(new Int32Array(memory.buffer, 32, 4)), [-1, 0, -1, 0]);
});

test('relaxed SIMD needs no command-line flag on Node with process.getBuiltinModule (Node ≥ 20.16)', (t) => {
  const hasBuiltin = typeof (process as { getBuiltinModule?: unknown }).getBuiltinModule === 'function';
  if (!hasBuiltin) return t.skip('this Node has no process.getBuiltinModule');
  assert.ok(!process.execArgv.includes('--experimental-wasm-relaxed-simd'), 'run without the flag to test this');
  assert.equal(relaxedSimdSupported(), true);
  // The opcode validates in a fresh module too, not only in the probe.
  const mod = new ModuleBuilder({ initialPages: 0 });
  mod.func('madd', [V128, V128, V128], [V128]).get(0).get(1).get(2).f32x4RelaxedMadd();
  assert.equal(wa.validate(mod.bytes()), true);
});
