/**
 * Fast cpu log-softmax and fused softmax cross-entropy, row by row (max-shifted, one exp per element).
 */
import { registerKernel } from '../registry.js';

/** Cpu {@link LogSoftmaxKernel}. */
export function logSoftmaxCpu(x: Float32Array, rows: number, cols: number, out: Float32Array): void {
  for (let r = 0, o = 0; r < rows; r++, o += cols) {
    const end = o + cols;
    let m = -Infinity;
    for (let i = o; i < end; i++) if (x[i] > m) m = x[i];
    let s = 0;
    for (let i = o; i < end; i++) s += Math.exp(x[i] - m);
    const lse = m + Math.log(s);
    for (let i = o; i < end; i++) out[i] = x[i] - lse;
  }
}

/** Cpu {@link LogSoftmaxBackwardKernel}. */
export function logSoftmaxBackwardCpu(y: Float32Array, g: Float32Array, rows: number, cols: number, gx: Float32Array): void {
  for (let r = 0, o = 0; r < rows; r++, o += cols) {
    const end = o + cols;
    let s = 0;
    for (let i = o; i < end; i++) s += g[i];
    for (let i = o; i < end; i++) gx[i] = g[i] - Math.exp(y[i]) * s;
  }
}

/** Cpu {@link SoftmaxCrossEntropyKernel}: loss = (1−ε)(lse − x_label) + ε·(lse − mean x). */
export function softmaxCrossEntropyCpu(
  logits: Float32Array, labels: Int32Array, rows: number, cols: number, smoothing: number, losses: Float32Array, probs: Float32Array,
): void {
  for (let r = 0, o = 0; r < rows; r++, o += cols) {
    const end = o + cols;
    let m = -Infinity;
    for (let i = o; i < end; i++) if (logits[i] > m) m = logits[i];
    let s = 0;
    let sumX = 0;
    for (let i = o; i < end; i++) {
      const v = logits[i];
      sumX += v;
      s += Math.exp(v - m);
    }
    const lse = m + Math.log(s);
    for (let i = o; i < end; i++) probs[i] = Math.exp(logits[i] - lse);
    const nll = lse - logits[o + labels[r]];
    losses[r] = smoothing === 0 ? nll : (1 - smoothing) * nll + smoothing * (lse - sumX / cols);
  }
}

/** Cpu {@link SoftmaxCrossEntropyBackwardKernel}. */
export function softmaxCrossEntropyBackwardCpu(
  probs: Float32Array, labels: Int32Array, rows: number, cols: number, smoothing: number, gradScale: number, gx: Float32Array,
): void {
  const floor = smoothing / cols;
  for (let r = 0, o = 0; r < rows; r++, o += cols) {
    const end = o + cols;
    for (let i = o; i < end; i++) gx[i] = gradScale * (probs[i] - floor);
    gx[o + labels[r]] -= gradScale * (1 - smoothing);
  }
}

registerKernel('logSoftmax', 'cpu', logSoftmaxCpu);
registerKernel('logSoftmaxBackward', 'cpu', logSoftmaxBackwardCpu);
registerKernel('softmaxCrossEntropy', 'cpu', softmaxCrossEntropyCpu);
registerKernel('softmaxCrossEntropyBackward', 'cpu', softmaxCrossEntropyBackwardCpu);
