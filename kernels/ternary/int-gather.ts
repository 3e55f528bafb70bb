/**
 * The integer path's quantizing gather (a function of each integer layer's generated module,
 * ./simd-jit.ts): float32 input rows in, int16 planes out, each value
 * `clamp(nearest(f32(x · inv)), ±qmax)` as ./int.ts's quantizer computes it.
 */
import { I32, type ModuleBuilder, uleb } from '../wasm/assembler.js';
import { emitRowGather } from './simd-module.js';

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
  const t = f.local(I32);
  const quant4 = (sp: number, offset: number): void => {
    f.get(sp).v128Load(offset).f32x4Const(inv).f32x4Mul().raw(...F32X4_NEAREST).raw(...I32X4_TRUNC_SAT_F32X4_S);
  };
  // Floats 0, 2, 4, 6 of the eight at `offset`, quantized.
  const quantEven = (sp: number, offset: number): void => {
    f.get(sp).v128Load(offset).get(sp).v128Load(offset + 16).i8x16Shuffle(EVEN_FLOATS);
    f.f32x4Const(inv).f32x4Mul().raw(...F32X4_NEAREST).raw(...I32X4_TRUNC_SAT_F32X4_S);
  };
  emitRowGather(f, {
    elemBytes: 2,
    perVector: 8,
    vector: (_, sp, step) => {
      // Two f32x4 → i32x4 (saturating), narrowed to i16x8 (saturating), clamped to ±qmax. Column
      // step 8: every other float of 16 (the last read is one float past the 8th value, in the slack).
      if (step === 4) { quant4(sp, 0); quant4(sp, 16); } else { quantEven(sp, 0); quantEven(sp, 32); }
      f.raw(...I16X8_NARROW_I32X4_S);
      f.i32Const(qmax).raw(...I16X8_SPLAT).raw(...I16X8_MIN_S);
      f.i32Const(-qmax).raw(...I16X8_SPLAT).raw(...I16X8_MAX_S);
    },
    scalar: (_, sp, d) => {
      f.get(sp).f32Load().f32Const(inv).f32Mul().raw(...F32_NEAREST).raw(...I32_TRUNC_SAT_F32_S).set(t);
      f.i32Const(qmax).get(t).get(t).i32Const(qmax).i32GtS().raw(...SELECT).set(t);
      f.i32Const(-qmax).get(t).get(t).i32Const(-qmax).i32LtS().raw(...SELECT).set(t);
      f.get(d).get(t).raw(...I32_STORE16);
    },
    zero: (_, d) => { f.get(d).i32Const(0).raw(...I32_STORE16); },
  });
}
