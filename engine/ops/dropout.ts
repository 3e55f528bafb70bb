/**
 * Inverted dropout: in training, each element is zeroed with probability p and survivors are
 * scaled by 1/(1−p), so evaluation needs no rescaling.
 */
import { kernel } from '../../kernels/registry.js';
import { ValueError } from '../errors.js';
import type { Rng } from '../rng.js';
import { Tensor, makeResult, stridesOf } from '../tensor.js';

/**
 * Inverted dropout with a mask drawn from `rng` (one uniform draw per element, in order); returns
 * `x` itself when `!training` or `p = 0`, zeros when `p = 1`.
 * @example const h = dropout(x, 0.5, model.training, rng);
 */
export function dropout(x: Tensor, p: number, training: boolean, rng: Rng): Tensor {
  if (!(p >= 0 && p <= 1)) throw new ValueError('dropout', `p must be in [0, 1], got ${p}`);
  if (!training || p === 0) return x;
  const keepScale = p === 1 ? 0 : 1 / (1 - p);
  // The mask holds 0 or 1/(1−p), so forward and backward are one multiply each.
  const mask = new Float32Array(x.size);
  for (let i = 0; i < mask.length; i++) mask[i] = rng.uniform() < p ? 0 : keepScale;
  const strides = stridesOf(x.shape);
  const out = new Float32Array(x.size);
  kernel('binary', x.size)('mul', x.data, strides, mask, strides, out, x.shape);
  return makeResult('dropout', out, x.shape, [x], (g) => {
    const gx = new Float32Array(g.length);
    kernel('binary', g.length)('mul', g, strides, mask, strides, gx, x.shape);
    return [gx];
  });
}
