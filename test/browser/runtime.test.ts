/**
 * The ternary runtime in Chromium against the runtime in Node: a packed LeNet-5 and a packed
 * ResNet-20 (made here from seeded models) give bit-identical logits for the same file and input,
 * with threads (a Web Worker on a cross-origin-isolated page: the WebAssembly pool runs Web Workers
 * over SharedArrayBuffer) and without (the isolated page's main thread, which may not block, so it
 * runs on one thread), with relaxed-SIMD FMA off on both sides and with the defaults (FMA where it
 * validates: Chromium, and Node 20 since it switches V8's flag on in-process). A page without
 * cross-origin isolation has no SharedArrayBuffer: the ternary SIMD kernels then run on an ordinary
 * WebAssembly memory on one thread, with the same bits.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { packModel } from '../../ec2t/export.js';
import { type BackendSettings, setBackendSettings } from '../../kernels/settings.js';
import { type TestServer, bundlePage, callPage, launchChromium, openPage, pageHtml, startTestServer } from '../helpers/browser.js';
import { ternaryFixture } from '../ec2t/ternary-fixture.js';
import { type BrowserPrediction, type Shape, runtimeLogits } from './pages/runtime.js';

const MODELS: readonly { name: string; seed: number; shape: Shape; options?: Record<string, unknown> }[] = [
  { name: 'lenet5', seed: 3, shape: [3, 1, 28, 28] },
  { name: 'resnet20', seed: 4, shape: [2, 3, 32, 32] },
];
const INPUT_SEED = 99;

let browser: Browser;
let server: TestServer;
const pages = new Map<'isolated' | 'plain', Page>();
const files = new Map<string, Uint8Array>();
/**
 * Node's logits at the default settings, computed before any test turns FMA off: a kernel module
 * keeps the FMA choice of its first compile (setting `fma` later does not recompile it).
 */
const nodeDefaults = new Map<string, Float32Array>();

before(async () => {
  browser = await launchChromium();
  server = await startTestServer({
    'runtime.js': { body: await bundlePage('runtime.page.js'), type: 'text/javascript' },
    'runtime-worker.js': { body: await bundlePage('runtime-worker.page.js'), type: 'text/javascript' },
    'runtime.html': pageHtml('runtime.js'),
  });
  for (const m of MODELS) {
    const bytes = packModel(m.name, {}, ternaryFixture(m.name, { seed: m.seed, hardBatchNorm: true }).stateDict).bytes;
    files.set(m.name, bytes);
    server.put(`${m.name}.ec2t.safetensors`, { body: bytes, type: 'application/octet-stream' });
    nodeDefaults.set(m.name, runtimeLogits(bytes, m.name, m.shape, INPUT_SEED));
  }
  for (const half of ['isolated', 'plain'] as const) pages.set(half, await openPage(browser, `${server.origin}/${half}/runtime.html`));
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** Index of the first float32 whose bits differ, or -1. */
function firstBitDifference(a: Float32Array, b: Float32Array): number {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < Math.min(ua.length, ub.length); i++) if (ua[i] !== ub[i]) return i;
  return a.length === b.length ? -1 : Math.min(a.length, b.length);
}

type Settings = Partial<BackendSettings>;
/**
 * Settings of the FMA-off comparisons: both sides then run the plain multiply-add instructions.
 * (Before Node 20 switched relaxed SIMD on in-process the defaults differed: ResNet-20 logit [0]
 * -347.36376953125 in Chromium, -347.3638000488281 in Node.)
 */
const SAME_KERNELS: Settings = { fma: false };

/** Node's logits for model `m` under `settings` (restored after). */
function nodeLogits(m: (typeof MODELS)[number], settings: Settings): Float32Array {
  setBackendSettings(settings);
  try {
    return runtimeLogits(files.get(m.name) as Uint8Array, m.name, m.shape, INPUT_SEED);
  } finally {
    setBackendSettings(Object.fromEntries(Object.keys(settings).map((k) => [k, undefined])));
  }
}

/** Chromium's logits for model `m` on one page half, on its main thread or in a fresh Web Worker (with threads where it can). */
async function chromiumRun(m: (typeof MODELS)[number], half: 'isolated' | 'plain', where: 'main' | 'worker', settings: Settings): Promise<Float32Array> {
  const what = `${half} page, ${where === 'main' ? 'main thread' : 'Web Worker'}`;
  const got = await callPage<BrowserPrediction>(pages.get(half) as Page, 'predict', [`${m.name}.ec2t.safetensors`, m.shape, INPUT_SEED, where, settings]);
  assert.equal(got.isolated, half === 'isolated', `${what}: crossOriginIsolated is ${got.isolated}`);
  // Threads need a cross-origin-isolated context that may block on Atomics.wait: a Web Worker there.
  if (half === 'isolated' && where === 'worker') assert.ok(got.workers > 0, `${what}: the runtime started no pool worker, so it ran without threads`);
  else assert.equal(got.workers, 0, `${what}: pool workers started where the pool cannot block on them`);
  return Float32Array.from(got.logits);
}

function expectBitIdentical(got: Float32Array, want: Float32Array, what: string): void {
  const at = firstBitDifference(got, want);
  assert.equal(at, -1, `${what}, logit [${at}]: Chromium ${got[at]}, Node ${want[at]}`);
}

for (const m of MODELS) {
  test(`runtime ${m.name}: Chromium's logits are bit-identical to Node's, with threads (Web Worker, cross-origin isolated) and without (main thread)`, async () => {
    const want = nodeLogits(m, SAME_KERNELS);
    assert.equal(want.length, m.shape[0] * 10);
    expectBitIdentical(await chromiumRun(m, 'isolated', 'worker', SAME_KERNELS), want, 'isolated page, Web Worker with threads');
    expectBitIdentical(await chromiumRun(m, 'isolated', 'main', SAME_KERNELS), want, 'isolated page, main thread');
  });

  test(
    `runtime ${m.name}: with default settings (FMA where validated), Chromium gives Node's bits`,
    async () => {
      expectBitIdentical(await chromiumRun(m, 'isolated', 'worker', {}), nodeDefaults.get(m.name) as Float32Array, 'isolated page, Web Worker, default settings');
    },
  );

  test(
    `runtime ${m.name}: a page without cross-origin isolation gives the bits of an isolated page with threads`,
    async () => {
      // Same bits with or without cross-origin isolation (the isolated page matches Node in the test above).
      expectBitIdentical(await chromiumRun(m, 'plain', 'main', {}), await chromiumRun(m, 'isolated', 'worker', {}), 'plain page vs isolated page with threads, default settings');
    },
  );
}
