/**
 * Interop with the `ndarray` package, both ways. `toNdarray` shares storage (a view, no copy);
 * `fromNdarray` accepts any strides and offset (transposed, stepped or sliced views) and copies
 * into contiguous row-major float32.
 */
import ndarray from 'ndarray';
import { ValueError } from '../base/errors.js';
import { Tensor, numelOf } from './tensor.js';

/**
 * A row-major ndarray view over the tensor's storage (writes through the view change the tensor).
 * @example toNdarray(x).get(0, 1)
 */
export function toNdarray(t: Tensor): ndarray.NdArray<Float32Array> {
  return ndarray(t.data, [...t.shape]);
}

/**
 * Copies any ndarray (any strides, offset, numeric dtype) into a new contiguous float32 tensor.
 * @example fromNdarray(ndarray(new Float64Array(6), [2, 3]).transpose(1, 0)).shape // [3, 2]
 */
export function fromNdarray(a: ndarray.NdArray<ndarray.Data<number>>): Tensor {
  const shape = [...a.shape];
  const n = numelOf(shape, 'fromNdarray');
  const out = new Float32Array(n);
  const data = a.data as ArrayLike<number> & { get?: (i: number) => number };
  const read = typeof data.get === 'function' && !ArrayBuffer.isView(data) ? (i: number) => data.get!(i) : (i: number) => data[i];
  const dims = shape.length;
  const idx = new Array<number>(dims).fill(0);
  let src = a.offset;
  for (let k = 0; k < n; k++) {
    const v = Number(read(src));
    if (Number.isNaN(v) && !Number.isNaN(read(src) as number)) throw new ValueError('fromNdarray', `element ${k} is not numeric`);
    out[k] = v;
    // Odometer increment over the row-major index, moving `src` by the strides.
    for (let d = dims - 1; d >= 0; d--) {
      idx[d]++;
      src += a.stride[d];
      if (idx[d] < shape[d]) break;
      src -= a.stride[d] * shape[d];
      idx[d] = 0;
    }
  }
  return new Tensor(out, shape);
}
