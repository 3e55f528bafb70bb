/**
 * Squeeze-and-excitation (Hu et al. 2018) as EfficientNet uses it: a per-channel gate computed from
 * the channel means, composed from differentiable ops (global average pool, two 1×1 convs with
 * bias, swish, sigmoid, broadcast multiply), so its backward is theirs.
 */
import { ShapeError, fmtShape } from '../../base/errors.js';
import type { Tensor } from '../tensor.js';
import { conv2d } from './conv.js';
import { mul, sigmoid, swish } from './elementwise.js';
import { globalAvgPool2d } from './pool.js';

/** Weights of {@link squeezeExcitation}: `reduce [S, C, 1, 1]` + bias `[S]`, `expand [C, S, 1, 1]` + bias `[C]`. */
export interface SqueezeExcitationWeights {
  reduceWeight: Tensor;
  reduceBias: Tensor | null;
  expandWeight: Tensor;
  expandBias: Tensor | null;
}

/**
 * `x · σ(expand(swish(reduce(mean_hw(x)))))` over `x [N, C, H, W]`: EfficientNet-PyTorch's
 * `_se_reduce` / `_se_expand` block (swish inside, sigmoid gate).
 * @example squeezeExcitation(x, { reduceWeight, reduceBias, expandWeight, expandBias }).shape // x.shape
 */
export function squeezeExcitation(x: Tensor, w: SqueezeExcitationWeights): Tensor {
  if (x.ndim !== 4) throw new ShapeError('squeezeExcitation', `input must be 4-D [N, C, H, W], got ${fmtShape(x.shape)}`);
  const c = x.shape[1];
  const r = w.reduceWeight.shape;
  const e = w.expandWeight.shape;
  if (r.length !== 4 || r[1] !== c || r[2] !== 1 || r[3] !== 1 || e.length !== 4 || e[0] !== c || e[1] !== r[0] || e[2] !== 1 || e[3] !== 1) {
    throw new ShapeError('squeezeExcitation', `weights reduce ${fmtShape(r)} and expand ${fmtShape(e)} do not fit ${c} channels; need [S, ${c}, 1, 1] and [${c}, S, 1, 1]`);
  }
  const s = conv2d(swish(conv2d(globalAvgPool2d(x), w.reduceWeight, w.reduceBias)), w.expandWeight, w.expandBias);
  return mul(x, sigmoid(s));
}
