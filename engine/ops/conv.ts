/**
 * 2-D convolution (NCHW input, OIHW weight) with stride, padding, dilation and groups: forward,
 * input gradient, weight gradient and bias gradient side by side.
 */
import { kernel } from '../../kernels/registry.js';
import { type Conv2dGeometry, type Conv2dOptions, conv2dGeometry } from '../../kernels/types.js';
import { ShapeError, ValueError, fmtShape } from '../../base/errors.js';
import { Tensor, gradBuffer, makeResult, needsGrad, outputBuffer } from '../tensor.js';
import { pad } from './movement.js';

export type { Conv2dOptions } from '../../kernels/types.js';

function checkPair(name: string, v: number | readonly [number, number] | undefined, min: number): void {
  if (v === undefined) return;
  const vals = typeof v === 'number' ? [v] : [v[0], v[1]];
  if (typeof v !== 'number' && (v as readonly number[]).length !== 2) throw new ValueError('conv2d', `${name} must be a number or a [h, w] pair, got ${JSON.stringify(v)}`);
  for (const d of vals) {
    if (!Number.isInteger(d) || d < min) throw new ValueError('conv2d', `${name} must be ${min > 0 ? 'a positive' : 'a non-negative'} integer (or a pair of them), got ${JSON.stringify(v)}`);
  }
}

/** Multiply-adds ×2 of a conv with this geometry (the same count for each of the three kernels). */
export function conv2dFlops(g: Conv2dGeometry): number {
  return 2 * g.batch * g.outChannels * g.outHeight * g.outWidth * (g.inChannels / g.groups) * g.kernelHeight * g.kernelWidth;
}

/**
 * Validates shapes and options and returns the geometry; every message names conv2d.
 * @example conv2dCheckedGeometry([1, 3, 8, 8], [4, 3, 3, 3], { padding: 1 }).outHeight // 8
 */
export function conv2dCheckedGeometry(xShape: readonly number[], wShape: readonly number[], opts: Conv2dOptions): Conv2dGeometry {
  if (xShape.length !== 4) throw new ShapeError('conv2d', `input must be 4-D [N, C, H, W], got ${fmtShape(xShape)}`);
  if (wShape.length !== 4) throw new ShapeError('conv2d', `weight must be 4-D [outChannels, inChannels/groups, kH, kW], got ${fmtShape(wShape)}`);
  checkPair('stride', opts.stride, 1);
  checkPair('padding', opts.padding, 0);
  checkPair('dilation', opts.dilation, 1);
  const groups = opts.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1) throw new ValueError('conv2d', `groups must be a positive integer, got ${groups}`);
  const [, c] = xShape;
  const [o, wc, kh, kw] = wShape;
  if (c % groups !== 0) throw new ShapeError('conv2d', `input channels ${c} are not divisible by groups ${groups}`);
  if (o % groups !== 0) throw new ShapeError('conv2d', `output channels ${o} (weight ${fmtShape(wShape)}) are not divisible by groups ${groups}`);
  if (wc !== c / groups) throw new ShapeError('conv2d', `weight ${fmtShape(wShape)} has ${wc} input channels per group, but input ${fmtShape(xShape)} with groups ${groups} needs ${c / groups}`);
  if (kh < 1 || kw < 1) throw new ShapeError('conv2d', `kernel size must be positive, weight is ${fmtShape(wShape)}`);
  const g = conv2dGeometry(xShape, wShape, opts);
  if (g.outHeight < 1 || g.outWidth < 1) {
    throw new ShapeError('conv2d', `kernel ${kh}x${kw} (dilation ${g.dilationH}x${g.dilationW}) is bigger than the padded input ${xShape[2] + 2 * g.padH}x${xShape[3] + 2 * g.padW}; pad the input or use a smaller kernel`);
  }
  return g;
}

/**
 * 2-D convolution (cross-correlation, as PyTorch) of `x [N, C, H, W]` with `weight [O, C/groups, kH, kW]`
 * plus optional `bias [O]`.
 * @example conv2d(x, w, null, { stride: 2, padding: 1 }).shape // [N, O, ceil(H/2), ceil(W/2)] for 3x3
 */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null = null, opts: Conv2dOptions = {}): Tensor {
  const g = conv2dCheckedGeometry(x.shape, weight.shape, opts);
  if (bias !== null && (bias.ndim !== 1 || bias.shape[0] !== g.outChannels)) {
    throw new ShapeError('conv2d', `bias must have shape [${g.outChannels}] (one per output channel), got ${fmtShape(bias.shape)}`);
  }
  const flops = conv2dFlops(g);
  const out = outputBuffer(g.batch * g.outChannels * g.outHeight * g.outWidth);
  if (out.length > 0) kernel('conv2dForward', flops)(x.data, weight.data, bias === null ? null : bias.data, out, g);
  const inputs = bias === null ? [x, weight] : [x, weight, bias];
  const track = needsGrad(...inputs);
  const xData = track ? x.data : null;
  const wData = track ? weight.data : null;
  return makeResult('conv2d', out, [g.batch, g.outChannels, g.outHeight, g.outWidth], inputs, (gradOut) => {
    let gx: Float32Array | null = null;
    let gw: Float32Array | null = null;
    let gb: Float32Array | null = null;
    if (x.tracked) {
      gx = gradBuffer(x.size);
      if (gx.length > 0) kernel('conv2dBackwardInput', flops)(gradOut, wData!, gx, g);
    }
    if (weight.tracked) {
      gw = gradBuffer(weight.size);
      if (gw.length > 0) kernel('conv2dBackwardWeight', flops)(xData!, gradOut, gw, g);
    }
    if (bias !== null && bias.tracked) {
      gb = new Float32Array(g.outChannels);
      const plane = g.outHeight * g.outWidth;
      for (let n = 0; n < g.batch; n++) {
        for (let o = 0; o < g.outChannels; o++) {
          let s = 0;
          const base = (n * g.outChannels + o) * plane;
          for (let i = 0; i < plane; i++) s += gradOut[base + i];
          gb[o] += s;
        }
      }
    }
    return bias === null ? [gx, gw] : [gx, gw, gb];
  });
}

/**
 * TensorFlow's "same" padding of one spatial dim: the total padding that makes the output
 * `ceil(size / stride)` long, split `[before, after]` with the odd element after (EfficientNet's
 * `Conv2dStaticSamePadding` / `Conv2dDynamicSamePadding` use exactly this split).
 * @example samePadding(224, 3, 2) // [0, 1]
 */
export function samePadding(size: number, kernel: number, stride: number, dilation = 1): [number, number] {
  for (const [n, v] of [['size', size], ['kernel', kernel], ['stride', stride], ['dilation', dilation]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new ValueError('samePadding', `${n} must be a positive integer, got ${v}`);
  }
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

/** Options of {@link conv2dPadded}: a conv's options with per-side padding instead of symmetric padding. */
export interface Conv2dPaddedOptions {
  stride?: number | readonly [number, number];
  dilation?: number | readonly [number, number];
  groups?: number;
  /** Zero padding `[top, bottom, left, right]`, each side on its own. */
  pads: readonly [number, number, number, number];
}

/**
 * 2-D convolution with zero padding that may differ per side (TensorFlow's "same" padding is
 * asymmetric for even kernels' strides). The symmetric part goes to {@link conv2d}'s own padding;
 * only the rest is materialised with `pad`, so symmetric pads cost no copy. Backward comes from the
 * two ops.
 * @example conv2dPadded(x, w, null, { stride: 2, pads: [0, 1, 0, 1] }) // 3×3/2 "same" on an even input
 */
export function conv2dPadded(x: Tensor, weight: Tensor, bias: Tensor | null, opts: Conv2dPaddedOptions): Tensor {
  const p = opts.pads;
  if (!Array.isArray(p) || p.length !== 4 || !p.every((v) => Number.isInteger(v) && v >= 0)) {
    throw new ValueError('conv2d', `pads must be four non-negative integers [top, bottom, left, right], got ${JSON.stringify(p)}`);
  }
  if (x.ndim !== 4) throw new ShapeError('conv2d', `input must be 4-D [N, C, H, W], got ${fmtShape(x.shape)}`);
  const [top, bottom, left, right] = p;
  const symH = Math.min(top, bottom);
  const symW = Math.min(left, right);
  const rest: [number, number][] = [[0, 0], [0, 0], [top - symH, bottom - symH], [left - symW, right - symW]];
  const xp = rest[2][0] + rest[2][1] + rest[3][0] + rest[3][1] > 0 ? pad(x, rest) : x;
  return conv2d(xp, weight, bias, { stride: opts.stride, dilation: opts.dilation, groups: opts.groups, padding: [symH, symW] });
}
