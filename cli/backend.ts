/**
 * Applies `--backend` and `--threads` before a command runs. gpu.js is loaded only when asked
 * for (it costs start-up time). Under `auto`, a calibration cache (kernels/calibrate.ts) that
 * matches this machine is loaded; `EC2T_CALIBRATE=1` measures (or reuses the cache) and prints the table.
 */
import { setAutoChooser, setBackend } from '../kernels/registry.js';
import type { BackendChoice } from '../kernels/types.js';

/** Sets the kernel backend for the process; registers gpu.js kernels when `gpujs` is chosen. */
export async function configureBackend(choice: string, threads?: number): Promise<void> {
  setBackend(choice as BackendChoice);
  if (choice === 'gpujs') {
    const gpujs = (await import('../kernels/gpujs/index.js')) as { registerGpujsKernels: () => unknown };
    gpujs.registerGpujsKernels();
  }
  if (threads !== undefined) process.env.EC2T_THREADS = String(threads);
  if (choice === 'auto') await configureAuto();
}

/** `auto`: install the measured chooser from `EC2T_CALIBRATE=1` or an existing matching cache. */
async function configureAuto(): Promise<void> {
  const cal = await import('../kernels/calibrate.js');
  const path = process.env.EC2T_CALIBRATION_FILE || cal.defaultCalibrationPath();
  const registerGpujs = async (): Promise<void> => {
    try {
      const gpujs = (await import('../kernels/gpujs/index.js')) as { registerGpujsKernels: () => unknown };
      gpujs.registerGpujsKernels();
    } catch (e) {
      process.stderr.write(`calibration: gpu.js backend not available, skipped (${(e as Error).message})\n`);
    }
  };
  if (process.env.EC2T_CALIBRATE === '1') {
    await registerGpujs();
    const table = await cal.calibrateBackends({ cachePath: path });
    process.stderr.write(cal.formatCalibration(table));
    return;
  }
  const cached = cal.loadCalibration(path);
  if (cached === undefined) return;
  // gpu.js is loaded only when the cached table says it wins somewhere.
  if (cached.entries.some((e) => e.best === 'gpujs')) await registerGpujs();
  setAutoChooser(cal.chooserFromTable(cached));
}
