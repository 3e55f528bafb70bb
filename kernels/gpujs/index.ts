/**
 * The gpu.js backend: conv2d (forward, both gradients) and batched matmul as gpu.js kernels in
 * one of gpu.js's modes (headlessgl, webasm, cpu). Not imported by kernels/index.ts on purpose:
 * loading gpu.js costs start-up time, so only `--backend gpujs` (or a test) pays it.
 *
 * @example
 * import { registerGpujsKernels } from './kernels/gpujs/index.js';
 * const mode = registerGpujsKernels(); // EC2T_GPUJS_MODE, else headlessgl → webasm → cpu
 */
import { KernelError } from '../../base/errors.js';
import { registerKernel } from '../registry.js';
import type { Conv2dBackwardInputKernel, Conv2dBackwardWeightKernel, Conv2dForwardKernel, MatmulKernel } from '../types.js';
import { makeConv2dBackwardInput, makeConv2dBackwardWeight, makeConv2dForward } from './conv.js';
import { makeMatmul } from './matmul.js';
import { type GpujsMode, resolveGpujsMode } from './runtime.js';

export {
  GPUJS_MODES,
  type GpujsMode,
  type GpujsModeInfo,
  type GpujsKernelStat,
  listGpujsModes,
  resolveGpujsMode,
  gpujsKernelStats,
  clearGpujsCache,
} from './runtime.js';
export { makeConv2dBackwardInput, makeConv2dBackwardWeight, makeConv2dForward } from './conv.js';
export { makeMatmul } from './matmul.js';

/** The gpu.js kernels of one mode. */
export interface GpujsKernels {
  readonly mode: GpujsMode;
  readonly conv2dForward: Conv2dForwardKernel;
  readonly conv2dBackwardInput: Conv2dBackwardInputKernel;
  readonly conv2dBackwardWeight: Conv2dBackwardWeightKernel;
  readonly matmul: MatmulKernel;
}

/**
 * The gpu.js kernels for a mode (resolved like {@link resolveGpujsMode}), without registering them.
 * @example gpujsKernels('webasm').matmul(a, b, out, geometry)
 */
export function gpujsKernels(mode?: string): GpujsKernels {
  const m = resolveGpujsMode(mode);
  return {
    mode: m,
    conv2dForward: makeConv2dForward(m),
    conv2dBackwardInput: makeConv2dBackwardInput(m),
    conv2dBackwardWeight: makeConv2dBackwardWeight(m),
    matmul: makeMatmul(m),
  };
}

let registered: GpujsMode | undefined;

/**
 * Registers the gpu.js kernels under backend `gpujs` for `mode` (else `EC2T_GPUJS_MODE`, else the
 * first available of headlessgl → webasm → cpu) and returns the mode used. Calling it again with
 * the same mode is a no-op; with another mode it throws (one process, one gpujs slot per op).
 * @example registerGpujsKernels('webasm'); setBackend('gpujs');
 */
export function registerGpujsKernels(mode?: string): GpujsMode {
  const k = gpujsKernels(mode);
  if (registered !== undefined) {
    if (registered === k.mode) return registered;
    throw new KernelError(`gpu.js kernels are already registered in mode ${registered}; cannot register mode ${k.mode} as well`);
  }
  registerKernel('conv2dForward', 'gpujs', k.conv2dForward);
  registerKernel('conv2dBackwardInput', 'gpujs', k.conv2dBackwardInput);
  registerKernel('conv2dBackwardWeight', 'gpujs', k.conv2dBackwardWeight);
  registerKernel('matmul', 'gpujs', k.matmul);
  registered = k.mode;
  return k.mode;
}
