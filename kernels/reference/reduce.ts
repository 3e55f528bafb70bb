/**
 * Reference (float64, the spec) reductions: sum and max (with first-max argmax) over any set of
 * axes, and the argmax scatter used by max's backward.
 */
import { registerKernel } from '../registry.js';
import { type FloatArray, contiguousStrides, forEachIndex } from './util.js';

/** Strides that map an input index to its output offset: kept dims get the output's strides, reduced dims 0. */
function reducedStrides(shape: readonly number[], axes: readonly number[]): number[] {
  const keptShape = shape.filter((_, d) => !axes.includes(d));
  const keptStrides = contiguousStrides(keptShape);
  const s: number[] = [];
  let j = 0;
  for (let d = 0; d < shape.length; d++) s.push(axes.includes(d) ? 0 : keptStrides[j++]);
  return s;
}

function outOffset(idx: readonly number[], strides: readonly number[]): number {
  let o = 0;
  for (let d = 0; d < idx.length; d++) o += idx[d] * strides[d];
  return o;
}

/** Reference {@link ReduceSumKernel}. */
export function reduceSumReference(x: FloatArray, shape: readonly number[], axes: readonly number[], out: FloatArray): void {
  const strides = reducedStrides(shape, axes);
  const acc = new Float64Array(out.length);
  forEachIndex(shape, (k, idx) => {
    acc[outOffset(idx, strides)] += x[k];
  });
  for (let i = 0; i < out.length; i++) out[i] = acc[i];
}

/** Reference {@link ReduceMaxKernel}: NaN wins (propagates), otherwise the first maximum in row-major order. */
export function reduceMaxReference(x: FloatArray, shape: readonly number[], axes: readonly number[], out: FloatArray, argmax: Int32Array): void {
  const strides = reducedStrides(shape, axes);
  argmax.fill(-1);
  forEachIndex(shape, (k, idx) => {
    const o = outOffset(idx, strides);
    const v = x[k];
    if (argmax[o] < 0 || v > out[o] || (Number.isNaN(v) && !Number.isNaN(out[o]))) {
      out[o] = v;
      argmax[o] = k;
    }
  });
}

/** Reference {@link ScatterAddKernel}. */
export function scatterAddReference(gradOut: FloatArray, index: Int32Array, gradX: FloatArray): void {
  gradX.fill(0);
  for (let i = 0; i < index.length; i++) gradX[index[i]] += gradOut[i];
}

registerKernel('reduceSum', 'reference', reduceSumReference);
registerKernel('reduceMax', 'reference', reduceMaxReference);
registerKernel('scatterAdd', 'reference', scatterAddReference);
