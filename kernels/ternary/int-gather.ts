/**
 * The integer path's quantizing gather (a function of each integer layer's generated module,
 * ./simd-jit.ts): float32 input rows in, int16 planes out, each value
 * `clamp(nearest(f32(x · inv)), ±qmax)` as ./int.ts's quantizer computes it.
 */
import { I32, type ModuleBuilder, forRange, uleb } from '../wasm/assembler.js';

const simd = (op: number): number[] => [0xfd, ...uleb(op)];
const F32X4_NEAREST = simd(0x6a);
const I32X4_TRUNC_SAT_F32X4_S = simd(0xf8);
const I16X8_NARROW_I32X4_S = simd(0x85);
const I16X8_SPLAT = simd(0x10);
const I16X8_MIN_S = simd(0x96);
const I16X8_MAX_S = simd(0x98);
const F32_NEAREST = [0x90];
const I32_TRUNC_SAT_F32_S = [0xfc, 0x00];
const SELECT = [0x1b];
const I32_STORE16 = [0x3b, 1, 0];
/** Shuffle lanes picking floats 0 and 2 of each operand: a stride-2 row's every other value. */
const EVEN_FLOATS = [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27];

/**
 * `qgather(src, dst, uLo, uHi, vLo, vHi, Hq, Wq, src0, rowStepB, colStepB)`: the float gather's
 * contract (kernels/ternary/simd-module.ts `gather`: Hq rows of Wq elements, rows [uLo, uHi) ×
 * columns [vLo, vHi) read from `src0` with the given byte steps, zeros elsewhere; `src` unused),
 * writing int16 quantized values. Column steps 4 and 8 (stride 1, and stride 2's phase planes)
 * convert 8 values a vector.
 */
export function emitQuantGather(mod: ModuleBuilder, inv: number, qmax: number): void {
  const f = mod.func('qgather', [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32], []);
  const [, dst, uLo, uHi, vLo, vHi, Hq, Wq, src0, rowStepB, colStepB] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const u = f.local(I32), v = f.local(I32), sp = f.local(I32), d = f.local(I32), vEnd8 = f.local(I32), t = f.local(I32);
  const zero = (): void => { f.get(d).i32Const(0).raw(...I32_STORE16); f.get(d).i32Const(2).i32Add().set(d); };
  const quant4 = (offset: number): void => {
    f.get(sp).v128Load(offset).f32x4Const(inv).f32x4Mul().raw(...F32X4_NEAREST).raw(...I32X4_TRUNC_SAT_F32X4_S);
  };
  // Floats 0, 2, 4, 6 of the eight at `offset`, quantized.
  const quantEven = (offset: number): void => {
    f.get(sp).v128Load(offset).get(sp).v128Load(offset + 16).i8x16Shuffle(EVEN_FLOATS);
    f.f32x4Const(inv).f32x4Mul().raw(...F32X4_NEAREST).raw(...I32X4_TRUNC_SAT_F32X4_S);
  };
  f.get(dst).set(d);
  f.i32Const(0).set(u);
  forRange(f, u, Hq, 1, () => {
    f.get(u).get(uLo).i32GeS().get(u).get(uHi).i32LtS().i32And();
    f.if();
    f.get(src0).get(u).get(uLo).i32Sub().get(rowStepB).i32Mul().i32Add().set(sp);
    f.i32Const(0).set(v);
    forRange(f, v, vLo, 1, zero);
    // Eight values a vector where the columns are 1 or 2 floats apart (stride 1, and the phase
    // planes of stride 2); other steps take the scalar loop below.
    for (const step of [4, 8]) {
      f.get(colStepB).i32Const(step).i32Eq();
      f.if();
      f.get(vHi).i32Const(7).i32Sub().set(vEnd8);
      f.block();
      f.loop();
      f.get(v).get(vEnd8).i32LtS().i32Eqz().brIf(1);
      // Two f32x4 → i32x4 (saturating), narrowed to i16x8 (saturating), clamped to ±qmax.
      f.get(d);
      if (step === 4) {
        quant4(0);
        quant4(16);
      } else {
        // Every other float of 16 (the last read is one float past the 8th value, inside the slack).
        quantEven(0);
        quantEven(32);
      }
      f.raw(...I16X8_NARROW_I32X4_S);
      f.i32Const(qmax).raw(...I16X8_SPLAT).raw(...I16X8_MIN_S);
      f.i32Const(-qmax).raw(...I16X8_SPLAT).raw(...I16X8_MAX_S);
      f.v128Store();
      f.get(sp).i32Const(8 * step).i32Add().set(sp);
      f.get(d).i32Const(16).i32Add().set(d);
      f.get(v).i32Const(8).i32Add().set(v);
      f.br(0);
      f.end();
      f.end();
      f.end();
    }
    forRange(f, v, vHi, 1, () => {
      f.get(sp).f32Load().f32Const(inv).f32Mul().raw(...F32_NEAREST).raw(...I32_TRUNC_SAT_F32_S).set(t);
      f.i32Const(qmax).get(t).get(t).i32Const(qmax).i32GtS().raw(...SELECT).set(t);
      f.i32Const(-qmax).get(t).get(t).i32Const(-qmax).i32LtS().raw(...SELECT).set(t);
      f.get(d).get(t).raw(...I32_STORE16);
      f.get(sp).get(colStepB).i32Add().set(sp);
      f.get(d).i32Const(2).i32Add().set(d);
    });
    forRange(f, v, Wq, 1, zero);
    f.else();
    // A row outside the input (padding): zeros, eight a store.
    f.i32Const(0).set(v);
    // NOTE: signed: Wq − 7 is negative for rows under eight values (forRange compares unsigned).
    f.get(Wq).i32Const(7).i32Sub().set(vEnd8);
    f.block();
    f.loop();
    f.get(v).get(vEnd8).i32LtS().i32Eqz().brIf(1);
    f.get(d).f32x4Const(0).v128Store();
    f.get(d).i32Const(16).i32Add().set(d);
    f.get(v).i32Const(8).i32Add().set(v);
    f.br(0);
    f.end();
    f.end();
    forRange(f, v, Wq, 1, zero);
    f.end();
  });
}
