/**
 * Reference (float64, the spec) log-softmax and fused softmax cross-entropy over the last dim of
 * a [rows, cols] view.
 */
import { registerKernel } from '../registry.js';
import type { FloatArray } from './util.js';

/** Reference {@link LogSoftmaxKernel}: logp = x − max − log Σ exp(x − max). */
export function logSoftmaxReference(x: FloatArray, rows: number, cols: number, out: FloatArray): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let m = -Infinity;
    for (let c = 0; c < cols; c++) m = Math.max(m, x[o + c]);
    let s = 0;
    for (let c = 0; c < cols; c++) s += Math.exp(x[o + c] - m);
    const lse = m + Math.log(s);
    for (let c = 0; c < cols; c++) out[o + c] = x[o + c] - lse;
  }
}

/** Reference {@link LogSoftmaxBackwardKernel}. */
export function logSoftmaxBackwardReference(y: FloatArray, gradOut: FloatArray, rows: number, cols: number, gradX: FloatArray): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let s = 0;
    for (let c = 0; c < cols; c++) s += gradOut[o + c];
    for (let c = 0; c < cols; c++) gradX[o + c] = gradOut[o + c] - Math.exp(y[o + c]) * s;
  }
}

/** Reference {@link SoftmaxCrossEntropyKernel}, composed from {@link logSoftmaxReference}. */
export function softmaxCrossEntropyReference(
  logits: FloatArray, labels: Int32Array, rows: number, cols: number, smoothing: number, losses: FloatArray, probs: FloatArray,
): void {
  const logp = new Float64Array(rows * cols);
  logSoftmaxReference(logits, rows, cols, logp);
  for (let r = 0; r < rows; r++) {
    let sumNeg = 0;
    for (let c = 0; c < cols; c++) {
      sumNeg -= logp[r * cols + c];
      probs[r * cols + c] = Math.exp(logp[r * cols + c]);
    }
    const nll = -logp[r * cols + labels[r]];
    losses[r] = (1 - smoothing) * nll + (smoothing * sumNeg) / cols;
  }
}

/** Reference {@link SoftmaxCrossEntropyBackwardKernel}. */
export function softmaxCrossEntropyBackwardReference(
  probs: FloatArray, labels: Int32Array, rows: number, cols: number, smoothing: number, gradScale: number, gradX: FloatArray,
): void {
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const q = (c === labels[r] ? 1 - smoothing : 0) + smoothing / cols;
      gradX[r * cols + c] = gradScale * (probs[r * cols + c] - q);
    }
  }
}

registerKernel('logSoftmax', 'reference', logSoftmaxReference);
registerKernel('logSoftmaxBackward', 'reference', logSoftmaxBackwardReference);
registerKernel('softmaxCrossEntropy', 'reference', softmaxCrossEntropyReference);
registerKernel('softmaxCrossEntropyBackward', 'reference', softmaxCrossEntropyBackwardReference);
