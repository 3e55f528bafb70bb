/**
 * A tiny WebAssembly binary emitter: just enough of the format to generate SIMD micro-kernels at
 * run time from TypeScript, so the project needs no external toolchain (no wat2wasm, no emscripten).
 *
 * Scope: one module with an imported memory (optionally shared, for worker threads), a few
 * functions with i32/f32/v128 params and locals, exported by name, and the handful of opcodes the
 * kernels use: i32 arithmetic and comparisons, f32/f64 scalar arithmetic, loads/stores,
 * block/loop/br/br_if/if/select, the f32x4 operations (load/store/splat/load32_splat/add/mul/compares,
 * relaxed madd), the f64x2 lane-pair arithmetic and conversions, and the v128 bitwise ops.
 * Encodings follow the WebAssembly core spec §5 (binary format) and the SIMD / relaxed-SIMD
 * proposals' opcode tables.
 */
import { platform } from '../../base/platform.js';

/** Value types, by their binary encoding. */
export const I32 = 0x7f;
export const I64 = 0x7e;
export const F32 = 0x7d;
export const F64 = 0x7c;
export const V128 = 0x7b;
/** A value type code: {@link I32}, {@link I64}, {@link F32}, {@link F64} or {@link V128}. */
export type ValType = typeof I32 | typeof I64 | typeof F32 | typeof F64 | typeof V128;

/** Unsigned LEB128 (spec §5.2.2), used for counts, indices, sizes and memarg fields. */
export function uleb(value: number): number[] {
  if (!Number.isInteger(value) || value < 0) throw new RangeError(`uleb: expected a non-negative integer, got ${value}`);
  const out: number[] = [];
  let v = value;
  do {
    let byte = v % 128;
    v = Math.floor(v / 128);
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

/** Signed LEB128 of a 32-bit value (spec §5.2.2), used by `i32.const`. */
export function sleb(value: number): number[] {
  if (!Number.isInteger(value) || value < -0x80000000 || value > 0xffffffff) {
    throw new RangeError(`sleb: expected a 32-bit integer, got ${value}`);
  }
  const out: number[] = [];
  let v = value | 0; // two's complement; values in [2^31, 2^32) wrap to negatives, as i32 does
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const signBit = byte & 0x40;
    if ((v === 0 && signBit === 0) || (v === -1 && signBit !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

/** UTF-8 name with its length prefix. */
function name(s: string): number[] {
  const bytes = Array.from(new TextEncoder().encode(s));
  return [...uleb(bytes.length), ...bytes];
}

/** A section: id, byte length, content. */
function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

/** A vector: count then the concatenated items. */
function vec(items: number[][]): number[] {
  const out = uleb(items.length);
  for (const it of items) for (const b of it) out.push(b);
  return out;
}

/** Prefix byte of the SIMD instructions; the opcode that follows is a uleb. */
const SIMD = 0xfd;

/**
 * Emits the body of one function. Locals are declared with {@link local} before or while emitting
 * (their declarations are written when the module is built). Methods return `this` so a kernel reads
 * as a sequence of instructions.
 * @example
 * const f = mod.func('add', [I32, I32], [I32]);
 * f.get(0).get(1).i32Add();
 */
export class FuncBuilder {
  readonly code: number[] = [];
  /** Types of the declared locals, in index order after the parameters. */
  readonly localTypes: ValType[] = [];

  constructor(
    readonly exportName: string,
    readonly params: readonly ValType[],
    readonly results: readonly ValType[],
  ) {}

  /** Declares a new local of `type` and returns its index (parameters come first). */
  local(type: ValType): number {
    this.localTypes.push(type);
    return this.params.length + this.localTypes.length - 1;
  }

  /** Raw bytes, for an instruction this builder lacks. */
  raw(...bytes: number[]): this {
    for (const b of bytes) this.code.push(b);
    return this;
  }

  private simd(op: number, ...imm: number[]): this {
    return this.raw(SIMD, ...uleb(op), ...imm);
  }

  /** memarg: alignment exponent and byte offset. */
  private mem(op: number, align: number, offset: number): this {
    return this.raw(op, ...uleb(align), ...uleb(offset));
  }

  // --- control ---------------------------------------------------------------------------
  /** `block` with no result. */
  block(): this { return this.raw(0x02, 0x40); }
  /** `loop` with no result: `br` to it jumps back to its start. */
  loop(): this { return this.raw(0x03, 0x40); }
  /** `if` with no result (pops an i32 condition). */
  if(): this { return this.raw(0x04, 0x40); }
  else(): this { return this.raw(0x05); }
  end(): this { return this.raw(0x0b); }
  /** Branch to the `depth`-th enclosing label (0 = innermost). */
  br(depth: number): this { return this.raw(0x0c, ...uleb(depth)); }
  brIf(depth: number): this { return this.raw(0x0d, ...uleb(depth)); }
  return(): this { return this.raw(0x0f); }
  drop(): this { return this.raw(0x1a); }
  /** `select`: pops c, b, a and pushes c ≠ 0 ? a : b. */
  select(): this { return this.raw(0x1b); }

  // --- variables -------------------------------------------------------------------------
  get(index: number): this { return this.raw(0x20, ...uleb(index)); }
  set(index: number): this { return this.raw(0x21, ...uleb(index)); }
  tee(index: number): this { return this.raw(0x22, ...uleb(index)); }

  // --- i32 -------------------------------------------------------------------------------
  i32Const(v: number): this { return this.raw(0x41, ...sleb(v)); }
  i32Eqz(): this { return this.raw(0x45); }
  i32Eq(): this { return this.raw(0x46); }
  i32Ne(): this { return this.raw(0x47); }
  i32LtS(): this { return this.raw(0x48); }
  i32LtU(): this { return this.raw(0x49); }
  i32GtS(): this { return this.raw(0x4a); }
  i32GeS(): this { return this.raw(0x4e); }
  i32Add(): this { return this.raw(0x6a); }
  i32Sub(): this { return this.raw(0x6b); }
  i32Mul(): this { return this.raw(0x6c); }
  i32And(): this { return this.raw(0x71); }
  i32Shl(): this { return this.raw(0x74); }
  i32ShrU(): this { return this.raw(0x76); }

  // --- memory (offsets in bytes; align is log2 of the natural alignment) ------------------
  i32Load(offset = 0): this { return this.mem(0x28, 2, offset); }
  f32Load(offset = 0): this { return this.mem(0x2a, 2, offset); }
  i32Store(offset = 0): this { return this.mem(0x36, 2, offset); }
  f32Store(offset = 0): this { return this.mem(0x38, 2, offset); }
  f32Const(v: number): this {
    const b = new Uint8Array(new Float32Array([v]).buffer);
    return this.raw(0x43, ...b);
  }
  /** `f64.store`; alignment hint 8 bytes. */
  f64Store(offset = 0): this { return this.mem(0x39, 3, offset); }
  f64Const(v: number): this {
    const b = new Uint8Array(new Float64Array([v]).buffer);
    return this.raw(0x44, ...b);
  }
  f32Lt(): this { return this.raw(0x5d); }
  f32Gt(): this { return this.raw(0x5e); }
  f32Le(): this { return this.raw(0x5f); }
  f32Ge(): this { return this.raw(0x60); }
  f32Add(): this { return this.raw(0x92); }
  f32Mul(): this { return this.raw(0x94); }
  f64Add(): this { return this.raw(0xa0); }
  f64Sub(): this { return this.raw(0xa1); }
  f64Mul(): this { return this.raw(0xa2); }
  /** `f32.demote_f64`: round to nearest float32. */
  f32DemoteF64(): this { return this.raw(0xb6); }
  /** `f64.promote_f32`: exact. */
  f64PromoteF32(): this { return this.raw(0xbb); }

  // --- SIMD (f32x4 lanes) ----------------------------------------------------------------
  /** `v128.load`; alignment hint 4 bytes since packed panels are only float-aligned in general. */
  v128Load(offset = 0): this { return this.simd(0x00, 2, ...uleb(offset)); }
  /** `v128.load32_splat`: one f32 from memory broadcast to all four lanes. */
  v128Load32Splat(offset = 0): this { return this.simd(0x09, 2, ...uleb(offset)); }
  v128Store(offset = 0): this { return this.simd(0x0b, 2, ...uleb(offset)); }
  /** `v128.const` of four equal f32 lanes. */
  f32x4Const(v: number): this {
    const b = new Uint8Array(new Float32Array([v, v, v, v]).buffer);
    return this.simd(0x0c, ...b);
  }
  /** `i8x16.shuffle` with 16 byte-lane indices (0–15 pick from the first operand, 16–31 from the second). */
  i8x16Shuffle(lanes: readonly number[]): this {
    if (lanes.length !== 16) throw new RangeError(`i8x16Shuffle: expected 16 lane indices, got ${lanes.length}`);
    return this.simd(0x0d, ...lanes);
  }
  f32x4Splat(): this { return this.simd(0x13); }
  f64x2Splat(): this { return this.simd(0x14); }
  f32x4ExtractLane(lane: number): this { return this.simd(0x1f, lane); }
  f64x2ExtractLane(lane: number): this { return this.simd(0x21, lane); }
  /** Lane-wise compares: all-ones where true (a NaN lane compares false). */
  f32x4Lt(): this { return this.simd(0x43); }
  f32x4Gt(): this { return this.simd(0x44); }
  f32x4Le(): this { return this.simd(0x45); }
  f32x4Ge(): this { return this.simd(0x46); }
  v128And(): this { return this.simd(0x4e); }
  /** `v128.andnot(a, b)` = a & ~b. */
  v128Andnot(): this { return this.simd(0x4f); }
  /** `v128.bitselect(a, b, mask)`: a where mask bits are 1, b elsewhere. */
  v128Bitselect(): this { return this.simd(0x52); }
  /** `f32x4.demote_f64x2_zero`: two f64 lanes rounded into the low f32 lanes, high lanes 0. */
  f32x4DemoteF64x2Zero(): this { return this.simd(0x5e); }
  /** `f64x2.promote_low_f32x4`: the low two f32 lanes widened (exactly) to f64. */
  f64x2PromoteLowF32x4(): this { return this.simd(0x5f); }
  f32x4Add(): this { return this.simd(0xe4); }
  f32x4Sub(): this { return this.simd(0xe5); }
  f32x4Mul(): this { return this.simd(0xe6); }
  f64x2Add(): this { return this.simd(0xf0); }
  f64x2Sub(): this { return this.simd(0xf1); }
  f64x2Mul(): this { return this.simd(0xf2); }
  /** Relaxed SIMD `f32x4.relaxed_madd(a, b, c)` = a·b + c, fused or not depending on the hardware. */
  f32x4RelaxedMadd(): this { return this.simd(0x105); }
}

/** Options of the imported memory `env.memory`. */
export interface MemoryImport {
  /** Initial size in 64 KiB pages. */
  readonly initialPages: number;
  /** Maximum size in pages; required when `shared`. */
  readonly maximumPages?: number;
  /** A shared memory (SharedArrayBuffer-backed), which worker threads can instantiate over. */
  readonly shared?: boolean;
}

/**
 * Builds a module: an imported memory `env.memory` and functions, each exported under its name.
 * @example
 * const mod = new ModuleBuilder({ initialPages: 1 });
 * mod.func('inc', [I32], [I32]).get(0).i32Const(1).i32Add();
 * const bytes = mod.bytes(); // WebAssembly.validate(bytes) === true
 */
export class ModuleBuilder {
  private readonly funcs: FuncBuilder[] = [];

  constructor(readonly memory: MemoryImport) {}

  /** Adds a function exported as `exportName`; emit its body on the returned builder (no final `end`). */
  func(exportName: string, params: readonly ValType[], results: readonly ValType[]): FuncBuilder {
    const f = new FuncBuilder(exportName, params, results);
    this.funcs.push(f);
    return f;
  }

  /** The module's binary encoding. */
  bytes(): Uint8Array {
    const { initialPages, maximumPages, shared = false } = this.memory;
    if (shared && maximumPages === undefined) throw new RangeError('ModuleBuilder: a shared memory needs maximumPages');
    // One function type per function (duplicates are legal and keep the builder simple).
    const types = this.funcs.map((f) => [0x60, ...vec(f.params.map((t) => [t])), ...vec(f.results.map((t) => [t]))]);
    const limits = maximumPages === undefined
      ? [0x00, ...uleb(initialPages)]
      : [shared ? 0x03 : 0x01, ...uleb(initialPages), ...uleb(maximumPages)];
    const imports = vec([[...name('env'), ...name('memory'), 0x02, ...limits]]);
    const funcIdx = vec(this.funcs.map((_, i) => uleb(i)));
    const exports = vec(this.funcs.map((f, i) => [...name(f.exportName), 0x00, ...uleb(i)]));
    // The code section is written piece by piece into the result: generated per-layer kernels
    // reach megabytes, and spreading arrays that size (body, section, module) cost more than the
    // rest of code generation.
    const bodyParts: (number[])[] = [uleb(this.funcs.length)];
    for (const f of this.funcs) {
      // Locals are declared in runs of equal type.
      const runs: number[][] = [];
      const lt = f.localTypes;
      for (let i = 0; i < lt.length;) {
        let j = i;
        while (j < lt.length && lt[j] === lt[i]) j++;
        runs.push([...uleb(j - i), lt[i]]);
        i = j;
      }
      const decl = vec(runs);
      bodyParts.push(uleb(decl.length + f.code.length + 1), decl, f.code, [0x0b]);
    }
    let codeBytes = 0;
    for (const part of bodyParts) codeBytes += part.length;
    const head = [
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
      ...section(1, vec(types)),
      ...section(2, imports),
      ...section(3, funcIdx),
      ...section(7, exports),
      10, ...uleb(codeBytes),
    ];
    const out = new Uint8Array(head.length + codeBytes);
    out.set(head, 0);
    let at = head.length;
    for (const part of bodyParts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }
}

/** The slice of the WebAssembly JS API the kernels use (the project's `lib` has no DOM types). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(deltaPages: number): number;
}
/** A compiled module (opaque; structured-clonable to worker threads). */
export type WasmModule = object;
export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}
export interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: Record<string, Record<string, unknown>>) => WasmInstance;
  Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
}
/** The runtime's `WebAssembly` object, or undefined where there is none. */
export const webAssembly: WasmApi | undefined = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

/** Does this runtime accept WebAssembly SIMD (a module using `f32x4.add`)? */
export function simdSupported(): boolean {
  return webAssembly !== undefined && webAssembly.validate(probe((f) => f.get(0).get(0).f32x4Add()));
}

/** V8's switch for relaxed SIMD, off by default before V8 11.4 (Node 20); later V8s ship it on. */
const RELAXED_SIMD_FLAG = '--experimental-wasm-relaxed-simd';
let relaxedSimd: boolean | undefined;

/**
 * Does this runtime accept relaxed SIMD (`f32x4.relaxed_madd`)? Browsers and Node ≥ 22 do. On Node 20
 * the first call turns V8's
 * `--experimental-wasm-relaxed-simd` on through `v8.setFlagsFromString`, so FMA needs no
 * command-line flag: V8 reads its WebAssembly feature flags when it validates or compiles a module,
 * so every module compiled afterwards (and instantiated by worker threads) may use the opcodes.
 * The answer is cached.
 * @example if (relaxedSimdSupported()) f.f32x4RelaxedMadd();
 */
export function relaxedSimdSupported(): boolean {
  if (relaxedSimd !== undefined) return relaxedSimd;
  if (webAssembly === undefined) return (relaxedSimd = false);
  const bytes = probe((f) => f.get(0).get(0).get(0).f32x4RelaxedMadd());
  if (!webAssembly.validate(bytes)) enableRelaxedSimdFlag();
  relaxedSimd = webAssembly.validate(bytes);
  return relaxedSimd;
}

/** Sets V8's relaxed-SIMD flag where the platform is Node (browsers ship relaxed SIMD); elsewhere nothing. */
function enableRelaxedSimdFlag(): void {
  platform().node?.v8.setFlagsFromString(RELAXED_SIMD_FLAG);
}

/** A one-function module `(v128) -> v128` whose body `emit` writes, for feature detection. */
function probe(emit: (f: FuncBuilder) => void): Uint8Array {
  const mod = new ModuleBuilder({ initialPages: 0 });
  emit(mod.func('probe', [V128], [V128]));
  return mod.bytes();
}

/**
 * Emits `while (get(i) < get(end)) { body; i += step }` with unsigned compares, skipping the loop
 * when it is empty — the loop shape every generated kernel uses.
 * @example forRange(f, i, nbytes, 16, () => { ... })
 */
export function forRange(f: FuncBuilder, i: number, end: number, step: number, body: () => void): void {
  f.block();
  f.get(i).get(end).i32LtU().i32Eqz().brIf(0);
  f.loop();
  body();
  f.get(i).i32Const(step).i32Add().tee(i).get(end).i32LtU().brIf(0);
  f.end();
  f.end();
}
