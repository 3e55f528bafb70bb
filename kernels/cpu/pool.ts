/**
 * Fast cpu 2-D pooling in NCHW: float32 loops with the window clipped once per output row/column
 * instead of bounds checks per tap. Same semantics as the reference (PyTorch).
 */
import { registerKernel } from '../registry.js';
import type { Pool2dGeometry } from '../types.js';

/**
 * Every output row's and column's input window clipped to the image, as [lo, hi) pairs
 * (`ys[2·oy]`, `ys[2·oy + 1]`), computed once per call for all three windowed kernels.
 */
function windows(g: Pool2dGeometry): { ys: Int32Array; xs: Int32Array } {
  const spans = (outSize: number, inSize: number, stride: number, pad: number, kernel: number): Int32Array => {
    const r = new Int32Array(2 * outSize);
    for (let i = 0; i < outSize; i++) {
      r[2 * i] = Math.max(0, i * stride - pad);
      r[2 * i + 1] = Math.min(inSize, i * stride - pad + kernel);
    }
    return r;
  };
  return { ys: spans(g.outHeight, g.inHeight, g.strideH, g.padH, g.kernelHeight), xs: spans(g.outWidth, g.inWidth, g.strideW, g.padW, g.kernelWidth) };
}

/** Cpu {@link MaxPool2dForwardKernel}. */
export function maxPool2dForwardCpu(x: Float32Array, out: Float32Array, argmax: Int32Array, g: Pool2dGeometry): void {
  const { inHeight: H, inWidth: W, outHeight: OH, outWidth: OW } = g;
  const planes = g.batch * g.channels;
  const { ys, xs } = windows(g);
  let o = 0;
  for (let p = 0; p < planes; p++) {
    const base = p * H * W;
    for (let oy = 0; oy < OH; oy++) {
      const y0 = ys[2 * oy], y1 = ys[2 * oy + 1];
      for (let ox = 0; ox < OW; ox++, o++) {
        const x0 = xs[2 * ox], x1 = xs[2 * ox + 1];
        let at = base + y0 * W + x0;
        let best = x[at];
        for (let iy = y0; iy < y1; iy++) {
          const row = base + iy * W;
          for (let ix = x0; ix < x1; ix++) {
            const v = x[row + ix];
            if (v > best || (v !== v && best === best)) {
              best = v;
              at = row + ix;
            }
          }
        }
        out[o] = best;
        argmax[o] = at;
      }
    }
  }
}

/** Cpu {@link MaxPool2dBackwardKernel}. */
export function maxPool2dBackwardCpu(gradOut: Float32Array, argmax: Int32Array, gradX: Float32Array, _g: Pool2dGeometry): void {
  gradX.fill(0);
  for (let i = 0; i < argmax.length; i++) gradX[argmax[i]] += gradOut[i];
}

/** Cpu {@link AvgPool2dForwardKernel}. */
export function avgPool2dForwardCpu(x: Float32Array, out: Float32Array, g: Pool2dGeometry): void {
  const { inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, kernelHeight: KH, kernelWidth: KW } = g;
  const planes = g.batch * g.channels;
  const { ys, xs } = windows(g);
  const full = KH * KW;
  let o = 0;
  for (let p = 0; p < planes; p++) {
    const base = p * H * W;
    for (let oy = 0; oy < OH; oy++) {
      const y0 = ys[2 * oy], y1 = ys[2 * oy + 1];
      for (let ox = 0; ox < OW; ox++, o++) {
        const x0 = xs[2 * ox], x1 = xs[2 * ox + 1];
        let s = 0;
        for (let iy = y0; iy < y1; iy++) {
          const row = base + iy * W;
          for (let ix = x0; ix < x1; ix++) s += x[row + ix];
        }
        out[o] = s / (g.countIncludePad ? full : (y1 - y0) * (x1 - x0));
      }
    }
  }
}

/** Cpu {@link AvgPool2dBackwardKernel}. */
export function avgPool2dBackwardCpu(gradOut: Float32Array, gradX: Float32Array, g: Pool2dGeometry): void {
  const { inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, kernelHeight: KH, kernelWidth: KW } = g;
  const planes = g.batch * g.channels;
  const { ys, xs } = windows(g);
  const full = KH * KW;
  gradX.fill(0);
  let o = 0;
  for (let p = 0; p < planes; p++) {
    const base = p * H * W;
    for (let oy = 0; oy < OH; oy++) {
      const y0 = ys[2 * oy], y1 = ys[2 * oy + 1];
      for (let ox = 0; ox < OW; ox++, o++) {
        const x0 = xs[2 * ox], x1 = xs[2 * ox + 1];
        const share = gradOut[o] / (g.countIncludePad ? full : (y1 - y0) * (x1 - x0));
        for (let iy = y0; iy < y1; iy++) {
          const row = base + iy * W;
          for (let ix = x0; ix < x1; ix++) gradX[row + ix] += share;
        }
      }
    }
  }
}

registerKernel('maxPool2dForward', 'cpu', maxPool2dForwardCpu);
registerKernel('maxPool2dBackward', 'cpu', maxPool2dBackwardCpu);
registerKernel('avgPool2dForward', 'cpu', avgPool2dForwardCpu);
registerKernel('avgPool2dBackward', 'cpu', avgPool2dBackwardCpu);
