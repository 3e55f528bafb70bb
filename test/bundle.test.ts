/**
 * The browser bundles (scripts/bundle.mjs), built fresh into a temp folder: they hold no Node
 * import and no `require(` (so a browser can load them), the runtime bundle stays within its gzip
 * budget, and both run the same computation as the Node build bit for bit when imported here —
 * the runtime on a packed LeNet-5, the whole library training LeNet-5 with SGD and then with EC2T.
 * (The bundles run on the browser platform even under Node: no environment, no files, one thread.)
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { relaxedSimdSupported } from '../kernels/wasm/assembler.js';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as nodeLibrary from '../index.js';
import * as nodeRuntime from '../ec2t/runtime/index.js';
import { packModel } from '../ec2t/export.js';
import { ternaryFixture } from './ec2t/ternary-fixture.js';

/** Repository root: this file runs as dist/test/bundle.test.js. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The runtime bundle's budget, gzip (the 60 KB). */
const RUNTIME_GZIP_BUDGET = 60 * 1024;

interface Built { name: string; file: string; bytes: number; gzipBytes: number }
type Library = typeof nodeLibrary;
type Runtime = typeof nodeRuntime;

let dir = '';
let built: Built[] = [];
const bundle = (name: string): Built => {
  const b = built.find((x) => x.name === name);
  assert.ok(b !== undefined, `bundle ${name} was built`);
  return b;
};

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ec2t-bundle-'));
  const script = (await import(pathToFileURL(join(ROOT, 'scripts', 'bundle.mjs')).href)) as { buildBundles(outDir: string): Promise<Built[]> };
  built = await script.buildBundles(dir);
  for (const b of built) console.log(`${b.name}: ${b.bytes} bytes minified, ${b.gzipBytes} gzip`);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** The logits of a packed LeNet-5 (seeded fixture) on a fixed batch of 3. */
function lenetLogits(runtime: Runtime, bytes: Uint8Array): Uint32Array {
  const x = Float32Array.from({ length: 3 * 28 * 28 }, (_, i) => Math.fround(Math.sin(i * 0.37) * 2));
  const out = runtime.loadTernaryModel(bytes.slice().buffer, 'lenet5').predict(x, [3, 1, 28, 28]).data;
  return new Uint32Array(out.buffer, out.byteOffset, out.length);
}

/** Four SGD steps then one EC2T epoch (four steps) and one frozen-retraining epoch on LeNet-5; the final weights' bits. */
async function trainLenet(lib: Library): Promise<Uint32Array> {
  const n = 64;
  const images = Uint8Array.from({ length: n * 28 * 28 }, (_, i) => (i * 131 + (i >> 9) * 17) & 255);
  const labels = Int32Array.from({ length: n }, (_, i) => (i * 7) % 10);
  const data = lib.createDataset({ name: 'synthetic', split: 'train', classes: 10, channels: 1, height: 28, width: 28, images, labels });
  const net = lib.createModel('lenet5', { seed: 1 });
  await lib.trainModel({
    model: net, modelName: 'lenet5', train: data, val: null, test: data, epochs: 1, batchSize: 16, optimizer: 'sgd', lr: 0.05, momentum: 0.9,
    loaderRng: new lib.Rng(1), modelRng: new lib.Rng(2), store: new lib.MemoryRunStore('float'),
  });
  await lib.ternarizeModel({
    model: net, modelName: 'lenet5', layers: lib.ternaryLayerNames(net, 'lenet5'), train: data, val: null, test: data,
    quantizer: { ...lib.DEFAULT_QUANTIZER_CONFIG, gain: 0.1 }, epochs: 1, retrainEpochs: 1, batchSize: 16,
    loaderRng: new lib.Rng(3), modelRng: new lib.Rng(4), store: new lib.MemoryRunStore('ec2t'),
  });
  const parts = [...net.stateDict().entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, t]) => Float32Array.from(t.data));
  const all = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return new Uint32Array(all.buffer);
}

describe('browser bundles', () => {
  test('hold no node: import, no require( and no Node platform code', () => {
    for (const b of built) {
      const text = readFileSync(b.file, 'utf8');
      assert.ok(text.length > 10_000, `${b.name} is ${text.length} characters: is the build empty?`);
      // Report where, not the whole minified bundle.
      const found = [/["'`]node:/g, /\brequire\s*\(/g, /worker_threads|process\.env/g].flatMap((re) => [...text.matchAll(re)].map((m) => `${b.name}: …${text.slice(Math.max(0, (m.index ?? 0) - 60), (m.index ?? 0) + 60)}…`));
      assert.deepEqual(found, []);
    }
  });

  test('keep the names the kernel pool runners call by (they reach workers as source text)', () => {
    // A runner is Function.prototype.toString() of helpers plus text that calls them by name; with
    // renamed identifiers a threaded job dies in the worker with "convWork is not defined".
    const expect: Record<string, string[]> = {
      'ec2t.js': ['function convWork(', 'function runTiles(', 'function gemmRunner(', 'function partitionBlock('],
      'ec2t-runtime.js': ['function ternaryWork(', 'function jitWork('],
    };
    for (const [file, names] of Object.entries(expect)) {
      const text = readFileSync(bundle(file).file, 'utf8');
      for (const name of names) assert.ok(text.includes(name), `${file} lacks "${name}": identifiers were minified or renamed`);
    }
  });

  test(`the runtime bundle is at most ${RUNTIME_GZIP_BUDGET / 1024} KB gzip`, () => {
    const rt = bundle('ec2t-runtime.js');
    assert.ok(rt.gzipBytes <= RUNTIME_GZIP_BUDGET, `ec2t-runtime.js is ${rt.gzipBytes} bytes gzip, over the ${RUNTIME_GZIP_BUDGET}-byte budget`);
    assert.ok(rt.gzipBytes < bundle('ec2t.js').gzipBytes, 'the runtime alone is smaller than the whole library');
  });

  test('the runtime bundle gives logits bit-identical to the Node runtime on a packed LeNet-5', async () => {
    const runtime = (await import(pathToFileURL(bundle('ec2t-runtime.js').file).href)) as Runtime;
    const bytes = packModel('lenet5', {}, ternaryFixture('lenet5', { seed: 11 }).stateDict).bytes;
    const fromBundle = lenetLogits(runtime, bytes);
    const fromNode = lenetLogits(nodeRuntime, bytes);
    assert.equal(fromNode.length, 30);
    assert.deepEqual(fromBundle, fromNode);
    // It really is the browser build: a path has no file system behind it.
    assert.throws(() => runtime.loadTernaryModel('lenet5.ec2t.safetensors'), /needs Node's file system/);
  });

  test('the whole-library bundle trains LeNet-5 (SGD, then EC2T and frozen retraining) to bit-identical weights', async () => {
    // V8's relaxed-SIMD flag is per process and only the Node platform switches it on: switch it on
    // before the bundle (browser platform, running in Node here) asks, as any browser would have it.
    relaxedSimdSupported();
    const library = (await import(pathToFileURL(bundle('ec2t.js').file).href)) as Library;
    assert.equal(library.platform().name, 'browser');
    const fromBundle = await trainLenet(library);
    const fromNode = await trainLenet(nodeLibrary);
    assert.ok(fromNode.length > 60_000, `${fromNode.length} weights`);
    assert.deepEqual(fromBundle, fromNode);
  });
});
