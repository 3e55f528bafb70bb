/**
 * Backend calibration (kernels/calibrate.ts): the chooser picks the measured fastest (fake timings),
 * the cache round-trips and is ignored when the machine facts change, and the kernel trace formats.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import '../../kernels/index.js';
import { type CalibratedOp, type MachineFacts, type SizeBucket, calibrateBackends, formatKernelTrace, loadCalibration } from '../../kernels/calibrate.js';
import { getBackend, kernelBackends, registerKernel, resolveBackend, setAutoChooser, setBackend } from '../../kernels/registry.js';
import type { Backend } from '../../kernels/types.js';

const FACTS: MachineFacts = { cpuModel: 'Test CPU', cores: 2, node: 'v20.0.0', gpujsMode: 'webasm' };
// A fake second backend for matmul so there is a choice to make (gpujs slot, never called).
if (!kernelBackends('matmul').includes('gpujs')) registerKernel('matmul', 'gpujs', () => { throw new Error('fake gpujs matmul must not run'); });

/** Fake timings: gpujs wins matmul at `large` only, cpu everywhere else. */
function fakeMeasure(op: CalibratedOp, bucket: SizeBucket, backend: Backend): number {
  if (backend === 'gpujs') return op === 'matmul' && bucket === 'large' ? 1 : 100;
  return 10;
}

test('calibrateBackends picks the measured fastest per (op, size) and the chooser follows it', async () => {
  const prev = getBackend();
  setBackend('auto');
  try {
    let calls = 0;
    const table = await calibrateBackends({ cachePath: null, facts: FACTS, budgetMs: 10, measure: (op, b, be) => { calls++; return fakeMeasure(op, b, be); } });
    assert.ok(calls > 0);
    const mm = table.entries.filter((e) => e.op === 'matmul');
    assert.deepEqual(mm.map((e) => [e.bucket, e.best]), [['small', 'cpu'], ['medium', 'cpu'], ['large', 'gpujs']]);
    for (const e of table.entries) assert.ok(!('reference' in e.ms), 'reference is never timed');
    const large = mm.find((e) => e.bucket === 'large')!.sizeHint;
    const small = mm.find((e) => e.bucket === 'small')!.sizeHint;
    assert.equal(resolveBackend('matmul', large), 'gpujs');
    assert.equal(resolveBackend('matmul', large * 4), 'gpujs', 'beyond the largest size: nearest is large');
    assert.equal(resolveBackend('matmul', small), 'cpu');
    assert.equal(resolveBackend('conv2dForward', 1e9), 'cpu');
    assert.equal(resolveBackend('unary', 100), 'cpu', 'uncalibrated ops keep the default order');
  } finally {
    setAutoChooser(undefined);
    setBackend(prev);
  }
});

test('calibration cache: round trip without re-measuring; changed machine facts or a damaged file re-measure', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ec2t-cal-'));
  const path = join(dir, 'sub', 'calibration.json');
  try {
    let calls = 0;
    const measure = (op: CalibratedOp, b: SizeBucket, be: Backend): number => { calls++; return fakeMeasure(op, b, be); };
    const first = await calibrateBackends({ cachePath: path, facts: FACTS, measure });
    const n = calls;
    assert.ok(n > 0);
    const again = await calibrateBackends({ cachePath: path, facts: FACTS, measure });
    assert.equal(calls, n, 'a matching cache is reused without measuring');
    assert.equal(again.cached, true);
    assert.deepEqual(again.entries, first.entries);
    assert.deepEqual(loadCalibration(path, FACTS)?.entries, first.entries);
    for (const changed of [{ cpuModel: 'Other CPU' }, { cores: 4 }, { node: 'v22.0.0' }, { gpujsMode: 'cpu' }]) {
      assert.equal(loadCalibration(path, { ...FACTS, ...changed }), undefined, `facts changed: ${JSON.stringify(changed)}`);
    }
    await calibrateBackends({ cachePath: path, facts: { ...FACTS, cores: 4 }, measure });
    assert.ok(calls > n, 'changed facts re-measure');
    const m = calls;
    await calibrateBackends({ cachePath: path, facts: { ...FACTS, cores: 4 }, measure, force: true });
    assert.ok(calls > m, 'force re-measures');
    writeFileSync(path, '{ not json');
    assert.equal(loadCalibration(path, FACTS), undefined);
    // An entry missing a field (or with a wrong type) is a damaged cache too, not a crash later in the chooser.
    await calibrateBackends({ cachePath: path, facts: FACTS, measure, force: true });
    const good = JSON.parse(readFileSync(path, 'utf8')) as { entries: Record<string, unknown>[] };
    for (const field of ['ms', 'sizeHint', 'op', 'bucket']) {
      const t = structuredClone(good);
      delete t.entries[0][field];
      writeFileSync(path, JSON.stringify(t));
      assert.equal(loadCalibration(path, FACTS), undefined, `entry without ${field}`);
    }
    const t = structuredClone(good);
    t.entries[0].ms = { cpu: 'fast' };
    writeFileSync(path, JSON.stringify(t));
    assert.equal(loadCalibration(path, FACTS), undefined, 'a non-numeric time');
    const before = calls;
    await calibrateBackends({ cachePath: path, facts: FACTS, measure });
    assert.ok(calls > before, 'a damaged entry re-measures');
    assert.deepEqual(readdirSync(join(dir, 'sub')), ['calibration.json'], 'no temp file left');
  } finally {
    setAutoChooser(undefined);
  }
});

test('calibrateBackends measures real kernels within a small budget', async () => {
  try {
    const table = await calibrateBackends({ cachePath: null, facts: FACTS, ops: ['conv2dForward'], sizes: ['small'], budgetMs: 20 });
    assert.equal(table.entries.length, 1);
    const e = table.entries[0];
    assert.ok(Number.isFinite(e.ms.cpu) && e.ms.cpu! > 0, `cpu time measured: ${JSON.stringify(e.ms)}`);
  } finally {
    setAutoChooser(undefined);
  }
});

test('formatKernelTrace: one row per op and backend with call counts', () => {
  const text = formatKernelTrace({ 'conv2dForward@cpu': 12, 'matmul@gpujs': 3 });
  const lines = text.trim().split('\n');
  assert.equal(lines[0], 'kernel trace:');
  assert.match(lines[1], /^op\s+backend\s+calls$/);
  assert.match(lines[2], /^conv2dForward\s+cpu\s+12$/);
  assert.match(lines[3], /^matmul\s+gpujs\s+3$/);
  assert.equal(formatKernelTrace({}), 'kernel trace: no kernels ran\n');
});
