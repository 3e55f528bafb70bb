/**
 * Float64 references for the engine op tests, built from the reference kernels (the spec) so that
 * `checkOp` compares each engine op against them and differentiates them numerically.
 */
import '../../kernels/index.js';
import { binaryReference, expandReference, unaryReference } from '../../kernels/reference/elementwise.js';
import { reduceMaxReference, reduceSumReference } from '../../kernels/reference/reduce.js';
import type { BinaryOp, UnaryOp } from '../../kernels/types.js';
import { broadcastShapes, broadcastStrides } from '../../engine/ops/broadcast.js';

export const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export function refUnary(op: UnaryOp): (x: Float64Array) => Float64Array {
  return (x) => {
    const out = new Float64Array(x.length);
    unaryReference(op, x, out);
    return out;
  };
}

export function refBinary(op: BinaryOp, sa: readonly number[], sb: readonly number[]): (a: Float64Array, b: Float64Array) => Float64Array {
  const shape = broadcastShapes(sa, sb, op);
  return (a, b) => {
    const out = new Float64Array(size(shape));
    binaryReference(op, a, broadcastStrides(sa, shape), b, broadcastStrides(sb, shape), out, shape);
    return out;
  };
}

/** Sum (times factor) over sorted non-negative axes. */
export function refSum(shape: readonly number[], axes: readonly number[], factor = 1): (x: Float64Array) => Float64Array {
  return (x) => {
    const out = new Float64Array(size(shape.filter((_, d) => !axes.includes(d))));
    reduceSumReference(x, shape, axes, out);
    return out.map((v) => v * factor);
  };
}

export function refMax(shape: readonly number[], axes: readonly number[]): (x: Float64Array) => Float64Array {
  return (x) => {
    const n = size(shape.filter((_, d) => !axes.includes(d)));
    const out = new Float64Array(n);
    reduceMaxReference(x, shape, axes, out, new Int32Array(n));
    return out;
  };
}

export function refExpand(shape: readonly number[], outShape: readonly number[]): (x: Float64Array) => Float64Array {
  return (x) => {
    const out = new Float64Array(size(outShape));
    expandReference(x, broadcastStrides(shape, outShape), out, outShape);
    return out;
  };
}
