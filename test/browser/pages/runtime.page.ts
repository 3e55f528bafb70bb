/**
 * Test page: runs the runtime scenario ({@link predictFromUrl}) on the page's main thread, or in a
 * Web Worker (runtime-worker.js) that first starts the WebAssembly pool's threads: a page's main
 * thread may not block on `Atomics.wait`, so threads need a worker (and a cross-origin-isolated page).
 */
import type { BackendSettings } from '../../../kernels/settings.js';
import { type BrowserPrediction, type Shape, predictFromUrl } from './runtime.js';

interface WorkerLike {
  onmessage: ((ev: { data: BrowserPrediction | { error: string } }) => void) | null;
  onerror: ((ev: { message: string }) => void) | null;
  postMessage(m: unknown): void;
  terminate(): void;
}
type WorkerCtor = new (url: string, options: { type: 'module' }) => WorkerLike;

function inWorker(url: string, shape: Shape, seed: number, threads: number, settings: Partial<BackendSettings>): Promise<BrowserPrediction> {
  const Worker = (globalThis as unknown as { Worker: WorkerCtor }).Worker;
  const worker = new Worker('runtime-worker.js', { type: 'module' });
  return new Promise<BrowserPrediction>((resolve, reject) => {
    worker.onmessage = (ev) => ('error' in ev.data ? reject(new Error(ev.data.error)) : resolve(ev.data));
    worker.onerror = (ev) => reject(new Error(`runtime worker: ${ev.message}`));
    worker.postMessage({ url, shape, seed, threads, settings });
  }).finally(() => worker.terminate());
}

(globalThis as unknown as { ec2tPage: unknown }).ec2tPage = {
  /** The runtime's logits on the seeded input, on the main thread or in a Web Worker with `threads` pool threads, under backend `settings`. */
  predict(url: string, shape: Shape, seed: number, where: 'main' | 'worker', settings: Partial<BackendSettings> = {}, threads = 2): Promise<BrowserPrediction> {
    return where === 'main' ? predictFromUrl(url, shape, seed, settings) : inWorker(url, shape, seed, threads, settings);
  },
};
