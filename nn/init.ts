/**
 * Weight initialisers with PyTorch's `torch.nn.init` formulas. Each fills a tensor in place from
 * an explicit {@link Rng} and returns it. Import as a namespace: `import * as init from './init.js'`.
 */
import { ValueError, fmtShape } from '../base/errors.js';
import type { Rng } from '../base/rng.js';
import type { Tensor } from '../engine/tensor.js';

/** Non-linearities `calculateGain` knows (PyTorch's names). */
export type Nonlinearity = 'linear' | 'conv2d' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' | 'selu';

/** Which fan a Kaiming initialiser scales by: `fan_in` keeps forward variance, `fan_out` backward. */
export type FanMode = 'fan_in' | 'fan_out';

/**
 * PyTorch's recommended gain for a non-linearity (`leaky_relu` uses `param` as the slope, default 0.01).
 * @example calculateGain('relu') // √2
 */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear':
    case 'conv2d':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu':
      return 3 / 4;
    default:
      throw new ValueError('calculateGain', `unknown non-linearity '${String(nonlinearity)}'; expected one of linear, conv2d, sigmoid, tanh, relu, leaky_relu, selu`);
  }
}

/**
 * Fan-in and fan-out of a weight shape as PyTorch computes them: `[out, in, ...kernel]` gives
 * `fanIn = in·∏kernel`, `fanOut = out·∏kernel` (for a grouped conv, `in` is already per group).
 * @example fans([16, 3, 3, 3]) // { fanIn: 27, fanOut: 144 }
 */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2) throw new ValueError('init.fans', `fan in and fan out need a tensor with at least 2 dims, got shape ${fmtShape(shape)}`);
  let receptive = 1;
  for (let i = 2; i < shape.length; i++) receptive *= shape[i];
  return { fanIn: shape[1] * receptive, fanOut: shape[0] * receptive };
}

/** Options of the Kaiming initialisers (PyTorch's defaults: `a = 0`, `fan_in`, `leaky_relu`). */
export interface KaimingOptions {
  /** Negative slope of the rectifier after this layer (only with `leaky_relu`). */
  a?: number;
  mode?: FanMode;
  nonlinearity?: Nonlinearity;
}

function kaimingStd(t: Tensor, opts: KaimingOptions, op: string): number {
  const { fanIn, fanOut } = fans(t.shape);
  const fan = (opts.mode ?? 'fan_in') === 'fan_in' ? fanIn : fanOut;
  if (fan === 0) throw new ValueError(op, `cannot initialise a tensor with zero fan (shape ${fmtShape(t.shape)})`);
  return calculateGain(opts.nonlinearity ?? 'leaky_relu', opts.a ?? 0) / Math.sqrt(fan);
}

/**
 * He normal: `N(0, std²)` with `std = gain / √fan` (PyTorch's `kaiming_normal_`).
 * @example kaimingNormal(conv.weight, rng, { mode: 'fan_out', nonlinearity: 'relu' })
 */
export function kaimingNormal(t: Tensor, rng: Rng, opts: KaimingOptions = {}): Tensor {
  return normal(t, 0, kaimingStd(t, opts, 'init.kaimingNormal'), rng);
}

/**
 * He uniform: `U(−b, b)` with `b = gain·√(3 / fan)` (PyTorch's `kaiming_uniform_`). PyTorch's
 * default Conv2d/Linear weight init is `kaimingUniform(w, rng, { a: √5 })`, i.e. `b = 1/√fanIn`.
 */
export function kaimingUniform(t: Tensor, rng: Rng, opts: KaimingOptions = {}): Tensor {
  const bound = Math.sqrt(3) * kaimingStd(t, opts, 'init.kaimingUniform');
  return uniform(t, -bound, bound, rng);
}

/** Fills with `U(low, high)`. @example uniform(bias, -0.1, 0.1, rng) */
export function uniform(t: Tensor, low: number, high: number, rng: Rng): Tensor {
  const d = t.data;
  for (let i = 0; i < d.length; i++) d[i] = rng.uniformRange(low, high);
  return t;
}

/** Fills with `N(mean, std²)`. */
export function normal(t: Tensor, mean: number, std: number, rng: Rng): Tensor {
  const d = t.data;
  for (let i = 0; i < d.length; i++) d[i] = mean + std * rng.normal();
  return t;
}

/** Fills with `value`. */
export function constant(t: Tensor, value: number): Tensor {
  t.data.fill(value);
  return t;
}

/** Fills with 0. */
export function zeros(t: Tensor): Tensor {
  return constant(t, 0);
}

/** Fills with 1. */
export function ones(t: Tensor): Tensor {
  return constant(t, 1);
}
