/**
 * Reference (float64, the spec) 2-D convolution in NCHW/OIHW with stride, padding, dilation and
 * groups: forward and both gradients as direct loops over the definition.
 */
import { registerKernel } from '../registry.js';
import type { Conv2dGeometry } from '../types.js';
/** Reference kernels take either precision and compute in float64. */
type FloatArray = Float32Array | Float64Array;

/**
 * Reference {@link Conv2dForwardKernel}:
 * `out[n,o,y,x] = bias[o] + Σ_{c,i,j} x[n, g·cpg + c, y·sH − pH + i·dH, x·sW − pW + j·dW]·w[o,c,i,j]`.
 * @example conv2dForwardReference(x, w, null, out, conv2dGeometry(xShape, wShape, { padding: 1 }))
 */
export function conv2dForwardReference(x: FloatArray, weight: FloatArray, bias: FloatArray | null, out: FloatArray, g: Conv2dGeometry): void {
  const cpg = g.inChannels / g.groups;
  const opg = g.outChannels / g.groups;
  for (let n = 0; n < g.batch; n++) {
    for (let o = 0; o < g.outChannels; o++) {
      const grp = Math.floor(o / opg);
      for (let oy = 0; oy < g.outHeight; oy++) {
        for (let ox = 0; ox < g.outWidth; ox++) {
          let s = bias === null ? 0 : bias[o];
          for (let c = 0; c < cpg; c++) {
            const ic = grp * cpg + c;
            for (let i = 0; i < g.kernelHeight; i++) {
              const iy = oy * g.strideH - g.padH + i * g.dilationH;
              if (iy < 0 || iy >= g.inHeight) continue;
              for (let j = 0; j < g.kernelWidth; j++) {
                const ix = ox * g.strideW - g.padW + j * g.dilationW;
                if (ix < 0 || ix >= g.inWidth) continue;
                s += x[((n * g.inChannels + ic) * g.inHeight + iy) * g.inWidth + ix] * weight[((o * cpg + c) * g.kernelHeight + i) * g.kernelWidth + j];
              }
            }
          }
          out[((n * g.outChannels + o) * g.outHeight + oy) * g.outWidth + ox] = s;
        }
      }
    }
  }
}

/** Reference {@link Conv2dBackwardInputKernel}: scatters every gradOut·w product back onto the input position it read. */
export function conv2dBackwardInputReference(gradOut: FloatArray, weight: FloatArray, gradX: FloatArray, g: Conv2dGeometry): void {
  const cpg = g.inChannels / g.groups;
  const opg = g.outChannels / g.groups;
  const acc = new Float64Array(gradX.length);
  for (let n = 0; n < g.batch; n++) {
    for (let o = 0; o < g.outChannels; o++) {
      const grp = Math.floor(o / opg);
      for (let oy = 0; oy < g.outHeight; oy++) {
        for (let ox = 0; ox < g.outWidth; ox++) {
          const go = gradOut[((n * g.outChannels + o) * g.outHeight + oy) * g.outWidth + ox];
          for (let c = 0; c < cpg; c++) {
            const ic = grp * cpg + c;
            for (let i = 0; i < g.kernelHeight; i++) {
              const iy = oy * g.strideH - g.padH + i * g.dilationH;
              if (iy < 0 || iy >= g.inHeight) continue;
              for (let j = 0; j < g.kernelWidth; j++) {
                const ix = ox * g.strideW - g.padW + j * g.dilationW;
                if (ix < 0 || ix >= g.inWidth) continue;
                acc[((n * g.inChannels + ic) * g.inHeight + iy) * g.inWidth + ix] += go * weight[((o * cpg + c) * g.kernelHeight + i) * g.kernelWidth + j];
              }
            }
          }
        }
      }
    }
  }
  for (let i = 0; i < acc.length; i++) gradX[i] = acc[i];
}

/** Reference {@link Conv2dBackwardWeightKernel}: `gradW[o,c,i,j] = Σ_{n,y,x} gradOut[n,o,y,x]·x[n, ic, y·sH − pH + i·dH, ...]`. */
export function conv2dBackwardWeightReference(x: FloatArray, gradOut: FloatArray, gradW: FloatArray, g: Conv2dGeometry): void {
  const cpg = g.inChannels / g.groups;
  const opg = g.outChannels / g.groups;
  for (let o = 0; o < g.outChannels; o++) {
    const grp = Math.floor(o / opg);
    for (let c = 0; c < cpg; c++) {
      const ic = grp * cpg + c;
      for (let i = 0; i < g.kernelHeight; i++) {
        for (let j = 0; j < g.kernelWidth; j++) {
          let s = 0;
          for (let n = 0; n < g.batch; n++) {
            for (let oy = 0; oy < g.outHeight; oy++) {
              const iy = oy * g.strideH - g.padH + i * g.dilationH;
              if (iy < 0 || iy >= g.inHeight) continue;
              for (let ox = 0; ox < g.outWidth; ox++) {
                const ix = ox * g.strideW - g.padW + j * g.dilationW;
                if (ix < 0 || ix >= g.inWidth) continue;
                s += gradOut[((n * g.outChannels + o) * g.outHeight + oy) * g.outWidth + ox] * x[((n * g.inChannels + ic) * g.inHeight + iy) * g.inWidth + ix];
              }
            }
          }
          gradW[((o * cpg + c) * g.kernelHeight + i) * g.kernelWidth + j] = s;
        }
      }
    }
  }
}

registerKernel('conv2dForward', 'reference', conv2dForwardReference);
registerKernel('conv2dBackwardInput', 'reference', conv2dBackwardInputReference);
registerKernel('conv2dBackwardWeight', 'reference', conv2dBackwardWeightReference);
