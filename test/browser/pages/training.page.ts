/** Test page: runs {@link lenetTrainingRun} in the browser and hands its weight files back as hex. */
import type { BackendSettings } from '../../../kernels/settings.js';
import { lenetTrainingRun } from './training.js';

const hex = (b: Uint8Array): string => Array.from(b, (v) => v.toString(16).padStart(2, '0')).join('');

(globalThis as unknown as { ec2tPage: unknown }).ec2tPage = {
  /** The run's weight files under backend `settings`, name → hex bytes. */
  async train(settings: Partial<BackendSettings> = {}): Promise<Record<string, string>> {
    const files = await lenetTrainingRun(settings);
    return Object.fromEntries(Object.entries(files).map(([k, v]) => [k, hex(v)]));
  },
};
