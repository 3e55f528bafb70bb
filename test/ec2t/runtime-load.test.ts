/**
 * Bytes in, everywhere: `loadTernaryModel` takes a path (Node), a Uint8Array or an ArrayBuffer and
 * they give the same model; `loadTernaryModelFromUrl` and `loadSafetensorsFromUrl` fetch from a
 * local HTTP server (no network) and give the same logits and tensors; a failed request, an HTTP
 * error and an oversized response are IoErrors naming the URL; with the browser platform
 * installed, a path is an IoError that points at the bytes-in forms.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FormatError, IoError } from '../../base/errors.js';
import { fetchBytes } from '../../base/fetch.js';
import { setPlatform } from '../../base/platform.js';
import { platform as browserPlatform } from '../../base/platform-browser.js';
import { Rng } from '../../base/rng.js';
import { packModel } from '../../ec2t/export.js';
import { loadTernaryModel, loadTernaryModelFromUrl } from '../../ec2t/runtime/index.js';
import { loadSafetensorsAsTensors, loadSafetensorsFromUrl, serializeSafetensors } from '../../nn/safetensors.js';
import { ternaryFixture } from './ternary-fixture.js';

const fixture = ternaryFixture('lenet5', { seed: 5 });
const packed = packModel('lenet5', {}, fixture.stateDict).bytes;
const weights = serializeSafetensors(fixture.stateDict);
const input = new Float32Array(2 * 28 * 28);
{
  const rng = new Rng(9);
  for (let i = 0; i < input.length; i++) input[i] = rng.normal();
}

let server: Server;
let base = '';
let dir = '';
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ec2t-load-'));
  writeFileSync(join(dir, 'lenet5.ec2t.safetensors'), packed);
  server = createServer((req, res) => {
    if (req.url === '/lenet5.ec2t.safetensors') res.end(packed);
    else if (req.url === '/weights.safetensors') res.end(weights);
    else if (req.url === '/big') {
      // Streamed without a Content-Length, so the cap must hold while reading.
      res.write(new Uint8Array(3000));
      res.end(new Uint8Array(3000));
    } else if (req.url === '/declared') {
      res.setHeader('content-length', '5000');
      res.end(new Uint8Array(5000));
    } else {
      res.statusCode = 404;
      res.end('not here');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

const logits = (m: ReturnType<typeof loadTernaryModel>): Float32Array => m.predict(input, [2, 1, 28, 28]).data;

describe('loading a packed model from bytes, a path or a URL', () => {
  test('a path, a Uint8Array, an ArrayBuffer and a URL give bit-identical logits', async () => {
    const fromPath = logits(loadTernaryModel(join(dir, 'lenet5.ec2t.safetensors')));
    const copy = packed.slice();
    const fromBytes = logits(loadTernaryModel(copy));
    const fromBuffer = logits(loadTernaryModel(copy.buffer));
    const fromUrl = logits(await loadTernaryModelFromUrl(`${base}/lenet5.ec2t.safetensors`));
    assert.ok(fromPath.some((v) => v !== 0));
    for (const other of [fromBytes, fromBuffer, fromUrl]) assert.deepEqual(new Uint32Array(other.buffer), new Uint32Array(fromPath.buffer));
  });

  test('errors name what was loaded: the given name, <bytes>, or the URL', async () => {
    const broken = packed.slice(0, packed.length - 3);
    assert.throws(() => loadTernaryModel(broken, 'mine.ec2t.safetensors'), (e: unknown) => e instanceof FormatError && e.file === 'mine.ec2t.safetensors');
    assert.throws(() => loadTernaryModel(broken.buffer), (e: unknown) => e instanceof FormatError && e.file === '<bytes>');
    await assert.rejects(loadTernaryModelFromUrl(`${base}/missing`), (e: unknown) => e instanceof IoError && e.message === `${base}/missing: cannot fetch: HTTP 404 Not Found`);
    await assert.rejects(loadTernaryModelFromUrl('http://127.0.0.1:1/x'), (e: unknown) => e instanceof IoError && e.message.startsWith('http://127.0.0.1:1/x: cannot fetch: '));
  });

  test('a response over the cap is refused, streamed or declared', async () => {
    await assert.rejects(fetchBytes(`${base}/big`, 5000), (e: unknown) => e instanceof IoError && /more than 5000 bytes/.test(e.message));
    await assert.rejects(fetchBytes(`${base}/declared`, 4999), (e: unknown) => e instanceof IoError && /is 5000 bytes, above the 4999-byte limit/.test(e.message));
    assert.equal((await fetchBytes(`${base}/big`, 6000)).length, 6000);
  });

  test('safetensors weights load from bytes and from a URL with the same tensors', async () => {
    const fromBytes = loadSafetensorsAsTensors(weights.slice().buffer, 'w');
    const fromUrl = await loadSafetensorsFromUrl(`${base}/weights.safetensors`);
    assert.deepEqual([...fromBytes.tensors.keys()].sort(), [...fixture.stateDict.keys()].sort());
    for (const [k, t] of fromBytes.tensors) {
      assert.deepEqual(t.shape, fromUrl.tensors.get(k)?.shape, k);
      assert.deepEqual(t.toArray(), fromUrl.tensors.get(k)?.toArray(), k);
    }
  });

  test('under the browser platform a path is an IoError pointing at the bytes-in forms; bytes still load', () => {
    setPlatform(browserPlatform);
    try {
      const p = join(dir, 'lenet5.ec2t.safetensors');
      assert.throws(() => loadTernaryModel(p), (e: unknown) => e instanceof IoError && e.file === p && /pass the bytes instead/.test(e.message));
      assert.throws(() => loadSafetensorsAsTensors(p), (e: unknown) => e instanceof IoError && e.file === p);
      assert.equal(logits(loadTernaryModel(packed)).length, 20);
    } finally {
      setPlatform(undefined);
    }
  });
});
