/**
 * Web Worker entry of the runtime page: starts the pool's threads (`preparePool`; one thread where
 * the context is not cross-origin isolated), runs the runtime scenario and posts the result back.
 */
import type { BackendSettings } from '../../../kernels/settings.js';
import { preparePool } from '../../../kernels/wasm/worker-pool.js';
import { type Shape, predictFromUrl } from './runtime.js';

const scope = globalThis as unknown as { onmessage: (ev: { data: { url: string; shape: Shape; seed: number; threads: number; settings: Partial<BackendSettings> } }) => void; postMessage(m: unknown): void };
scope.onmessage = async (ev) => {
  try {
    await preparePool(ev.data.threads);
    scope.postMessage(await predictFromUrl(ev.data.url, ev.data.shape, ev.data.seed, ev.data.settings));
  } catch (e) {
    scope.postMessage({ error: String((e as Error)?.stack ?? e) });
  }
};
