/**
 * The ternary WebAssembly kernels without shared memory (a page that is not cross-origin isolated
 * has no SharedArrayBuffer): they run on an ordinary memory on the calling thread and give the
 * bits of the shared, threaded path, instead of stepping aside for the TypeScript loops.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const DIST = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A script printing, as hex words, the logits of packed seeded LeNet-5 and ResNet-20 on fixed inputs, and which path ran. */
const SCRIPT = (dropShared: boolean): string => `
${dropShared ? 'delete globalThis.SharedArrayBuffer;' : ''}
const url = (p) => ${JSON.stringify(pathToFileURL(DIST).href)} + '/' + p;
const { packModel } = await import(url('ec2t/export.js'));
const { ternaryFixture } = await import(url('test/ec2t/ternary-fixture.js'));
const { loadTernaryModel } = await import(url('ec2t/runtime/index.js'));
const { ternarySimdAvailable } = await import(url('kernels/ternary/simd.js'));
const { setBackendSettings } = await import(url('kernels/settings.js'));
setBackendSettings({ threads: 2 });
const out = [];
for (const [name, shape] of [['lenet5', [3, 1, 28, 28]], ['resnet20', [2, 3, 32, 32]]]) {
  const bytes = packModel(name, {}, ternaryFixture(name, { seed: 5 }).stateDict).bytes;
  const x = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.fround(Math.sin(i * 0.37) * 2));
  const y = loadTernaryModel(bytes, name).predict(x, shape).data;
  out.push(Array.from(new Uint32Array(y.buffer, y.byteOffset, y.length), (v) => v.toString(16)).join(','));
}
console.log(JSON.stringify({ shared: typeof SharedArrayBuffer !== 'undefined', wasm: ternarySimdAvailable(), logits: out }));
`;

function run(dropShared: boolean): { shared: boolean; wasm: boolean; logits: string[] } {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', SCRIPT(dropShared)], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as { shared: boolean; wasm: boolean; logits: string[] };
}

test('without SharedArrayBuffer the ternary wasm kernels still run and give the threaded bits', () => {
  const shared = run(false);
  const unshared = run(true);
  assert.deepEqual([shared.shared, shared.wasm], [true, true]);
  assert.deepEqual([unshared.shared, unshared.wasm], [false, true], 'the wasm path must not step aside without shared memory');
  assert.deepEqual(unshared.logits, shared.logits);
});
