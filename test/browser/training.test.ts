/**
 * Training in Chromium against training in Node: the same seeded LeNet-5 run (20 SGD steps, then
 * EC2T and frozen-assignment steps; test/browser/pages/training.ts) leaves bit-identical weights,
 * with relaxed-SIMD FMA off on both sides and at the defaults (FMA where it validates: Chromium, and
 * Node 20, which switches V8's flag on in-process).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import type { BackendSettings } from '../../kernels/settings.js';
import { parseSafetensors } from '../../nn/safetensors.js';
import { type TestServer, bundlePage, callPage, launchChromium, openPage, pageHtml, startTestServer } from '../helpers/browser.js';
import { lenetTrainingRun } from './pages/training.js';

let browser: Browser;
let server: TestServer;

before(async () => {
  browser = await launchChromium();
  server = await startTestServer({ 'training.js': { body: await bundlePage('training.page.js'), type: 'text/javascript' }, 'training.html': pageHtml('training.js') });
});

after(async () => {
  await browser?.close();
  await server?.close();
});

const fromHex = (h: string): Uint8Array => Uint8Array.from({ length: h.length / 2 }, (_, i) => parseInt(h.slice(2 * i, 2 * i + 2), 16));

/** The tensors of two safetensors files whose bytes differ (so a failure names the weights, not an offset). */
function differingTensors(a: Uint8Array, b: Uint8Array): string[] {
  const ta = parseSafetensors(a).tensors;
  const tb = parseSafetensors(b).tensors;
  const names = new Set([...ta.keys(), ...tb.keys()]);
  return [...names].filter((n) => {
    const x = ta.get(n);
    const y = tb.get(n);
    if (x === undefined || y === undefined) return true;
    const bx = new Uint8Array(x.data.buffer, x.data.byteOffset, x.data.byteLength);
    const by = new Uint8Array(y.data.buffer, y.data.byteOffset, y.data.byteLength);
    return bx.length !== by.length || bx.some((v, i) => v !== by[i]);
  });
}

async function expectSameWeights(settings: Partial<BackendSettings>): Promise<void> {
  const node = await lenetTrainingRun(settings);
  const page = await openPage(browser, `${server.origin}/plain/training.html`);
  const chromium = await callPage<Record<string, string>>(page, 'train', [settings]);
  await page.close();
  assert.deepEqual(Object.keys(chromium).sort(), Object.keys(node).sort());
  assert.ok(Object.keys(node).some((n) => n.startsWith('ec2t/')) && Object.keys(node).some((n) => n.startsWith('train/')), Object.keys(node).join(', '));
  for (const [name, bytes] of Object.entries(node)) {
    const got = fromHex(chromium[name]);
    const same = got.length === bytes.length && got.every((v, i) => v === bytes[i]);
    assert.ok(same, `${name}: Chromium's bytes differ from Node's in ${differingTensors(got, bytes).join(', ') || 'the header'}`);
  }
}

test('LeNet-5: 20 training steps plus EC2T steps in Chromium leave weights bit-identical to Node\'s (FMA off on both sides)', () => expectSameWeights({ fma: false }));

test(
  'LeNet-5: with default settings (FMA where validated), training in Chromium leaves Node\'s weights',
  () => expectSameWeights({}),
);
