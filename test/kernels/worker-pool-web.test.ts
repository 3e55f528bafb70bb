/**
 * The worker pool's browser path, played under Node: the browser platform, `crossOriginIsolated`
 * set, and a `Worker` that runs the pool's Blob-URL source in a worker thread with a Web Worker's
 * surface (`onmessage`, `close`, started asynchronously as a browser does). Checks that jobs run
 * on the calling thread until the workers are up, that `preparePool` brings them up, that a job's
 * shares then run on them, that a worker's error reaches the caller through shared memory, and that
 * a threaded GEMM gives the same bits as Node's worker_threads pool.
 */
import assert from 'node:assert/strict';
import { resolveObjectURL } from 'node:buffer';
import { Worker as NodeWorker } from 'node:worker_threads';
import { after, before, describe, test } from 'node:test';
import { KernelError } from '../../base/errors.js';
import { setPlatform } from '../../base/platform.js';
import { platform as browserPlatform } from '../../base/platform-browser.js';
import { gemm } from '../../kernels/cpu/gemm.js';
import { resetBackendSettings, setBackendSettings } from '../../kernels/settings.js';
import { ModuleBuilder, webAssembly } from '../../kernels/wasm/assembler.js';
import { wasmSimdAvailable } from '../../kernels/wasm/gemm.js';
import { poolThreadsUnavailable, poolWorkerCount, preparePool, registerPoolFamily, resetPoolDegraded, runJob, shutdownPool } from '../../kernels/wasm/worker-pool.js';

const skip = !wasmSimdAvailable().available || typeof SharedArrayBuffer === 'undefined' ? 'no WebAssembly SIMD / shared memory here' : false;

/** What a Web Worker script sees, on top of a worker thread: `onmessage` events and `close()`. */
const WEB_WORKER_SCOPE = `
const { parentPort } = require('node:worker_threads');
globalThis.close = () => parentPort.close();
parentPort.on('message', (data) => globalThis.onmessage({ data }));
`;

/** A browser-like Worker: fetches its Blob URL's text and starts asynchronously; messages wait for it. */
class FakeWebWorker {
  private thread: NodeWorker | null = null;
  private readonly queued: unknown[] = [];
  private terminated = false;
  constructor(url: string) {
    const blob = resolveObjectURL(url);
    if (blob === undefined) throw new Error(`no Blob at ${url}`);
    void blob.text().then((source) => {
      if (this.terminated) return;
      this.thread = new NodeWorker(WEB_WORKER_SCOPE + source, { eval: true });
      this.thread.unref();
      for (const m of this.queued.splice(0)) this.thread.postMessage(m);
    });
  }
  postMessage(message: unknown): void {
    if (this.thread === null) this.queued.push(message);
    else this.thread.postMessage(message);
  }
  terminate(): void {
    this.terminated = true;
    void this.thread?.terminate();
  }
}

const g = globalThis as { crossOriginIsolated?: boolean; Worker?: unknown };

/** A family whose runner writes 200 + index on a Web Worker (where `onmessage` is defined) and 100 + index elsewhere. */
function markerFamily(): { fam: ReturnType<typeof registerPoolFamily>; marks: Int32Array } {
  const wa = webAssembly as NonNullable<typeof webAssembly>;
  const memory = new wa.Memory({ initial: 1, maximum: 16, shared: true });
  const mod = new ModuleBuilder({ initialPages: 1, maximumPages: 16, shared: true });
  mod.func('nop', [], []);
  const fam = registerPoolFamily('web-marker', new wa.Module(mod.bytes()), memory, `return (E, mem, P, op, i, t) => {
    if (op === 1 && i === 1) throw new Error('boom in web worker ' + i);
    new Int32Array(mem.buffer)[i] = (typeof onmessage === 'function' ? 200 : 100) + i;
  };`);
  return { fam, marks: new Int32Array(memory.buffer, 0, 4) };
}

function gemm256(): Uint32Array {
  // 256³: the size from which the WASM GEMM uses the pool (kernels/cpu/gemm.ts).
  const n = 256;
  const a = Float32Array.from({ length: n * n }, (_, i) => Math.fround(Math.sin(i * 0.731) * 0.5));
  const b = Float32Array.from({ length: n * n }, (_, i) => Math.fround(Math.cos(i * 0.317) * 0.5));
  const c = new Float32Array(n * n).fill(Number.NaN);
  gemm(false, false, n, n, n, a, 0, n, b, 0, n, c, 0, n, false);
  return new Uint32Array(c.buffer);
}

describe('kernel worker pool on Web Workers (browser path, simulated)', { skip }, () => {
  let nodeThreads: Uint32Array;
  before(async () => {
    setBackendSettings({ threads: 2 });
    nodeThreads = gemm256();
    assert.equal(poolWorkerCount(), 1, 'the Node reference used a worker thread');
    await shutdownPool();
    setPlatform(browserPlatform);
    g.crossOriginIsolated = true;
    g.Worker = FakeWebWorker;
    resetPoolDegraded();
  });
  after(async () => {
    await shutdownPool();
    delete g.crossOriginIsolated;
    delete g.Worker;
    setPlatform(undefined);
    resetBackendSettings();
  });

  test('jobs run here until the workers start; preparePool starts them; then shares run on them', async () => {
    assert.equal(poolThreadsUnavailable(), null);
    const { fam, marks } = markerFamily();
    runJob(fam, 0, [], 2, () => {});
    assert.deepEqual([...marks.subarray(0, 2)], [0, 101], 'before the worker is up, index 1 ran on this thread');
    assert.equal(await preparePool(2), 2);
    runJob(fam, 0, [], 2, () => {});
    assert.equal(marks[1], 201, 'index 1 ran on the Web Worker');
    assert.equal(poolWorkerCount(), 1);
  });

  test("a worker's error reaches the caller with its message", async () => {
    const { fam } = markerFamily();
    assert.equal(await preparePool(2), 2);
    assert.throws(() => runJob(fam, 1, [], 2, () => {}), (e: unknown) => e instanceof KernelError && /boom in web worker 1/.test(e.message));
  });

  test("a threaded GEMM on Web Workers gives the same bits as Node's worker threads", async () => {
    assert.equal(await preparePool(2), 2);
    const web = gemm256();
    assert.equal(poolWorkerCount(), 1);
    assert.deepEqual(web, nodeThreads);
  });
});
