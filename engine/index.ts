/**
 * The engine: tensors, the autodiff tape and the differentiable ops. Importing it registers the
 * reference and cpu kernels.
 */
import '../kernels/index.js';

export * from '../base/errors.js';
export { Rng } from '../base/rng.js';
export {
  Tensor, noGrad, isGradEnabled, makeResult, needsGrad, numelOf, stridesOf, recycleActivations, outputBuffer,
  zeros, ones, full, arange, tensor, uniform, rand, randn,
} from './tensor.js';
export type { BackwardFn, GradNode } from './tensor.js';
export { toNdarray, fromNdarray } from './ndarray.js';
export * from './ops/elementwise.js';
export * from './ops/reduce.js';
export * from './ops/movement.js';
export * from './ops/matmul.js';
export * from './ops/conv.js';
export * from './ops/pool.js';
export * from './ops/norm.js';
export * from './ops/dropout.js';
export * from './ops/excite.js';
export * from './ops/loss.js';
