/**
 * The platform layer: Node's implementation reads the real environment and cores; the browser one
 * has no environment, no files and no Node modules, and its plain-TypeScript SHA-256 agrees with
 * `node:crypto` on any split of any bytes (the dataset fingerprints are the same in both); with the
 * browser platform installed the backend settings ignore `EC2T_*` variables and the kernel pool
 * runs on one thread with the same bits as Node's threads.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { IoError } from '../../base/errors.js';
import { nodeServices, platform, setPlatform } from '../../base/platform.js';
import { platform as browserPlatform } from '../../base/platform-browser.js';
import { sha256Hex } from '../../base/sha256.js';
import { createDataset } from '../../datasets/dataset.js';
import { backendSettings, reloadBackendEnv, setBackendSettings, resetBackendSettings } from '../../kernels/settings.js';
import { poolThreadsUnavailable, poolWorkerCount, shutdownPool } from '../../kernels/wasm/worker-pool.js';
import { gemm } from '../../kernels/cpu/gemm.js';

const SEED = Number(process.env.FC_SEED ?? 20261203);

function withBrowser<T>(fn: () => T): T {
  setPlatform(browserPlatform);
  try {
    return fn();
  } finally {
    setPlatform(undefined);
  }
}

describe('platform layer', () => {
  test('under Node: the Node platform, with the real environment, cores and modules', () => {
    const p = platform();
    assert.equal(p.name, 'node');
    assert.equal(p.cores(), availableParallelism());
    assert.equal(p.env('PATH'), process.env.PATH);
    assert.equal(p.hostFacts().runtime, process.version);
    assert.equal(nodeServices('x').fs.existsSync('/'), true);
  });

  test('the browser platform has no environment, files or Node modules', () => {
    assert.equal(browserPlatform.name, 'browser');
    assert.equal(browserPlatform.env('PATH'), undefined);
    assert.equal(browserPlatform.node, null);
    assert.ok(browserPlatform.cores() >= 1);
    withBrowser(() => {
      assert.throws(() => nodeServices('data/mnist'), (e: unknown) => e instanceof IoError && e.file === 'data/mnist' && /a browser does not have/.test(e.message));
    });
  });

  test('SHA-256 in TypeScript matches node:crypto on any bytes split any way', () => {
    // FIPS 180-4 test vectors first: the empty string and "abc".
    assert.equal(sha256Hex([]), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.equal(sha256Hex([new TextEncoder().encode('abc')]), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    console.log(`sha256 property seed ${SEED} (FC_SEED to replay)`);
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 6 }), (parts) => {
        const h = createHash('sha256');
        for (const p of parts) h.update(p);
        assert.equal(sha256Hex(parts), h.digest('hex'));
        assert.equal(platform().sha256Hex(parts), sha256Hex(parts));
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  test('a dataset fingerprint is the same under both platforms', () => {
    const images = Uint8Array.from({ length: 4 * 28 * 28 }, (_, i) => (i * 7) & 255);
    const make = (): ReturnType<typeof createDataset> => createDataset({ name: 'tiny', split: 'train', classes: 10, channels: 1, height: 28, width: 28, images, labels: Int32Array.of(1, 2, 3, 4) });
    assert.equal(withBrowser(() => make().fingerprint()), make().fingerprint());
  });

  test('the browser platform hides EC2T_* variables from the backend settings', () => {
    const saved = process.env.EC2T_THREADS;
    process.env.EC2T_THREADS = '3';
    try {
      resetBackendSettings();
      assert.equal(backendSettings().threads, 3);
      withBrowser(() => {
        reloadBackendEnv();
        assert.equal(backendSettings().threads, undefined);
      });
    } finally {
      if (saved === undefined) delete process.env.EC2T_THREADS;
      else process.env.EC2T_THREADS = saved;
      resetBackendSettings();
    }
  });

  test('outside a cross-origin-isolated page the pool runs on one thread, with the same bits', async () => {
    // 256³: the size from which the WASM GEMM uses the pool (kernels/cpu/gemm.ts).
    const m = 256, k = 256, n = 256;
    const rng = (i: number): number => Math.fround(Math.sin(i * 12.9898) * 0.5);
    const a = Float32Array.from({ length: m * k }, (_, i) => rng(i));
    const b = Float32Array.from({ length: k * n }, (_, i) => rng(i + 7777));
    const run = (): Float32Array => {
      const c = new Float32Array(m * n).fill(Number.NaN);
      gemm(false, false, m, n, k, a, 0, k, b, 0, n, c, 0, n, false);
      return c;
    };
    setBackendSettings({ threads: 2 });
    try {
      const threaded = run();
      assert.equal(poolWorkerCount(), 1, 'the Node run used a worker thread');
      await shutdownPool();
      const serial = withBrowser(() => {
        assert.match(poolThreadsUnavailable() ?? '', /not cross-origin isolated/);
        return run();
      });
      assert.equal(poolWorkerCount(), 0, 'the browser run started no worker');
      assert.equal(poolThreadsUnavailable(), null);
      assert.ok(threaded.every(Number.isFinite));
      assert.deepEqual(new Uint32Array(serial.buffer), new Uint32Array(threaded.buffer));
    } finally {
      resetBackendSettings();
      await shutdownPool();
    }
  });
});
