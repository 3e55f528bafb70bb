/**
 * Web Worker entry of the runtime page: starts the pool's threads (`preparePool`; one thread where
 * the context is not cross-origin isolated), runs the runtime scenario (or times it) and posts the
 * result back.
 */
import type { BackendSettings } from '../../../kernels/settings.js';
import { preparePool } from '../../../kernels/wasm/worker-pool.js';
import { type Shape, predictFromUrl, speedFromUrl } from './runtime.js';

const scope = globalThis as unknown as { onmessage: (ev: { data: { url: string; shape: Shape; seed: number; threads: number; settings: Partial<BackendSettings>; minSeconds?: number } }) => void; postMessage(m: unknown): void };
scope.onmessage = async (ev) => {
  try {
    await preparePool(ev.data.threads);
    const d = ev.data;
    // A message with minSeconds asks for a timing (bench/browser-runtime.bench.ts) instead of logits.
    scope.postMessage(d.minSeconds !== undefined ? await speedFromUrl(d.url, d.shape, d.minSeconds) : await predictFromUrl(d.url, d.shape, d.seed, d.settings));
  } catch (e) {
    scope.postMessage({ error: String((e as Error)?.stack ?? e) });
  }
};
