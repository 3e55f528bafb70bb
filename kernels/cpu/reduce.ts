/**
 * Fast cpu reductions. The shape is collapsed into alternating runs of kept and reduced dims; the
 * innermost run is one tight loop (a row summed into one output, or a row added into an output row),
 * and an odometer walks the outer runs.
 */
import { registerKernel } from '../registry.js';

/** Collapsed layout: dims, the output stride of each (0 when reduced), and whether each is reduced. */
interface ReduceLayout {
  dims: number[];
  outStrides: number[];
  reduced: boolean[];
}

function layout(shape: readonly number[], axes: readonly number[]): ReduceLayout {
  const dims: number[] = [];
  const reduced: boolean[] = [];
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const r = axes.includes(d);
    if (dims.length > 0 && reduced[reduced.length - 1] === r) dims[dims.length - 1] *= shape[d];
    else {
      dims.push(shape[d]);
      reduced.push(r);
    }
  }
  if (dims.length === 0) {
    dims.push(1);
    reduced.push(false);
  }
  const outStrides = new Array<number>(dims.length);
  let acc = 1;
  for (let d = dims.length - 1; d >= 0; d--) {
    outStrides[d] = reduced[d] ? 0 : acc;
    if (!reduced[d]) acc *= dims[d];
  }
  return { dims, outStrides, reduced };
}

/** Cpu {@link ReduceSumKernel}. */
export function reduceSumCpu(x: Float32Array, shape: readonly number[], axes: readonly number[], out: Float32Array): void {
  out.fill(0);
  if (x.length === 0) return;
  const { dims, outStrides, reduced } = layout(shape, axes);
  const nd = dims.length;
  const inner = dims[nd - 1];
  const innerReduced = reduced[nd - 1];
  const rows = x.length / inner;
  const idx = new Int32Array(nd);
  let o = 0;
  for (let r = 0, ix = 0; r < rows; r++, ix += inner) {
    if (innerReduced) {
      let s = 0;
      for (let i = ix, end = ix + inner; i < end; i++) s += x[i];
      out[o] += s;
    } else {
      for (let i = 0; i < inner; i++) out[o + i] += x[ix + i];
    }
    for (let d = nd - 2; d >= 0; d--) {
      o += outStrides[d];
      if (++idx[d] < dims[d]) break;
      o -= outStrides[d] * dims[d];
      idx[d] = 0;
    }
  }
}

/** Cpu {@link ReduceMaxKernel}: NaN propagates, otherwise the first maximum in row-major order. */
export function reduceMaxCpu(x: Float32Array, shape: readonly number[], axes: readonly number[], out: Float32Array, argmax: Int32Array): void {
  out.fill(-Infinity);
  argmax.fill(-1);
  if (x.length === 0) return;
  const { dims, outStrides, reduced } = layout(shape, axes);
  const nd = dims.length;
  const inner = dims[nd - 1];
  const innerReduced = reduced[nd - 1];
  const rows = x.length / inner;
  const idx = new Int32Array(nd);
  let o = 0;
  for (let r = 0, ix = 0; r < rows; r++, ix += inner) {
    if (innerReduced) {
      let best = out[o];
      let at = argmax[o];
      for (let i = ix, end = ix + inner; i < end; i++) {
        const v = x[i];
        if (v > best || at < 0 || (v !== v && best === best)) {
          best = v;
          at = i;
        }
      }
      out[o] = best;
      argmax[o] = at;
    } else {
      for (let i = 0; i < inner; i++) {
        const v = x[ix + i];
        const cur = out[o + i];
        if (v > cur || argmax[o + i] < 0 || (v !== v && cur === cur)) {
          out[o + i] = v;
          argmax[o + i] = ix + i;
        }
      }
    }
    for (let d = nd - 2; d >= 0; d--) {
      o += outStrides[d];
      if (++idx[d] < dims[d]) break;
      o -= outStrides[d] * dims[d];
      idx[d] = 0;
    }
  }
}

/** Cpu {@link ScatterAddKernel}. */
export function scatterAddCpu(gradOut: Float32Array, index: Int32Array, gradX: Float32Array): void {
  gradX.fill(0);
  for (let i = 0; i < index.length; i++) gradX[index[i]] += gradOut[i];
}

registerKernel('reduceSum', 'cpu', reduceSumCpu);
registerKernel('reduceMax', 'cpu', reduceMaxCpu);
registerKernel('scatterAdd', 'cpu', scatterAddCpu);
