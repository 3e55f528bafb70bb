/**
 * Fast cpu batch norm over x viewed as [batch, channels, spatial]: per-channel sums in float64
 * (two passes, so the variance does not suffer E[x²] − E[x]² cancellation) and fused
 * scale/shift writes. Where WASM SIMD runs, kernels/wasm/elementwise.ts does the same passes with
 * f64x2 accumulators (identical per-element formulas; sums in lane order).
 */
import { registerKernel, traceImplementation } from '../registry.js';
import { backendSettings } from '../settings.js';
import type { BatchNormGeometry } from '../types.js';
import { wasmBatchNormBackward, wasmBatchNormForwardEval, wasmBatchNormForwardTrain } from '../wasm/elementwise.js';

/** Names the implementation of `op` for the kernel trace (only when tracing). */
function ran(op: string, wasm: boolean): void {
  if (backendSettings().traceKernels) traceImplementation(op, wasm ? 'wasm-simd' : 'typescript');
}

/** Cpu {@link BatchNormForwardTrainKernel}. */
export function batchNormForwardTrainCpu(
  x: Float32Array, weight: Float32Array | null, bias: Float32Array | null, eps: number,
  out: Float32Array, saveMean: Float32Array, saveVar: Float32Array, g: BatchNormGeometry,
): void {
  const wasm = wasmBatchNormForwardTrain(x, weight, bias, eps, out, saveMean, saveVar, g);
  ran('batchNormForwardTrain', wasm);
  if (wasm) return;
  const { batch, channels, spatial } = g;
  const count = batch * spatial;
  for (let c = 0; c < channels; c++) {
    let s = 0;
    for (let n = 0; n < batch; n++) {
      const base = (n * channels + c) * spatial;
      for (let i = 0; i < spatial; i++) s += x[base + i];
    }
    const mean = s / count;
    let v = 0;
    for (let n = 0; n < batch; n++) {
      const base = (n * channels + c) * spatial;
      for (let i = 0; i < spatial; i++) {
        const d = x[base + i] - mean;
        v += d * d;
      }
    }
    const variance = v / count;
    const scale = (weight === null ? 1 : weight[c]) / Math.sqrt(variance + eps);
    const shift = (bias === null ? 0 : bias[c]) - mean * scale;
    for (let n = 0; n < batch; n++) {
      const base = (n * channels + c) * spatial;
      for (let i = 0; i < spatial; i++) out[base + i] = x[base + i] * scale + shift;
    }
    saveMean[c] = mean;
    saveVar[c] = variance;
  }
}

/** Cpu {@link BatchNormForwardEvalKernel}. */
export function batchNormForwardEvalCpu(
  x: Float32Array, weight: Float32Array | null, bias: Float32Array | null, mean: Float32Array, invstd: Float32Array,
  out: Float32Array, g: BatchNormGeometry,
): void {
  const wasm = wasmBatchNormForwardEval(x, weight, bias, mean, invstd, out, g);
  ran('batchNormForwardEval', wasm);
  if (wasm) return;
  const { batch, channels, spatial } = g;
  for (let c = 0; c < channels; c++) {
    const scale = (weight === null ? 1 : weight[c]) * invstd[c];
    const shift = (bias === null ? 0 : bias[c]) - mean[c] * scale;
    for (let n = 0; n < batch; n++) {
      const base = (n * channels + c) * spatial;
      for (let i = 0; i < spatial; i++) out[base + i] = x[base + i] * scale + shift;
    }
  }
}

/** Cpu {@link BatchNormBackwardKernel}. */
export function batchNormBackwardCpu(
  x: Float32Array, gradOut: Float32Array, weight: Float32Array | null, mean: Float32Array, invstd: Float32Array, batchStats: boolean,
  gradX: Float32Array | null, gradWeight: Float32Array | null, gradBias: Float32Array | null, g: BatchNormGeometry,
): void {
  const wasm = wasmBatchNormBackward(x, gradOut, weight, mean, invstd, batchStats, gradX, gradWeight, gradBias, g);
  ran('batchNormBackward', wasm);
  if (wasm) return;
  const { batch, channels, spatial } = g;
  const count = batch * spatial;
  for (let c = 0; c < channels; c++) {
    const mu = mean[c];
    const is = invstd[c];
    let sumDy = 0;
    let sumDyXc = 0;
    for (let n = 0; n < batch; n++) {
      const base = (n * channels + c) * spatial;
      for (let i = 0; i < spatial; i++) {
        const dy = gradOut[base + i];
        sumDy += dy;
        sumDyXc += dy * (x[base + i] - mu);
      }
    }
    const sumDyXhat = sumDyXc * is;
    if (gradWeight !== null) gradWeight[c] = sumDyXhat;
    if (gradBias !== null) gradBias[c] = sumDy;
    if (gradX === null) continue;
    const k = (weight === null ? 1 : weight[c]) * is;
    if (batchStats) {
      // dx = k·(dy − Σdy/M − x̂·Σ(dy·x̂)/M) = k·dy − k·(x − μ)·is²·Σ(dy·(x−μ))/M − k·Σdy/M
      const meanDy = sumDy / count;
      const proj = sumDyXc * is * is / count;
      for (let n = 0; n < batch; n++) {
        const base = (n * channels + c) * spatial;
        for (let i = 0; i < spatial; i++) gradX[base + i] = k * (gradOut[base + i] - meanDy - (x[base + i] - mu) * proj);
      }
    } else {
      for (let n = 0; n < batch; n++) {
        const base = (n * channels + c) * spatial;
        for (let i = 0; i < spatial; i++) gradX[base + i] = k * gradOut[base + i];
      }
    }
  }
}

registerKernel('batchNormForwardTrain', 'cpu', batchNormForwardTrainCpu);
registerKernel('batchNormForwardEval', 'cpu', batchNormForwardEvalCpu);
registerKernel('batchNormBackward', 'cpu', batchNormBackwardCpu);
