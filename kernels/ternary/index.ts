/**
 * Registers the cpu ternary kernels under backend `ternary` and re-exports the layer builders. Not
 * imported by kernels/index.ts (training never needs it); the ternary runtime imports it. The
 * gpu.js variant lives in ./gpujs.js and is loaded on demand.
 */
import { registerKernel } from '../registry.js';
import { ternaryConv2dCpu, ternaryLinearCpu } from './cpu.js';

registerKernel('ternaryConv2d', 'ternary', ternaryConv2dCpu);
registerKernel('ternaryLinear', 'ternary', ternaryLinearCpu);

export { setTernarySimd, ternaryConv2dCpu, ternaryLinearCpu } from './cpu.js';
export * from './layer.js';
export { type TernaryJitMode, setTernaryJit, setTernaryThreads, shutdownTernaryThreads, ternaryThreads } from './simd.js';
