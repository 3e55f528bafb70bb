/**
 * Applies `--backend` and `--threads` before a command runs. gpu.js is loaded only when asked
 * for (it costs start-up time).
 */
import { setBackend } from '../kernels/registry.js';
import type { BackendChoice } from '../kernels/types.js';

/** Sets the kernel backend for the process; registers gpu.js kernels when `gpujs` is chosen. */
export async function configureBackend(choice: string, threads?: number): Promise<void> {
  setBackend(choice as BackendChoice);
  if (choice === 'gpujs') {
    const gpujs = (await import('../kernels/gpujs/index.js')) as { registerGpujsKernels: () => unknown };
    gpujs.registerGpujsKernels();
  }
  if (threads !== undefined) process.env.EC2T_THREADS = String(threads);
}
