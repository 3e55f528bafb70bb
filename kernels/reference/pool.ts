/**
 * Reference (float64, the spec) 2-D max and average pooling in NCHW, PyTorch semantics:
 * max pooling treats padding as −∞, average pooling divides by the window size (countIncludePad)
 * or by the number of in-bounds elements.
 */
import { registerKernel } from '../registry.js';
import type { Pool2dGeometry } from '../types.js';
/** Reference kernels take either precision and compute in float64. */
type FloatArray = Float32Array | Float64Array;

/** Reference {@link MaxPool2dForwardKernel}; argmax holds flat indices into x, first maximum wins. */
export function maxPool2dForwardReference(x: FloatArray, out: FloatArray, argmax: Int32Array, g: Pool2dGeometry): void {
  const planes = g.batch * g.channels;
  for (let p = 0; p < planes; p++) {
    const xBase = p * g.inHeight * g.inWidth;
    for (let oy = 0; oy < g.outHeight; oy++) {
      for (let ox = 0; ox < g.outWidth; ox++) {
        let best = -Infinity;
        let at = -1;
        for (let i = 0; i < g.kernelHeight; i++) {
          const iy = oy * g.strideH - g.padH + i;
          if (iy < 0 || iy >= g.inHeight) continue;
          for (let j = 0; j < g.kernelWidth; j++) {
            const ix = ox * g.strideW - g.padW + j;
            if (ix < 0 || ix >= g.inWidth) continue;
            const idx = xBase + iy * g.inWidth + ix;
            const v = x[idx];
            if (at < 0 || v > best || (Number.isNaN(v) && !Number.isNaN(best))) {
              best = v;
              at = idx;
            }
          }
        }
        const o = (p * g.outHeight + oy) * g.outWidth + ox;
        out[o] = best;
        argmax[o] = at;
      }
    }
  }
}

/** Reference {@link MaxPool2dBackwardKernel}: gradX = 0, then gradX[argmax[i]] += gradOut[i]. */
export function maxPool2dBackwardReference(gradOut: FloatArray, argmax: Int32Array, gradX: FloatArray, _g: Pool2dGeometry): void {
  gradX.fill(0);
  for (let i = 0; i < argmax.length; i++) gradX[argmax[i]] += gradOut[i];
}

/** The divisor of one window: the full kernel area with countIncludePad (PyTorch, no ceil mode), else the in-bounds count. */
function windowDivisor(g: Pool2dGeometry, oy: number, ox: number): number {
  if (g.countIncludePad) return g.kernelHeight * g.kernelWidth;
  const y0 = Math.max(0, oy * g.strideH - g.padH);
  const y1 = Math.min(g.inHeight, oy * g.strideH - g.padH + g.kernelHeight);
  const x0 = Math.max(0, ox * g.strideW - g.padW);
  const x1 = Math.min(g.inWidth, ox * g.strideW - g.padW + g.kernelWidth);
  return (y1 - y0) * (x1 - x0);
}

/** Reference {@link AvgPool2dForwardKernel}. */
export function avgPool2dForwardReference(x: FloatArray, out: FloatArray, g: Pool2dGeometry): void {
  const planes = g.batch * g.channels;
  for (let p = 0; p < planes; p++) {
    const xBase = p * g.inHeight * g.inWidth;
    for (let oy = 0; oy < g.outHeight; oy++) {
      for (let ox = 0; ox < g.outWidth; ox++) {
        let s = 0;
        for (let i = 0; i < g.kernelHeight; i++) {
          const iy = oy * g.strideH - g.padH + i;
          if (iy < 0 || iy >= g.inHeight) continue;
          for (let j = 0; j < g.kernelWidth; j++) {
            const ix = ox * g.strideW - g.padW + j;
            if (ix < 0 || ix >= g.inWidth) continue;
            s += x[xBase + iy * g.inWidth + ix];
          }
        }
        out[(p * g.outHeight + oy) * g.outWidth + ox] = s / windowDivisor(g, oy, ox);
      }
    }
  }
}

/** Reference {@link AvgPool2dBackwardKernel}: each gradOut element spread evenly over its window's in-bounds inputs. */
export function avgPool2dBackwardReference(gradOut: FloatArray, gradX: FloatArray, g: Pool2dGeometry): void {
  const acc = new Float64Array(gradX.length);
  const planes = g.batch * g.channels;
  for (let p = 0; p < planes; p++) {
    const xBase = p * g.inHeight * g.inWidth;
    for (let oy = 0; oy < g.outHeight; oy++) {
      for (let ox = 0; ox < g.outWidth; ox++) {
        const share = gradOut[(p * g.outHeight + oy) * g.outWidth + ox] / windowDivisor(g, oy, ox);
        for (let i = 0; i < g.kernelHeight; i++) {
          const iy = oy * g.strideH - g.padH + i;
          if (iy < 0 || iy >= g.inHeight) continue;
          for (let j = 0; j < g.kernelWidth; j++) {
            const ix = ox * g.strideW - g.padW + j;
            if (ix < 0 || ix >= g.inWidth) continue;
            acc[xBase + iy * g.inWidth + ix] += share;
          }
        }
      }
    }
  }
  for (let i = 0; i < acc.length; i++) gradX[i] = acc[i];
}

registerKernel('maxPool2dForward', 'reference', maxPool2dForwardReference);
registerKernel('maxPool2dBackward', 'reference', maxPool2dBackwardReference);
registerKernel('avgPool2dForward', 'reference', avgPool2dForwardReference);
registerKernel('avgPool2dBackward', 'reference', avgPool2dBackwardReference);
