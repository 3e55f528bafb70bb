/**
 * 2-D pooling in NCHW: max, average (PyTorch semantics, no ceil mode, no dilation) and global
 * average, forward and backward side by side.
 */
import { kernel } from '../../kernels/registry.js';
import { type Pool2dGeometry, convOutSize } from '../../kernels/types.js';
import { ShapeError, ValueError, fmtShape } from '../../base/errors.js';
import { Tensor, gradBuffer, makeResult, outputBuffer } from '../tensor.js';

/** Options of {@link maxPool2d}; scalars apply to both spatial dims. */
export interface MaxPool2dOptions {
  kernelSize: number | readonly [number, number];
  /** Defaults to kernelSize. */
  stride?: number | readonly [number, number];
  padding?: number | readonly [number, number];
}

/** Options of {@link avgPool2d}. */
export interface AvgPool2dOptions extends MaxPool2dOptions {
  /** Divide by the full window (true, PyTorch's default) or by the in-bounds element count. */
  countIncludePad?: boolean;
}

function pairOf(op: string, name: string, v: number | readonly [number, number], min: number): [number, number] {
  const p: [number, number] = typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (typeof v !== 'number' && (v as readonly number[]).length !== 2) throw new ValueError(op, `${name} must be a number or a [h, w] pair, got ${JSON.stringify(v)}`);
  for (const d of p) {
    if (!Number.isInteger(d) || d < min) throw new ValueError(op, `${name} must be ${min > 0 ? 'a positive' : 'a non-negative'} integer (or a pair), got ${JSON.stringify(v)}`);
  }
  return p;
}

/** Validated pooling geometry; every message names `op`. */
function poolGeometry(op: string, shape: readonly number[], o: AvgPool2dOptions): Pool2dGeometry {
  if (typeof o !== 'object' || o === null || o.kernelSize === undefined) {
    throw new ValueError(op, `options must give kernelSize (a positive integer or a [h, w] pair), got ${JSON.stringify(o) ?? String(o)}; e.g. ${op}(x, { kernelSize: 2 })`);
  }
  if (shape.length !== 4) throw new ShapeError(op, `input must be 4-D [N, C, H, W], got ${fmtShape(shape)}`);
  const [kernelHeight, kernelWidth] = pairOf(op, 'kernelSize', o.kernelSize, 1);
  const [strideH, strideW] = pairOf(op, 'stride', o.stride ?? o.kernelSize, 1);
  const [padH, padW] = pairOf(op, 'padding', o.padding ?? 0, 0);
  // NOTE: PyTorch's rule; larger padding would create windows that see only padding.
  if (2 * padH > kernelHeight || 2 * padW > kernelWidth) {
    throw new ValueError(op, `padding ${padH}x${padW} must be at most half the kernel ${kernelHeight}x${kernelWidth}`);
  }
  const [batch, channels, inHeight, inWidth] = shape;
  const outHeight = convOutSize(inHeight, kernelHeight, strideH, padH, 1);
  const outWidth = convOutSize(inWidth, kernelWidth, strideW, padW, 1);
  if (outHeight < 1 || outWidth < 1) {
    throw new ShapeError(op, `kernel ${kernelHeight}x${kernelWidth} is bigger than the padded input ${inHeight + 2 * padH}x${inWidth + 2 * padW} of ${fmtShape(shape)}`);
  }
  return {
    batch, channels, inHeight, inWidth, kernelHeight, kernelWidth, strideH, strideW, padH, padW,
    outHeight, outWidth, countIncludePad: o.countIncludePad ?? true,
  };
}

const outSizeOf = (g: Pool2dGeometry): number => g.batch * g.channels * g.outHeight * g.outWidth;

/**
 * Max pooling over `x [N, C, H, W]`; padding counts as −∞; the gradient goes to the first maximum.
 * @example maxPool2d(x, { kernelSize: 2 }).shape // [N, C, H/2, W/2]
 */
export function maxPool2d(x: Tensor, opts: MaxPool2dOptions): Tensor {
  const g = poolGeometry('maxPool2d', x.shape, opts);
  const n = outSizeOf(g);
  const out = outputBuffer(n);
  const argmax = new Int32Array(n);
  if (n > 0) kernel('maxPool2dForward', n * g.kernelHeight * g.kernelWidth)(x.data, out, argmax, g);
  return makeResult('maxPool2d', out, [g.batch, g.channels, g.outHeight, g.outWidth], [x], (gradOut) => {
    const gx = gradBuffer(x.size);
    kernel('maxPool2dBackward', n)(gradOut, argmax, gx, g);
    return [gx];
  });
}

/**
 * Average pooling over `x [N, C, H, W]` (PyTorch's AvgPool2d without ceil mode).
 * @example avgPool2d(x, { kernelSize: 3, stride: 1, padding: 1, countIncludePad: false })
 */
export function avgPool2d(x: Tensor, opts: AvgPool2dOptions): Tensor {
  const g = poolGeometry('avgPool2d', x.shape, opts);
  const n = outSizeOf(g);
  const out = outputBuffer(n);
  const work = n * g.kernelHeight * g.kernelWidth;
  if (n > 0) kernel('avgPool2dForward', work)(x.data, out, g);
  return makeResult('avgPool2d', out, [g.batch, g.channels, g.outHeight, g.outWidth], [x], (gradOut) => {
    const gx = gradBuffer(x.size);
    kernel('avgPool2dBackward', work)(gradOut, gx, g);
    return [gx];
  });
}

/**
 * Mean over each channel's spatial plane: `[N, C, H, W]` → `[N, C, 1, 1]`.
 * @example globalAvgPool2d(x).shape // [N, C, 1, 1]
 */
export function globalAvgPool2d(x: Tensor): Tensor {
  if (x.ndim !== 4) throw new ShapeError('globalAvgPool2d', `input must be 4-D [N, C, H, W], got ${fmtShape(x.shape)}`);
  const [batch, channels, h, w] = x.shape;
  if (h < 1 || w < 1) throw new ShapeError('globalAvgPool2d', `spatial dims must be positive, got ${fmtShape(x.shape)}`);
  const g: Pool2dGeometry = {
    batch, channels, inHeight: h, inWidth: w, kernelHeight: h, kernelWidth: w, strideH: h, strideW: w,
    padH: 0, padW: 0, outHeight: 1, outWidth: 1, countIncludePad: true,
  };
  const out = new Float32Array(batch * channels);
  if (out.length > 0) kernel('avgPool2dForward', x.size)(x.data, out, g);
  return makeResult('globalAvgPool2d', out, [batch, channels, 1, 1], [x], (gradOut) => {
    const gx = gradBuffer(x.size);
    kernel('avgPool2dBackward', x.size)(gradOut, gx, g);
    return [gx];
  });
}
