/**
 * Elementwise ops: unary activations and broadcast binary arithmetic, forward and backward side by
 * side. Binary ops take a `number` on either side; gradients of broadcast inputs are summed back to
 * their shapes.
 */
import { kernel } from '../../kernels/registry.js';
import type { BinaryOp, UnaryOp } from '../../kernels/types.js';
import { Tensor, gradBuffer, makeResult, outputBuffer } from '../tensor.js';
import { broadcastShapes, broadcastStrides, sumToShape } from './broadcast.js';

function unary(op: UnaryOp, x: Tensor): Tensor {
  const out = outputBuffer(x.size);
  kernel('unary', x.size)(op, x.data, out);
  return makeResult(op, out, x.shape, [x], (g) => {
    const gx = gradBuffer(g.length);
    kernel('unaryBackward', g.length)(op, x.data, out, g, gx);
    return [gx];
  });
}

/** −x. @example neg(tensor([1, -2])) // [-1, 2] */
export function neg(x: Tensor): Tensor {
  return unary('neg', x);
}
/** eˣ. */
export function exp(x: Tensor): Tensor {
  return unary('exp', x);
}
/** Natural log (NaN below 0, −∞ at 0). */
export function log(x: Tensor): Tensor {
  return unary('log', x);
}
/** √x. */
export function sqrt(x: Tensor): Tensor {
  return unary('sqrt', x);
}
/** |x| (gradient 0 at 0, as PyTorch). */
export function abs(x: Tensor): Tensor {
  return unary('abs', x);
}
/** max(x, 0) (gradient 0 at 0). @example relu(tensor([-1, 2])) // [0, 2] */
export function relu(x: Tensor): Tensor {
  return unary('relu', x);
}
/** min(max(x, 0), 6). */
export function relu6(x: Tensor): Tensor {
  return unary('relu6', x);
}
/** 1 / (1 + e⁻ˣ). */
export function sigmoid(x: Tensor): Tensor {
  return unary('sigmoid', x);
}
/** tanh(x). */
export function tanh(x: Tensor): Tensor {
  return unary('tanh', x);
}
/** x·sigmoid(x) (Swish / SiLU). */
export function swish(x: Tensor): Tensor {
  return unary('swish', x);
}
/** Alias of {@link swish} (PyTorch's name). */
export const silu = swish;

function asTensor(v: Tensor | number): Tensor {
  return v instanceof Tensor ? v : new Tensor(new Float32Array([v]), []);
}

function binary(op: BinaryOp, left: Tensor | number, right: Tensor | number): Tensor {
  const a = asTensor(left);
  const b = asTensor(right);
  const shape = a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]) ? [...a.shape] : broadcastShapes(a.shape, b.shape, op);
  const aStrides = broadcastStrides(a.shape, shape);
  const bStrides = broadcastStrides(b.shape, shape);
  let n = 1;
  for (const d of shape) n *= d;
  const out = outputBuffer(n);
  kernel('binary', n)(op, a.data, aStrides, b.data, bStrides, out, shape);
  return makeResult(op, out, shape, [a, b], (g) => {
    if (op === 'add') return [a.tracked ? sumToShape(g, shape, a.shape) : null, b.tracked ? sumToShape(g, shape, b.shape) : null];
    const ga = a.tracked ? gradBuffer(n) : null;
    const gb = b.tracked ? gradBuffer(n) : null;
    kernel('binaryBackward', n)(op, a.data, aStrides, b.data, bStrides, out, g, ga, gb, shape);
    return [ga && sumToShape(ga, shape, a.shape), gb && sumToShape(gb, shape, b.shape)];
  });
}

/** a + b with broadcasting. @example add(x, 1); add(x, bias) */
export function add(a: Tensor | number, b: Tensor | number): Tensor {
  return binary('add', a, b);
}
/** a − b with broadcasting. */
export function sub(a: Tensor | number, b: Tensor | number): Tensor {
  return binary('sub', a, b);
}
/** a · b elementwise with broadcasting. */
export function mul(a: Tensor | number, b: Tensor | number): Tensor {
  return binary('mul', a, b);
}
/** a / b with broadcasting. */
export function div(a: Tensor | number, b: Tensor | number): Tensor {
  return binary('div', a, b);
}
/** aᵇ with broadcasting (gradients as PyTorch: ∂/∂b is y·ln a, 0 where a = 0). */
export function pow(a: Tensor | number, b: Tensor | number): Tensor {
  return binary('pow', a, b);
}
/** Elementwise maximum (ties split the gradient in halves, NaN propagates). */
export function maximum(a: Tensor | number, b: Tensor | number): Tensor {
  return binary('maximum', a, b);
}
/** Elementwise minimum (ties split the gradient in halves, NaN propagates). */
export function minimum(a: Tensor | number, b: Tensor | number): Tensor {
  return binary('minimum', a, b);
}
/** x · s for a scalar s. @example scale(grad, 0.5) */
export function scale(x: Tensor, s: number): Tensor {
  return binary('mul', x, s);
}
