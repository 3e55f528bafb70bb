/**
 * The shared kernel worker pool (kernels/wasm/worker-pool.ts): GEMM, dense conv and ternary conv share one
 * set of workers (at most threads − 1 of them, not one pool per kernel family); a worker that throws
 * surfaces as a KernelError carrying its message and the pool restarts cleanly afterwards; the
 * thread-count setters reject bad counts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { KernelError, ValueError } from '../../base/errors.js';
import { Rng } from '../../base/rng.js';
import '../../kernels/index.js';
import { kernelFor } from '../../kernels/registry.js';
import { setTernarySimd, ternaryConv2dCpu } from '../../kernels/ternary/cpu.js';
import { ternaryLayerFromAssignment } from '../../kernels/ternary/layer.js';
import { setTernaryThreads, ternarySimdAvailable } from '../../kernels/ternary/simd.js';
import { conv2dGeometry } from '../../kernels/types.js';
import { ModuleBuilder, webAssembly } from '../../kernels/wasm/assembler.js';
import { setConvThreads } from '../../kernels/wasm/conv.js';
import { wasmSimdAvailable } from '../../kernels/wasm/gemm.js';
import { poolDegradedReason, poolWorkerCount, registerPoolFamily, releasePoolFamily, resetPoolDegraded, runJob, setPoolWorkerFactory, shutdownPool } from '../../kernels/wasm/worker-pool.js';
import { setGemmThreads, threadedGemm } from '../../kernels/wasm/threaded-gemm.js';
import { randomAssignment } from './ternary-fixtures.js';

const skip = !wasmSimdAvailable().available || typeof SharedArrayBuffer === 'undefined' ? 'no WebAssembly SIMD / shared memory here' : false;

/** A family whose module only imports the memory, with the runner given. */
function family(name: string, runnerBody: string): ReturnType<typeof registerPoolFamily> {
  const wa = webAssembly as NonNullable<typeof webAssembly>;
  const memory = new wa.Memory({ initial: 1, maximum: 16, shared: true });
  const mod = new ModuleBuilder({ initialPages: 1, maximumPages: 16, shared: true });
  mod.func('nop', [], []);
  return registerPoolFamily(name, new wa.Module(mod.bytes()), memory, runnerBody);
}

describe('kernel worker pool', () => {
  after(async () => {
    setGemmThreads(undefined);
    setConvThreads(undefined);
    setTernaryThreads(undefined);
    await shutdownPool();
  });

  test('GEMM, dense conv and ternary conv at 3 threads share 2 workers', { skip }, async () => {
    await shutdownPool();
    const rng = new Rng(5);
    const n = 96;
    const a = new Float32Array(n * n).map(() => rng.uniformRange(-1, 1));
    const c = new Float32Array(n * n);
    threadedGemm(false, false, n, n, n, a, 0, n, a, 0, n, c, 0, n, false, 3);
    assert.equal(poolWorkerCount(), 2);
    setConvThreads(3);
    const g = conv2dGeometry([8, 8, 12, 12], [8, 8, 3, 3], { padding: 1 });
    const x = new Float32Array(8 * 8 * 144).map(() => rng.uniformRange(-1, 1));
    kernelFor('conv2dForward', 'cpu')(x, new Float32Array(8 * 72).fill(0.1), null, new Float32Array(8 * 8 * 144), g);
    if (ternarySimdAvailable() && setTernarySimd(true)) {
      setTernaryThreads(3);
      const layer = ternaryLayerFromAssignment(randomAssignment(8 * 72, 0.5, rng), [8, 8, 3, 3], 0.5, 0.25);
      ternaryConv2dCpu(x, layer, null, new Float32Array(8 * 8 * 144), g);
    }
    assert.equal(poolWorkerCount(), 2, 'one set of workers for every kernel family');
  });

  test('a worker that throws becomes a KernelError with its message; the next job runs on a fresh pool', { skip }, async () => {
    await shutdownPool();
    const bad = family('test family', `return function (E, memory, params, op, index) { if (index === 1) throw new Error('boom from worker ' + index + ' param ' + params[0]); };`);
    assert.throws(() => runJob(bad, 0, [42], 2, () => {}), (e: unknown) => e instanceof KernelError && /test family/.test(e.message) && /boom from worker 1 param 42/.test(e.message));
    const good = family('counting family', `return function (E, memory, params, op, index, threads, next) { for (let i = next(); i < params[0]; i = next()) {} };`);
    let mine = 0;
    runJob(good, 0, [100], 2, (next) => { for (let i = next(); i < 100; i = next()) mine++; });
    assert.ok(mine <= 100, 'the chunk counter hands out each chunk once');
    await shutdownPool();
  });

  test('a released family refuses jobs; the workers keep serving the others', { skip }, () => {
    const a = family('family a', `return function () {};`);
    const b = family('family b', `return function (E, memory, params, op, index) { if (index !== 1) throw new Error('wrong index ' + index); };`);
    runJob(a, 0, [], 2, () => {});
    runJob(b, 0, [], 2, () => {});
    releasePoolFamily(a);
    assert.throws(() => runJob(a, 0, [], 2, () => {}), (e: unknown) => e instanceof KernelError && /released/.test(e.message));
    runJob(b, 0, [], 2, () => {});
  });

  test('a worker that calls process.exit fails its job with a WorkerDiedError; later jobs run on one thread with the same results', { skip }, () => {
    // In a child process: before the fix the main thread waited forever in Atomics.wait.
    const poolUrl = new URL('../../kernels/wasm/worker-pool.js', import.meta.url).href;
    const asmUrl = new URL('../../kernels/wasm/assembler.js', import.meta.url).href;
    const script = `
      const { registerPoolFamily, runJob, withWorkerRecovery, WorkerDiedError, poolDegradedReason, resetPoolDegraded } = await import(${JSON.stringify(poolUrl)});
      const { ModuleBuilder, webAssembly: wa } = await import(${JSON.stringify(asmUrl)});
      const memory = new wa.Memory({ initial: 1, maximum: 16, shared: true });
      const mod = new ModuleBuilder({ initialPages: 1, maximumPages: 16, shared: true });
      mod.func('nop', [], []);
      // Each index writes index + 1 into its word; index 1 exits its thread in jobs with params[0] = 1.
      const body = "return function (E, memory, params, op, index) { if (index === 1 && params[0] === 1) process.exit(3); new Int32Array(memory.buffer)[index] = index + 1; };";
      const fam = registerPoolFamily('exiting family', new wa.Module(mod.bytes()), memory, body);
      const words = new Int32Array(memory.buffer);
      let calls = 0;
      // A kernel call that meets a dying worker is run again, on one thread; params[0] = 2 there
      // stands for "the cause is gone" (a real runner would not exit twice, and must not on the main thread).
      withWorkerRecovery(() => runJob(fam, 0, [calls++ === 0 ? 1 : 2], 3, () => { words[0] = 1; }));
      console.log(JSON.stringify({ words: Array.from(words.subarray(0, 3)), calls, reason: poolDegradedReason() }));
      resetPoolDegraded();
      let err;
      try { runJob(fam, 0, [1], 3, () => {}); } catch (e) { err = e; }
      console.log(JSON.stringify({ typed: err instanceof WorkerDiedError, message: String(err && err.message) }));
    `;
    const { NODE_TEST_CONTEXT: _ctx, ...env } = process.env;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000, env });
    assert.notEqual(r.signal, 'SIGTERM', `the main thread hung waiting for the dead worker: ${r.stdout} ${r.stderr}`);
    assert.equal(r.status, 0, r.stderr);
    const [first, second] = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(first.words, [1, 2, 3], 'the repeated call ran every thread index, on the main thread');
    assert.equal(first.calls, 2);
    assert.match(String(first.reason), /worker thread 1 exited \(code 3\)/);
    assert.equal(second.typed, true, String(second.message));
    assert.match(String(second.message), /kernel worker thread 1 exited \(code 3\) during a exiting family job; its results are incomplete/);
    assert.match(r.stderr, /continue on one thread/, 'one warning says so');
    assert.equal(r.stderr.match(/EC2T_POOL_SERIAL/g)?.length, 2, 'warned once per fall-back');
  });

  test('a worker that cannot be started: the job runs on the calling thread with a warning, bit-identical', { skip }, async () => {
    await shutdownPool();
    const rng = new Rng(9);
    const n = 80;
    const a = new Float32Array(n * n).map(() => rng.uniformRange(-1, 1));
    const want = new Float32Array(n * n);
    threadedGemm(false, false, n, n, n, a, 0, n, a, 0, n, want, 0, n, false, 3);
    await shutdownPool();
    setPoolWorkerFactory(() => {
      throw new Error('EAGAIN: cannot create a thread');
    });
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      const got = new Float32Array(n * n);
      threadedGemm(false, false, n, n, n, a, 0, n, a, 0, n, got, 0, n, false, 3);
      assert.deepEqual(got, want);
      assert.equal(poolWorkerCount(), 0);
      assert.match(String(poolDegradedReason()), /could not start a kernel worker thread \(EAGAIN: cannot create a thread\)/);
      await new Promise((r) => setImmediate(r));
      assert.equal(warnings.filter((w) => /one thread/.test(w)).length, 1);
    } finally {
      process.off('warning', onWarning);
      setPoolWorkerFactory(undefined);
      resetPoolDegraded();
    }
  });

  test('setters reject counts outside 1..64', () => {
    for (const bad of [0, -1, 1.5, 65, Number.NaN]) {
      assert.throws(() => setGemmThreads(bad), ValueError);
      assert.throws(() => setConvThreads(bad), ValueError);
      assert.throws(() => setTernaryThreads(bad), ValueError);
    }
  });
});
