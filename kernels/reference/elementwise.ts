/**
 * Reference (float64, the spec) elementwise kernels: unary ops and broadcast binary ops with their
 * derivatives. Plain loops over a row-major odometer, no fast paths.
 */
import { registerKernel } from '../registry.js';
import type { BinaryOp, UnaryOp } from '../types.js';
import { type FloatArray, forEachIndex, offsetOf } from './util.js';

const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));

/** The scalar function of a unary op in float64. */
export function unaryScalar(op: UnaryOp, v: number): number {
  switch (op) {
    case 'neg': return -v;
    case 'exp': return Math.exp(v);
    case 'log': return Math.log(v);
    case 'sqrt': return Math.sqrt(v);
    case 'abs': return Math.abs(v);
    // <= / >= so NaN passes through, as in PyTorch.
    case 'relu': return v <= 0 ? 0 : v;
    case 'relu6': return v <= 0 ? 0 : v >= 6 ? 6 : v;
    case 'sigmoid': return sigmoid(v);
    case 'tanh': return Math.tanh(v);
    case 'swish': return v * sigmoid(v);
  }
}

/** d op / dx at x (y = op(x)); kinks take PyTorch's side: relu'(0) = 0, relu6'(6) = 0, abs'(0) = 0. */
export function unaryDerivative(op: UnaryOp, x: number, y: number): number {
  switch (op) {
    case 'neg': return -1;
    case 'exp': return y;
    case 'log': return 1 / x;
    case 'sqrt': return 0.5 / y;
    case 'abs': return x > 0 ? 1 : x < 0 ? -1 : 0;
    case 'relu': return x > 0 ? 1 : 0;
    case 'relu6': return x > 0 && x < 6 ? 1 : 0;
    case 'sigmoid': return y * (1 - y);
    case 'tanh': return 1 - y * y;
    case 'swish': {
      const s = sigmoid(x);
      return s * (1 + x * (1 - s));
    }
  }
}

/** The scalar function of a binary op in float64. */
export function binaryScalar(op: BinaryOp, a: number, b: number): number {
  switch (op) {
    case 'add': return a + b;
    case 'sub': return a - b;
    case 'mul': return a * b;
    case 'div': return a / b;
    case 'pow': return Math.pow(a, b);
    case 'maximum': return a > b ? a : a < b ? b : a === b ? a : NaN;
    case 'minimum': return a < b ? a : a > b ? b : a === b ? a : NaN;
  }
}

/** Partial derivatives [∂y/∂a, ∂y/∂b] of a binary op at (a, b) with y = op(a, b). */
export function binaryDerivatives(op: BinaryOp, a: number, b: number, y: number): [number, number] {
  switch (op) {
    case 'add': return [1, 1];
    case 'sub': return [1, -1];
    case 'mul': return [b, a];
    case 'div': return [1 / b, -a / (b * b)];
    // NOTE: as PyTorch: ∂/∂a is 0 where b = 0; ∂/∂b = y·ln(a) is 0 where a = 0 and NaN where a < 0.
    case 'pow': return [b === 0 ? 0 : b * Math.pow(a, b - 1), a > 0 ? y * Math.log(a) : a === 0 ? 0 : NaN];
    case 'maximum': return a > b ? [1, 0] : a < b ? [0, 1] : [0.5, 0.5];
    case 'minimum': return a < b ? [1, 0] : a > b ? [0, 1] : [0.5, 0.5];
  }
}

/** Reference {@link UnaryKernel}. */
export function unaryReference(op: UnaryOp, x: FloatArray, out: FloatArray): void {
  for (let i = 0; i < x.length; i++) out[i] = unaryScalar(op, x[i]);
}

/** Reference {@link UnaryBackwardKernel}. */
export function unaryBackwardReference(op: UnaryOp, x: FloatArray, y: FloatArray, gradOut: FloatArray, gradX: FloatArray): void {
  for (let i = 0; i < x.length; i++) gradX[i] = gradOut[i] * unaryDerivative(op, x[i], y[i]);
}

/** Reference {@link BinaryKernel}. */
export function binaryReference(
  op: BinaryOp, a: FloatArray, aStrides: readonly number[], b: FloatArray, bStrides: readonly number[],
  out: FloatArray, outShape: readonly number[],
): void {
  forEachIndex(outShape, (k, idx) => {
    out[k] = binaryScalar(op, a[offsetOf(idx, aStrides)], b[offsetOf(idx, bStrides)]);
  });
}

/** Reference {@link BinaryBackwardKernel}. */
export function binaryBackwardReference(
  op: BinaryOp, a: FloatArray, aStrides: readonly number[], b: FloatArray, bStrides: readonly number[],
  y: FloatArray, gradOut: FloatArray, gradA: FloatArray | null, gradB: FloatArray | null, outShape: readonly number[],
): void {
  forEachIndex(outShape, (k, idx) => {
    const [da, db] = binaryDerivatives(op, a[offsetOf(idx, aStrides)], b[offsetOf(idx, bStrides)], y[k]);
    if (gradA !== null) gradA[k] = gradOut[k] * da;
    if (gradB !== null) gradB[k] = gradOut[k] * db;
  });
}

/** Reference {@link ExpandKernel}. */
export function expandReference(x: FloatArray, xStrides: readonly number[], out: FloatArray, outShape: readonly number[]): void {
  forEachIndex(outShape, (k, idx) => {
    out[k] = x[offsetOf(idx, xStrides)];
  });
}

registerKernel('unary', 'reference', unaryReference);
registerKernel('unaryBackward', 'reference', unaryBackwardReference);
registerKernel('binary', 'reference', binaryReference);
registerKernel('binaryBackward', 'reference', binaryBackwardReference);
registerKernel('expand', 'reference', expandReference);
