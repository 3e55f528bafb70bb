/**
 * Test page: runs the runtime scenario ({@link predictFromUrl}) on the page's main thread, or in a
 * Web Worker (runtime-worker.js) that first starts the WebAssembly pool's threads: a page's main
 * thread may not block on `Atomics.wait`, so threads need a worker (and a cross-origin-isolated page).
 */
import type { BackendSettings } from '../../../kernels/settings.js';
import { type BrowserPrediction, type RuntimeSpeed, type Shape, predictFromUrl } from './runtime.js';

interface WorkerLike {
  onmessage: ((ev: { data: object }) => void) | null;
  onerror: ((ev: { message: string }) => void) | null;
  postMessage(m: unknown): void;
  terminate(): void;
}
type WorkerCtor = new (url: string, options: { type: 'module' }) => WorkerLike;

/** Posts `message` to a fresh runtime Web Worker and resolves with its one answer. */
function inWorker<T>(message: object): Promise<T> {
  const Worker = (globalThis as unknown as { Worker: WorkerCtor }).Worker;
  const worker = new Worker('runtime-worker.js', { type: 'module' });
  return new Promise<T>((resolve, reject) => {
    worker.onmessage = (ev) => ('error' in ev.data ? reject(new Error(String(ev.data.error))) : resolve(ev.data as T));
    worker.onerror = (ev) => reject(new Error(`runtime worker: ${ev.message}`));
    worker.postMessage(message);
  }).finally(() => worker.terminate());
}

(globalThis as unknown as { ec2tPage: unknown }).ec2tPage = {
  /** The runtime's logits on the seeded input, on the main thread or in a Web Worker with `threads` pool threads, under backend `settings`. */
  predict(url: string, shape: Shape, seed: number, where: 'main' | 'worker', settings: Partial<BackendSettings> = {}, threads = 2): Promise<BrowserPrediction> {
    return where === 'main' ? predictFromUrl(url, shape, seed, settings) : inWorker<BrowserPrediction>({ url, shape, seed, threads, settings });
  },
  /** Images per second of the runtime in a fresh Web Worker with `threads` pool threads (bench/browser-runtime.bench.ts). */
  speed(url: string, shape: Shape, threads: number, minSeconds: number): Promise<RuntimeSpeed> {
    return inWorker<RuntimeSpeed>({ url, shape, seed: 0, threads, settings: {}, minSeconds });
  },
};
