/**
 * Reference (float64, the spec) batch normalisation over x viewed as [batch, channels, spatial].
 */
import { registerKernel } from '../registry.js';
import type { BatchNormGeometry } from '../types.js';
/** Reference kernels take either precision and compute in float64. */
type FloatArray = Float32Array | Float64Array;

/** Reference {@link BatchNormForwardTrainKernel}: two-pass mean and biased variance per channel. */
export function batchNormForwardTrainReference(
  x: FloatArray, weight: FloatArray | null, bias: FloatArray | null, eps: number,
  out: FloatArray, saveMean: FloatArray, saveVar: FloatArray, g: BatchNormGeometry,
): void {
  const { batch, channels, spatial } = g;
  const count = batch * spatial;
  for (let c = 0; c < channels; c++) {
    let s = 0;
    for (let n = 0; n < batch; n++) for (let i = 0; i < spatial; i++) s += x[(n * channels + c) * spatial + i];
    const mean = s / count;
    let v = 0;
    for (let n = 0; n < batch; n++) {
      for (let i = 0; i < spatial; i++) {
        const d = x[(n * channels + c) * spatial + i] - mean;
        v += d * d;
      }
    }
    const variance = v / count;
    const invstd = 1 / Math.sqrt(variance + eps);
    const w = weight === null ? 1 : weight[c];
    const b = bias === null ? 0 : bias[c];
    for (let n = 0; n < batch; n++) {
      for (let i = 0; i < spatial; i++) {
        const k = (n * channels + c) * spatial + i;
        out[k] = (x[k] - mean) * invstd * w + b;
      }
    }
    saveMean[c] = mean;
    saveVar[c] = variance;
  }
}

/** Reference {@link BatchNormForwardEvalKernel}. */
export function batchNormForwardEvalReference(
  x: FloatArray, weight: FloatArray | null, bias: FloatArray | null, mean: FloatArray, invstd: FloatArray,
  out: FloatArray, g: BatchNormGeometry,
): void {
  const { batch, channels, spatial } = g;
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < channels; c++) {
      const w = weight === null ? 1 : weight[c];
      const b = bias === null ? 0 : bias[c];
      for (let i = 0; i < spatial; i++) {
        const k = (n * channels + c) * spatial + i;
        out[k] = (x[k] - mean[c]) * invstd[c] * w + b;
      }
    }
  }
}

/**
 * Reference {@link BatchNormBackwardKernel}. With batch statistics:
 * dx = w·invstd/M·(M·dy − Σdy − x̂·Σ(dy·x̂)); with fixed statistics dx = dy·w·invstd.
 */
export function batchNormBackwardReference(
  x: FloatArray, gradOut: FloatArray, weight: FloatArray | null, mean: FloatArray, invstd: FloatArray, batchStats: boolean,
  gradX: FloatArray | null, gradWeight: FloatArray | null, gradBias: FloatArray | null, g: BatchNormGeometry,
): void {
  const { batch, channels, spatial } = g;
  const count = batch * spatial;
  for (let c = 0; c < channels; c++) {
    let sumDy = 0;
    let sumDyXhat = 0;
    for (let n = 0; n < batch; n++) {
      for (let i = 0; i < spatial; i++) {
        const k = (n * channels + c) * spatial + i;
        sumDy += gradOut[k];
        sumDyXhat += gradOut[k] * (x[k] - mean[c]) * invstd[c];
      }
    }
    if (gradWeight !== null) gradWeight[c] = sumDyXhat;
    if (gradBias !== null) gradBias[c] = sumDy;
    if (gradX === null) continue;
    const w = weight === null ? 1 : weight[c];
    for (let n = 0; n < batch; n++) {
      for (let i = 0; i < spatial; i++) {
        const k = (n * channels + c) * spatial + i;
        if (batchStats) {
          const xhat = (x[k] - mean[c]) * invstd[c];
          gradX[k] = (w * invstd[c] / count) * (count * gradOut[k] - sumDy - xhat * sumDyXhat);
        } else {
          gradX[k] = gradOut[k] * w * invstd[c];
        }
      }
    }
  }
}

registerKernel('batchNormForwardTrain', 'reference', batchNormForwardTrainReference);
registerKernel('batchNormForwardEval', 'reference', batchNormForwardEvalReference);
registerKernel('batchNormBackward', 'reference', batchNormBackwardReference);
