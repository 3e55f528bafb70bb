/**
 * The gpu.js backend: conv2d (forward, both gradients) and batched matmul as gpu.js kernels in
 * one of gpu.js's modes (headlessgl in Node, webgl2 in browsers, webasm, cpu; webgpu asynchronously). Not imported by kernels/index.ts on purpose:
 * loading gpu.js costs start-up time, so only `--backend gpujs` (or a test) pays it.
 *
 * @example
 * import { registerGpujsKernels } from './kernels/gpujs/index.js';
 * const mode = registerGpujsKernels(); // EC2T_GPUJS_MODE, else headlessgl → webgl2 → webasm → cpu
 */
import { KernelError } from '../../base/errors.js';
import { registerKernel } from '../registry.js';
import type { Conv2dBackwardInputKernel, Conv2dBackwardWeightKernel, Conv2dForwardKernel, MatmulKernel } from '../types.js';
import {
  conv2dBackwardInputLaunch,
  conv2dBackwardWeightLaunch,
  conv2dForwardLaunch,
  makeConv2dBackwardInput,
  makeConv2dBackwardWeight,
  makeConv2dForward,
} from './conv.js';
import { makeMatmul, matmulLaunch } from './matmul.js';
import { type GpujsLaunch, type GpujsMode, probeGpujsWebgpu, resolveGpujsMode, runCachedAsync } from './runtime.js';

export {
  GPUJS_MODES,
  type GpujsMode,
  type GpujsModeInfo,
  type GpujsKernelStat,
  listGpujsModes,
  resolveGpujsMode,
  gpujsKernelStats,
  clearGpujsCache,
  probeGpujsWebgpu,
} from './runtime.js';
export {
  makeConv2dBackwardInput,
  makeConv2dBackwardWeight,
  makeConv2dForward,
  conv2dForwardLaunch,
  conv2dBackwardInputLaunch,
  conv2dBackwardWeightLaunch,
} from './conv.js';
export { makeMatmul, matmulLaunch } from './matmul.js';

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

/** Arguments of a kernel type, with a Promise for its result: the shape of gpu.js's asynchronous (webgpu) kernels. */
type Async<K extends (...args: never[]) => void> = (...args: Parameters<K>) => Promise<void>;

/** The gpu.js kernels in webgpu mode: the same sources as {@link GpujsKernels}, resolving once `out` is written. */
export interface GpujsAsyncKernels {
  readonly mode: 'webgpu';
  readonly conv2dForward: Async<Conv2dForwardKernel>;
  readonly conv2dBackwardInput: Async<Conv2dBackwardInputKernel>;
  readonly conv2dBackwardWeight: Async<Conv2dBackwardWeightKernel>;
  readonly matmul: Async<MatmulKernel>;
}

/**
 * The gpu.js kernels in webgpu mode, for browsers that offer a WebGPU adapter. They are asynchronous
 * (a WebGPU result is read back with `mapAsync`), so they cannot be registered as the engine's
 * synchronous kernels; they serve code that awaits each call. Throws a {@link KernelError} with the
 * reason when webgpu cannot run here.
 * @example const k = await gpujsWebgpuKernels(); await k.matmul(a, b, out, geometry);
 */
export async function gpujsWebgpuKernels(): Promise<GpujsAsyncKernels> {
  const info = await probeGpujsWebgpu();
  if (!info.available) throw new KernelError(`gpu.js mode webgpu cannot run here: ${info.reason}`);
  const run = (launch: GpujsLaunch | null, out: Float32Array): Promise<void> =>
    launch === null ? Promise.resolve() : runCachedAsync('webgpu', launch, out);
  return {
    mode: 'webgpu',
    conv2dForward: (x, w, bias, out, g) => run(conv2dForwardLaunch(x, w, bias, out, g), out),
    conv2dBackwardInput: (gradOut, w, gradX, g) => run(conv2dBackwardInputLaunch(gradOut, w, gradX, g), gradX),
    conv2dBackwardWeight: (x, gradOut, gradW, g) => run(conv2dBackwardWeightLaunch(x, gradOut, gradW, g), gradW),
    matmul: (a, b, out, g) => run(matmulLaunch(a, b, out, g), out),
  };
}

let registered: GpujsMode | undefined;

/**
 * Registers the gpu.js kernels under backend `gpujs` for `mode` (else `EC2T_GPUJS_MODE`, else the
 * first available of headlessgl → webgl2 → webasm → cpu) and returns the mode used. Calling it again with
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
