/**
 * Integer-activation ternary layers: the input is quantized once per layer to integers
 * `q = clamp(nearest(f32(x · f32(1/scale))), −qmax, qmax)` (ties to even), the `+` and `−` taps are summed in integer
 * accumulators, and only the output is float again:
 * `y[m] = f32(f32(f32((scale·w_p)·f32(P)) − f32((scale·w_n)·f32(N))) + bias[m])`.
 *
 * Two modes, chosen at export (docs/FORMAT.md "Integer activations"):
 * - `int8`: |q| ≤ 127, 16-bit accumulators (eight lanes a vector on the wasm path);
 * - `int16`: |q| ≤ 32767, 32-bit accumulators (four lanes, as float32, but exact).
 * Integer sums are exact, so every implementation (this file's loops, the wasm SIMD kernels of
 * ./simd-int.ts, any thread count) gives bit-identical outputs: the only rounding is the float
 * output expression above, written the same way everywhere. An accumulator cannot overflow because a
 * layer whose busiest output has more taps of one sign than the mode's bound
 * ({@link intTapLimit}) is refused ({@link checkIntActivations}); export checks the same bound.
 */
import { ShapeError, ValueError } from '../../base/errors.js';
import type { Conv2dGeometry, TernaryLayer } from '../types.js';

/** Integer activation modes (the `--activations` choices besides the default float). */
export type IntActivationMode = 'int8' | 'int16';

/** The integer activations of one layer: mode and the input scale (x ≈ scale·q). */
export interface IntActivations {
  readonly mode: IntActivationMode;
  /** Positive, finite: one quantization step of the layer's input. */
  readonly scale: number;
}

/**
 * Largest |q| of a mode.
 * @example intQmax('int8') // 127
 */
export function intQmax(mode: IntActivationMode): number {
  return mode === 'int8' ? 127 : 32767;
}

/**
 * Largest value of a mode's accumulator (16-bit for int8, 32-bit for int16).
 * @example intAccumulatorMax('int16') // 2147483647
 */
export function intAccumulatorMax(mode: IntActivationMode): number {
  return mode === 'int8' ? 32767 : 2147483647;
}

/**
 * Most taps of one sign an output may have in `mode` without its accumulator overflowing:
 * ⌊accumulator max / qmax⌋ (int8: 258, int16: 65538).
 * @example intTapLimit('int8') // 258
 */
export function intTapLimit(mode: IntActivationMode): number {
  return Math.floor(intAccumulatorMax(mode) / intQmax(mode));
}

/**
 * The most taps of one sign (all `+` or all `−`) any output channel of the layer has: what an
 * integer accumulator must hold, times qmax.
 * @example maxTapsPerSign(layer) // 97
 */
export function maxTapsPerSign(layer: TernaryLayer): number {
  let most = 0;
  for (let m = 0; m < layer.outChannels; m++) {
    most = Math.max(most, layer.posStart[m + 1] - layer.posStart[m], layer.negStart[m + 1] - layer.negStart[m]);
  }
  return most;
}

/**
 * Throws a {@link ValueError} unless `act` is usable on `layer`: a known mode, a positive finite
 * scale, and no output with more taps of one sign than {@link intTapLimit} (its accumulator could
 * overflow). `op` names the caller in the message.
 * @example checkIntActivations(layer, { mode: 'int8', scale: 0.02 }, 'ternaryConv2dInt')
 */
export function checkIntActivations(layer: TernaryLayer, act: IntActivations, op: string): void {
  if (act.mode !== 'int8' && act.mode !== 'int16') throw new ValueError(op, `activation mode ${JSON.stringify(act.mode)}; expected "int8" or "int16"`);
  if (!(Number.isFinite(act.scale) && act.scale > 0)) throw new ValueError(op, `activation scale must be positive and finite, got ${act.scale}`);
  const most = maxTapsPerSign(layer);
  const limit = intTapLimit(act.mode);
  if (most > limit) {
    throw new ValueError(op, `an output has ${most} weights of one sign; ${act.mode} activations allow at most ${limit} (${intQmax(act.mode)} × ${most} overflows the ${act.mode === 'int8' ? 16 : 32}-bit accumulator); use int16 or float activations for this layer`);
  }
}

/**
 * `q[i] = clamp(nearest(f32(x[i] · f32(1/scale))), −qmax, qmax)` (ties to even, as wasm's
 * `f32x4.nearest`; NaN becomes 0) for i < n, into `out` at `at`. The one quantizer of every integer path, so they all see the same integers.
 * @example quantizeActivations(Float32Array.of(0.625, -2), 0.25, 'int8', new Int16Array(2)) // [2, -8]
 */
export function quantizeActivations(x: Float32Array, scale: number, mode: IntActivationMode, out: Int16Array, at = 0, n = x.length): Int16Array {
  const inv = Math.fround(1 / scale);
  const qmax = intQmax(mode);
  for (let i = 0; i < n; i++) {
    const v = Math.fround(x[i] * inv);
    let q = Math.round(v);
    // Math.round takes ties up; the wasm gather's f32x4.nearest takes them to even.
    if (q - v === 0.5 && q % 2 !== 0) q -= 1;
    out[at + i] = q > qmax ? qmax : q < -qmax ? -qmax : q; // NaN fails both tests; Int16Array stores it as 0
  }
  return out;
}

/**
 * Output channel m's two float32 coefficients `scale·w_p`, `scale·w_n` (rounded once, as every path
 * uses them; the layer's per-channel centroids where it has them).
 * @example const [a, c] = intOutputCoefficients(layer, { mode: 'int8', scale: 0.02 }, 0);
 */
export function intOutputCoefficients(layer: TernaryLayer, act: IntActivations, m: number): [number, number] {
  const wp = layer.channelWp === undefined ? layer.wp : layer.channelWp[m];
  const wn = layer.channelWn === undefined ? layer.wn : layer.channelWn[m];
  return [Math.fround(act.scale * wp), Math.fround(act.scale * wn)];
}

/** `f32(f32(f32(a·f32(P)) − f32(c·f32(N))) + b)`: the integer paths' output, written once. */
function outputValue(a: number, c: number, P: number, N: number, b: number): number {
  const fr = Math.fround;
  return fr(fr(fr(a * fr(P)) - fr(c * fr(N))) + b);
}

let qScratch = new Int16Array(1 << 12);

/**
 * Ternary 2-D convolution with integer activations, plain loops (NCHW, any stride, padding,
 * dilation, groups): the reference of the wasm SIMD kernels and their fallback. Overwrites `out`.
 * @example ternaryConv2dIntReference(x, layer, { mode: 'int8', scale: 0.05 }, null, out, g)
 */
export function ternaryConv2dIntReference(x: Float32Array, layer: TernaryLayer, act: IntActivations, bias: Float32Array | null, out: Float32Array, g: Conv2dGeometry): void {
  const op = 'ternaryConv2dInt';
  checkIntConv(x, layer, bias, out, g, op);
  checkIntActivations(layer, act, op);
  const { batch: N, inChannels: C, inHeight: H, inWidth: W, outChannels: M, outHeight: OH, outWidth: OW } = g;
  const chw = C * H * W;
  if (qScratch.length < N * chw) qScratch = new Int16Array(N * chw);
  const q = quantizeActivations(x, act.scale, act.mode, qScratch, 0, N * chw);
  const { kernelHeight: KH, kernelWidth: KW, inPerGroup: cpg } = layer;
  const opg = M / g.groups;
  const sum = (n: number, m: number, oy: number, ox: number, start: Int32Array, taps: Int32Array): number => {
    let s = 0;
    const c0 = Math.floor(m / opg) * cpg;
    for (let t = start[m]; t < start[m + 1]; t++) {
      const tap = taps[t];
      const j = tap % KW;
      const i = ((tap - j) / KW) % KH;
      const ci = Math.floor(tap / (KH * KW));
      const y = oy * g.strideH - g.padH + i * g.dilationH;
      const xx = ox * g.strideW - g.padW + j * g.dilationW;
      if (y >= 0 && y < H && xx >= 0 && xx < W) s += q[n * chw + (c0 + ci) * H * W + y * W + xx];
    }
    return s;
  };
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      const b = bias === null ? 0 : bias[m];
      const [a, c] = intOutputCoefficients(layer, act, m);
      for (let oy = 0; oy < OH; oy++) {
        for (let ox = 0; ox < OW; ox++) {
          out[((n * M + m) * OH + oy) * OW + ox] = outputValue(a, c, sum(n, m, oy, ox, layer.posStart, layer.posTaps), sum(n, m, oy, ox, layer.negStart, layer.negTaps), b);
        }
      }
    }
  }
}

/**
 * Ternary fully connected layer with integer activations: `x` `[batch, in]`, `out` `[batch, out]`.
 * @example ternaryLinearInt(x, layer, { mode: 'int16', scale: 0.001 }, bias, out)
 */
export function ternaryLinearInt(x: Float32Array, layer: TernaryLayer, act: IntActivations, bias: Float32Array | null, out: Float32Array): void {
  const op = 'ternaryLinearInt';
  const I = layer.inPerGroup;
  const M = layer.outChannels;
  if (layer.kernelHeight !== 1 || layer.kernelWidth !== 1) throw new ShapeError(op, `layer has a ${layer.kernelHeight}×${layer.kernelWidth} kernel; a linear layer needs weights [out, in]`);
  const batch = x.length / I;
  if (!Number.isInteger(batch)) throw new ShapeError(op, `x has ${x.length} elements, not a multiple of in = ${I}; expected [batch, ${I}]`);
  if (out.length !== batch * M) throw new ShapeError(op, `out has ${out.length} elements, [${batch}, ${M}] needs ${batch * M}`);
  if (bias !== null && bias.length < M) throw new ShapeError(op, `bias has ${bias.length} elements, needs ${M}`);
  checkIntActivations(layer, act, op);
  if (qScratch.length < x.length) qScratch = new Int16Array(x.length);
  const q = quantizeActivations(x, act.scale, act.mode, qScratch);
  const { posStart, posTaps, negStart, negTaps } = layer;
  const coef = Array.from({ length: M }, (_, m) => intOutputCoefficients(layer, act, m));
  for (let n = 0; n < batch; n++) {
    const xo = n * I;
    for (let m = 0; m < M; m++) {
      const [a, c] = coef[m];
      let sp = 0;
      for (let t = posStart[m]; t < posStart[m + 1]; t++) sp += q[xo + posTaps[t]];
      let sn = 0;
      for (let t = negStart[m]; t < negStart[m + 1]; t++) sn += q[xo + negTaps[t]];
      out[n * M + m] = outputValue(a, c, sp, sn, bias === null ? 0 : bias[m]);
    }
  }
}

/**
 * The conv argument checks shared by the integer paths (a `ShapeError` naming `op`).
 * @example checkIntConv(x, layer, null, out, g, 'ternaryConv2dInt')
 */
export function checkIntConv(x: Float32Array, layer: TernaryLayer, bias: Float32Array | null, out: Float32Array, g: Conv2dGeometry, op: string): void {
  const { batch: N, inChannels: C, inHeight: H, inWidth: W, outChannels: M, groups } = g;
  if (layer.outChannels !== M || layer.inPerGroup * groups !== C || layer.kernelHeight !== g.kernelHeight || layer.kernelWidth !== g.kernelWidth || M % groups !== 0) {
    throw new ShapeError(op, `layer [${layer.outChannels}, ${layer.inPerGroup}, ${layer.kernelHeight}, ${layer.kernelWidth}] does not fit geometry (out ${M}, in ${C}/groups ${groups}, kernel ${g.kernelHeight}×${g.kernelWidth})`);
  }
  if (x.length < N * C * H * W) throw new ShapeError(op, `x has ${x.length} elements, geometry needs ${N * C * H * W}`);
  if (out.length < N * M * g.outHeight * g.outWidth) throw new ShapeError(op, `out has ${out.length} elements, geometry needs ${N * M * g.outHeight * g.outWidth}`);
  if (bias !== null && bias.length < M) throw new ShapeError(op, `bias has ${bias.length} elements, needs ${M} (one per output channel)`);
  if (g.outHeight < 1 || g.outWidth < 1) throw new ShapeError(op, `output ${g.outHeight}×${g.outWidth} is empty`);
}
