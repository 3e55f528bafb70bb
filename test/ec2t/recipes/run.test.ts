/**
 * Whole runs as library calls (ec2t/recipes/run.ts): a train run kept in a memory store records
 * config.json under the flag names in the command line's order, and an aborted run resumed with
 * `resume` ends bit-identical to an uninterrupted one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryRunStore } from '../../../ec2t/runstore.js';
import { trainRun, type TrainRunOptions } from '../../../ec2t/recipes/run.js';
import type { RunConfigFile } from '../../../ec2t/recipes/run.js';

// 192 images / batch 64 = 3 steps per epoch, two epochs: small enough for a unit test.
const options: TrainRunOptions = { model: 'lenet5', dataset: 'mnist', limitTrain: 192, valSize: 64, batchSize: 64, epochs: 2, seed: 7, optimizer: 'sgd', lr: 0.02, out: 'mem' };

test('trainRun records its options in config.json under the flag names, defaults filled, in the order of ec2t train', async () => {
  const store = new MemoryRunStore();
  const notes: string[] = [];
  const s = await trainRun({ ...options, epochs: 1 }, { store, onNote: (l) => notes.push(l), argv: ['from', 'a', 'test'] });
  assert.equal(s.interrupted, false);
  assert.equal(s.epochs, 1);
  const cfg = store.readJson<RunConfigFile>('config.json');
  assert.equal(cfg.command, 'train');
  assert.deepEqual(Object.entries(cfg.flags), [
    ['model', 'lenet5'], ['dataset', 'mnist'], ['val-size', 64], ['epochs', 1], ['batch-size', 64], ['optimizer', 'sgd'], ['lr', 0.02],
    ['momentum', 0.9], ['weight-decay', 5e-4], ['schedule', 'cosine'], ['cutout', 0], ['seed', 7], ['out', 'mem'], ['limit-train', 192], ['backend', 'auto'],
  ]);
  assert.deepEqual(cfg.modelOptions, {});
  assert.deepEqual(store.readJson<{ argv: string[] }>('manifest.json').argv, ['from', 'a', 'test']);
  assert.deepEqual(store.readJson('summary.json'), JSON.parse(JSON.stringify(s)));
  assert.deepEqual(notes, [], 'nothing to note for LeNet-5 on MNIST');
});

test('trainRun: the per-dataset defaults pick Adam with lr 0.002 on MNIST', async () => {
  const store = new MemoryRunStore();
  const { optimizer: _o, lr: _l, ...rest } = options;
  await trainRun({ ...rest, epochs: 1, limitTrain: 64 }, { store });
  const flags = store.readJson<RunConfigFile>('config.json').flags;
  assert.equal(flags.optimizer, 'adam');
  assert.equal(flags.lr, 0.002);
});

test('trainRun: aborted mid-epoch, then resumed from its store, ends bit-identical to an uninterrupted run', async () => {
  const full = new MemoryRunStore('full');
  const a = await trainRun(options, { store: full });
  assert.equal(a.interrupted, false);

  const cut = new MemoryRunStore('cut');
  const abort = new AbortController();
  const b = await trainRun(options, {
    store: cut, signal: abort.signal,
    onProgress: (e) => { if (e.kind === 'batch' && e.epoch === 2 && e.batch === 2) abort.abort(); },
  });
  assert.equal(b.interrupted, true);
  assert.equal(b.epochs, 1, 'one epoch completed before the abort');
  assert.ok(cut.has('checkpoint.safetensors'));

  const notes: string[] = [];
  const batches: string[] = [];
  const c = await trainRun({ ...options, resume: 'mem' }, {
    store: cut, onNote: (l) => notes.push(l),
    onProgress: (e) => { if (e.kind === 'batch') batches.push(`${e.epoch}:${e.batch}`); },
  });
  assert.equal(c.interrupted, false);
  assert.deepEqual(notes, ['resuming mem after 1 completed epoch(s)']);
  // A run started over would give the same bytes too (same seed): the resumed one trains only the last batch.
  assert.deepEqual(batches, ['2:3']);
  for (const f of ['last.safetensors', 'best.safetensors']) assert.deepEqual(cut.readBytes(f), full.readBytes(f), `${f} identical`);
  assert.equal(c.testAccuracy, a.testAccuracy);
  const times = (m: ReadonlyArray<Record<string, unknown>>): object[] => m.map(({ seconds: _s, imagesPerSecond: _i, ...rest }) => rest);
  assert.deepEqual(times(cut.readMetrics()), times(full.readMetrics()));
});
