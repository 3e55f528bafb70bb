/**
 * Maps `--backend` and `--threads` onto the backend settings (kernels/settings.ts, flag level:
 * above `EC2T_*`, below API calls) before a command runs. gpu.js is loaded only when asked for (it
 * costs start-up time). Under `auto`, a calibration cache (kernels/calibrate.ts) that matches this
 * machine is loaded; the `calibrate` setting (`EC2T_CALIBRATE=1`) measures (or reuses the cache)
 * and prints the table.
 */
import { setAutoChooser } from '../kernels/registry.js';
import { backendSettings, setBackendFlags } from '../kernels/settings.js';
import type { BackendChoice } from '../kernels/types.js';

/**
 * Applies the `--backend` flag (undefined: not given, so `EC2T_BACKEND` or `auto` holds) and
 * `--threads`; registers gpu.js kernels when `gpujs` is in force.
 */
export async function configureBackend(choice: string | undefined, threads?: number): Promise<void> {
  setBackendFlags({ backend: choice as BackendChoice | undefined, threads });
  const backend = backendSettings().backend;
  if (backend === 'gpujs') {
    const gpujs = (await import('../kernels/gpujs/index.js')) as { registerGpujsKernels: () => unknown };
    gpujs.registerGpujsKernels();
  }
  if (backend === 'auto') await configureAuto();
}

/** `auto`: install the measured chooser from the `calibrate` setting or an existing matching cache. */
async function configureAuto(): Promise<void> {
  const cal = await import('../kernels/calibrate.js');
  const path = backendSettings().calibrationFile ?? cal.defaultCalibrationPath();
  const registerGpujs = async (): Promise<void> => {
    try {
      const gpujs = (await import('../kernels/gpujs/index.js')) as { registerGpujsKernels: () => unknown };
      gpujs.registerGpujsKernels();
    } catch (e) {
      process.stderr.write(`calibration: gpu.js backend not available, skipped (${(e as Error).message})\n`);
    }
  };
  if (backendSettings().calibrate) {
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
