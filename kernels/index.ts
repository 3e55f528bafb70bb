/**
 * Registers the always-available backends (float64 reference and fast cpu). gpu.js kernels are
 * registered by kernels/gpujs/index.js, which loads gpu.js and probes its modes.
 */
import './reference/index.js';
import './cpu/index.js';

export * from './registry.js';
export * from './types.js';
