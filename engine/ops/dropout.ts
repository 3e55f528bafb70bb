/**
 * Inverted dropout: in training, each element is zeroed with probability p and survivors are
 * scaled by 1/(1−p), so evaluation needs no rescaling.
 */
import { kernel } from '../../kernels/registry.js';
import { ValueError } from '../../base/errors.js';
import type { Rng } from '../../base/rng.js';
import { Tensor, makeResult, stridesOf } from '../tensor.js';
import { mul } from './elementwise.js';

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

/**
 * Drop-connect (stochastic depth) of a residual branch `x [N, ...]`: in training each **sample** is
 * zeroed with probability `p` and kept samples are scaled by `1/(1−p)`; the identity in evaluation
 * or for `p = 0`. One uniform draw per sample, in order, from `rng` (seeded, so runs repeat). This
 * is EfficientNet's `drop_connect`: keep ⇔ `floor(1 − p + u) = 1` ⇔ `u ≥ p`.
 * @example y = add(dropConnect(branch, 0.2 * i / blocks, model.training, rng), x)
 */
export function dropConnect(x: Tensor, p: number, training: boolean, rng: Rng): Tensor {
  if (!(p >= 0 && p < 1)) throw new ValueError('dropConnect', `p must be in [0, 1), got ${p}`);
  if (!training || p === 0) return x;
  if (x.ndim < 1) throw new ValueError('dropConnect', 'needs a batch dimension');
  const n = x.shape[0];
  const keepScale = 1 / (1 - p);
  const mask = new Float32Array(n);
  for (let i = 0; i < n; i++) mask[i] = rng.uniform() < p ? 0 : keepScale;
  // [N, 1, ..., 1]: the broadcast multiply's backward sends the same mask back.
  return mul(x, new Tensor(mask, [n, ...x.shape.slice(1).map(() => 1)]));
}
