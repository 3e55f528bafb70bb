/**
 * Batch normalisation for `[N, C]` and `[N, C, H, W]` with PyTorch semantics: training normalises
 * with batch statistics (biased variance) and updates running statistics in place with the
 * unbiased variance; evaluation uses the running statistics.
 */
import { kernel } from '../../kernels/registry.js';
import type { BatchNormGeometry } from '../../kernels/types.js';
import { ShapeError, ValueError, fmtShape } from '../../base/errors.js';
import { Tensor, gradBuffer, makeResult, needsGrad, outputBuffer } from '../tensor.js';

/** Options of {@link batchNorm}. */
export interface BatchNormOptions {
  /** Per-channel scale γ `[C]`, or null for 1. */
  weight: Tensor | null;
  /** Per-channel shift β `[C]`, or null for 0. */
  bias: Tensor | null;
  /** Running mean `[C]`, updated in place in training; null = always use batch statistics. */
  runningMean: Float32Array | null;
  /** Running (unbiased) variance `[C]`, updated in place in training. */
  runningVar: Float32Array | null;
  training: boolean;
  /** running = (1 − momentum)·running + momentum·batch (default 0.1). */
  momentum?: number;
  /** Added to the variance before the square root (default 1e-5). */
  eps?: number;
}

/**
 * Batch norm of `x [N, C]` or `[N, C, H, W]` over all dims but C.
 * @example batchNorm(x, { weight: gamma, bias: beta, runningMean: rm, runningVar: rv, training: true })
 */
export function batchNorm(x: Tensor, opts: BatchNormOptions): Tensor {
  const op = 'batchNorm';
  if (x.ndim !== 2 && x.ndim !== 4) throw new ShapeError(op, `input must be [N, C] or [N, C, H, W], got ${fmtShape(x.shape)}`);
  const [batch, channels] = x.shape;
  const spatial = x.ndim === 4 ? x.shape[2] * x.shape[3] : 1;
  const { weight, bias, runningMean, runningVar, training } = opts;
  const momentum = opts.momentum ?? 0.1;
  const eps = opts.eps ?? 1e-5;
  for (const [name, t] of [['weight', weight], ['bias', bias]] as const) {
    if (t !== null && (t.ndim !== 1 || t.shape[0] !== channels)) throw new ShapeError(op, `${name} must have shape [${channels}] (one per channel of ${fmtShape(x.shape)}), got ${fmtShape(t.shape)}`);
  }
  if ((runningMean === null) !== (runningVar === null)) throw new ValueError(op, 'runningMean and runningVar must both be given or both be null');
  for (const [name, a] of [['runningMean', runningMean], ['runningVar', runningVar]] as const) {
    if (a !== null && a.length !== channels) throw new ShapeError(op, `${name} must have ${channels} entries (channels of ${fmtShape(x.shape)}), got ${a.length}`);
  }
  if (!(eps > 0)) throw new ValueError(op, `eps must be positive, got ${eps}`);
  if (!(momentum >= 0 && momentum <= 1)) throw new ValueError(op, `momentum must be in [0, 1], got ${momentum}`);
  const g: BatchNormGeometry = { batch, channels, spatial };
  const count = batch * spatial;
  const batchStats = training || runningMean === null;
  if (batchStats && count <= 1) throw new ValueError(op, `expected more than 1 value per channel when using batch statistics, got input ${fmtShape(x.shape)}`);

  const out = outputBuffer(x.size);
  const mean = new Float32Array(channels);
  const invstd = new Float32Array(channels);
  const wData = weight === null ? null : weight.data;
  const bData = bias === null ? null : bias.data;
  if (batchStats) {
    const variance = new Float32Array(channels);
    kernel('batchNormForwardTrain', 8 * x.size)(x.data, wData, bData, eps, out, mean, variance, g);
    for (let c = 0; c < channels; c++) invstd[c] = 1 / Math.sqrt(variance[c] + eps);
    if (training && runningMean !== null && runningVar !== null) {
      // NOTE: PyTorch stores the unbiased variance (n/(n−1)) in running_var but normalises with the biased one.
      const unbias = count / (count - 1);
      for (let c = 0; c < channels; c++) {
        runningMean[c] = (1 - momentum) * runningMean[c] + momentum * mean[c];
        runningVar[c] = (1 - momentum) * runningVar[c] + momentum * variance[c] * unbias;
      }
    }
  } else {
    for (let c = 0; c < channels; c++) {
      mean[c] = runningMean![c];
      invstd[c] = 1 / Math.sqrt(runningVar![c] + eps);
    }
    kernel('batchNormForwardEval', 4 * x.size)(x.data, wData, bData, mean, invstd, out, g);
  }
  const inputs = [x, ...(weight === null ? [] : [weight]), ...(bias === null ? [] : [bias])];
  const xData = needsGrad(...inputs) ? x.data : null;
  return makeResult(op, out, x.shape, inputs, (gradOut) => {
    const gx = x.tracked ? gradBuffer(x.size) : null;
    const gw = weight !== null && weight.tracked ? new Float32Array(channels) : null;
    const gb = bias !== null && bias.tracked ? new Float32Array(channels) : null;
    kernel('batchNormBackward', 8 * x.size)(xData!, gradOut, wData, mean, invstd, batchStats, gx, gw, gb, g);
    const grads: (Float32Array | null)[] = [gx];
    if (weight !== null) grads.push(gw);
    if (bias !== null) grads.push(gb);
    return grads;
  });
}
