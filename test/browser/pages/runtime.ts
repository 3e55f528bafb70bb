/**
 * The runtime scenario shared by Node, the Chromium page and its Web Worker: fetch a packed model,
 * run it on a seeded input batch, return the logits. All sides run this same code, so any difference
 * in the bits is the platform's, not the test's.
 */
import { Rng } from '../../../base/rng.js';
import { loadTernaryModelBytes } from '../../../ec2t/runtime/index.js';
import { type BackendSettings, resetBackendSettings, setBackendSettings } from '../../../kernels/settings.js';
import { poolWorkerCount } from '../../../kernels/wasm/worker-pool.js';

/** An NCHW input shape. */
export type Shape = [number, number, number, number];

/** What a browser run reports back: the logits, whether the context was cross-origin isolated, how many pool workers ran. */
export interface BrowserPrediction {
  logits: number[];
  isolated: boolean;
  workers: number;
}

/** The seeded NCHW input batch of the runtime tests: uniform values in [-2, 2) from `seed`. */
export function runtimeInput(shape: Readonly<Shape>, seed: number): Float32Array {
  const rng = new Rng(seed);
  const x = new Float32Array(shape[0] * shape[1] * shape[2] * shape[3]);
  for (let i = 0; i < x.length; i++) x[i] = rng.uniformRange(-2, 2);
  return x;
}

/** Loads the packed model `bytes` (named `file` in errors) and returns its logits on {@link runtimeInput}. */
export function runtimeLogits(bytes: Uint8Array, file: string, shape: Readonly<Shape>, seed: number): Float32Array {
  return loadTernaryModelBytes(bytes, file).predict(runtimeInput(shape, seed), shape).data;
}

/** Fetches the packed model at `url` and runs {@link runtimeLogits} here (a page or a Web Worker) with the backend `settings` applied. */
export async function predictFromUrl(url: string, shape: Shape, seed: number, settings: Partial<BackendSettings> = {}): Promise<BrowserPrediction> {
  resetBackendSettings();
  setBackendSettings(settings);
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  const logits = runtimeLogits(new Uint8Array(await response.arrayBuffer()), url, shape, seed);
  return { logits: Array.from(logits), isolated: (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true, workers: poolWorkerCount() };
}
