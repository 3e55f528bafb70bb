/**
 * trainModel / ternarizeModel as library calls: the folder store and the memory store hold the
 * same bytes for the same run, an abort returns `interrupted: true` with a checkpoint, and a run
 * resumed from that checkpoint ends with the bytes of an uninterrupted one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../../base/rng.js';
import { loadMnist } from '../../../datasets/mnist.js';
import { subset, type AnyDataset } from '../../../datasets/dataset.js';
import { createModel, ternaryLayerNames } from '../../../nn/models/index.js';
import { DEFAULT_QUANTIZER_CONFIG } from '../../../ec2t/quantizer.js';
import { RunFolder } from '../../../ec2t/runfolder.js';
import { MemoryRunStore, RUN_FILES, type RunStore } from '../../../ec2t/runstore.js';
import { readRunCheckpoint, type RunCheckpoint } from '../../../ec2t/train.js';
import { ternarizeModel, TERNARY_FILE, type TernarizeResult } from '../../../ec2t/recipes/ternarize.js';
import { trainModel } from '../../../ec2t/recipes/train.js';
import type { RecipeProgress } from '../../../ec2t/recipes/events.js';

const first = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const mnistTrain = loadMnist({ split: 'train' });
const data: { train: AnyDataset; val: AnyDataset; test: AnyDataset } = {
  train: subset(mnistTrain, first(192)),
  val: subset(mnistTrain, first(64).map((i) => 1000 + i)),
  test: subset(loadMnist({ split: 'test' }), first(64)),
};

function ternarize(store: RunStore, extra: { signal?: AbortSignal; onProgress?: (e: RecipeProgress) => void; checkpoint?: RunCheckpoint } = {}): Promise<TernarizeResult> {
  const model = createModel('lenet5', { seed: 4 });
  return ternarizeModel({
    model, modelName: 'lenet5', layers: ternaryLayerNames(model, 'lenet5'), ...data,
    quantizer: { ...DEFAULT_QUANTIZER_CONFIG, gain: 0.1 }, epochs: 2, retrainEpochs: 1, batchSize: 64,
    loaderRng: new Rng(1), modelRng: new Rng(2), store, ...extra,
  });
}

/** metrics.jsonl without its wall-clock fields, which differ from run to run. */
function metricsWithoutTimes(text: string): unknown[] {
  return text.trim().split('\n').map((l) => {
    const { seconds: _s, imagesPerSecond: _i, ...rest } = JSON.parse(l) as Record<string, unknown>;
    return rest;
  });
}

test('ternarizeModel writes the same bytes to a folder store and to a memory store', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ec2t-recipe-'));
  try {
    const folder = await ternarize(new RunFolder(dir));
    const memory = new MemoryRunStore('t');
    const inMemory = await ternarize(memory);
    assert.equal(inMemory.accuracy, folder.accuracy);
    assert.equal(inMemory.sparsity, folder.sparsity);
    const onDisk = readdirSync(dir).sort();
    assert.deepEqual([...memory.files.keys()].sort(), onDisk);
    for (const name of onDisk.filter((n) => n.endsWith('.safetensors') || n === 'histograms.json')) {
      assert.deepEqual(memory.readBytes(name), new Uint8Array(readFileSync(join(dir, name))), name);
    }
    assert.deepEqual(metricsWithoutTimes(new TextDecoder().decode(memory.readBytes('metrics.jsonl'))), metricsWithoutTimes(readFileSync(join(dir, 'metrics.jsonl'), 'utf8')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ternarizeModel: an abort returns interrupted with a checkpoint, and the resumed run ends with the bytes of an uninterrupted one', async () => {
  const whole = new MemoryRunStore('whole');
  const events: RecipeProgress[] = [];
  const done = await ternarize(whole, { onProgress: (e) => events.push(e) });
  assert.equal(done.interrupted, false);
  // 3 batches of 64 per epoch, 2 EC2T epochs then 1 frozen one.
  assert.deepEqual(events.filter((e) => e.kind === 'batch').map((e) => (e.kind === 'batch' ? `${e.phase}:${e.step}` : '')), ['ec2t:1', 'ec2t:2', 'ec2t:3', 'ec2t:4', 'ec2t:5', 'ec2t:6', 'frozen:7', 'frozen:8', 'frozen:9']);
  // The batch number counts 1..batches in every epoch, the last one included (the loader has
  // already rolled over to the next epoch when it hands the last batch out).
  assert.deepEqual(events.filter((e) => e.kind === 'batch').map((e) => (e.kind === 'batch' ? `${e.batch}/${e.batches}` : '')), ['1/3', '2/3', '3/3', '1/3', '2/3', '3/3', '1/3', '2/3', '3/3']);
  const epochs = events.flatMap((e) => (e.kind === 'epoch' ? [e.metrics] : []));
  assert.deepEqual(epochs.map((m) => [m.epoch, m.phase]), [[1, 'ec2t'], [2, 'ec2t'], [3, 'frozen']]);
  for (const m of epochs) assert.equal(m.layers?.length, ternaryLayerNames(createModel('lenet5'), 'lenet5').length);
  assert.deepEqual(events.filter((e) => e.kind === 'phase').map((e) => (e.kind === 'phase' ? e.phase : '')), ['ec2t', 'frozen']);

  const store = new MemoryRunStore('aborted');
  const abort = new AbortController();
  // Abort in the middle of the second EC2T epoch (step 5 of 9).
  const stopped = await ternarize(store, { signal: abort.signal, onProgress: (e) => { if (e.kind === 'batch' && e.step === 5) abort.abort(); } });
  assert.equal(stopped.interrupted, true);
  assert.ok(Number.isNaN(stopped.accuracy));
  assert.equal(stopped.epochs, 1, 'one epoch completed before the abort');
  assert.equal(store.has(TERNARY_FILE), false, 'no ternary model before the main phase ends');
  const ck = readRunCheckpoint(store);
  assert.equal(ck.phase, 'ec2t');

  const resumed = await ternarize(store, { checkpoint: ck });
  assert.equal(resumed.interrupted, false);
  assert.equal(resumed.accuracy, done.accuracy);
  for (const name of [TERNARY_FILE, RUN_FILES.best, RUN_FILES.last, RUN_FILES.checkpoint]) {
    assert.deepEqual(store.readBytes(name), whole.readBytes(name), name);
  }
});

test('trainModel: an abort returns interrupted, and resuming from the memory store ends with the bytes of an uninterrupted run', async () => {
  const run = (store: RunStore, extra: { signal?: AbortSignal; onProgress?: (e: RecipeProgress) => void; checkpoint?: RunCheckpoint } = {}) => trainModel({
    model: createModel('lenet5', { seed: 4 }), modelName: 'lenet5', ...data, epochs: 2, batchSize: 64, optimizer: 'sgd', lr: 0.05,
    momentum: 0.9, weightDecay: 5e-4, schedule: 'cosine', loaderRng: new Rng(1), modelRng: new Rng(2), store, ...extra,
  });
  const whole = new MemoryRunStore('whole');
  const done = await run(whole);
  assert.equal(done.interrupted, false);
  assert.equal(done.epochs, 2);
  const store = new MemoryRunStore('aborted');
  const abort = new AbortController();
  const stopped = await run(store, { signal: abort.signal, onProgress: (e) => { if (e.kind === 'batch' && e.step === 2) abort.abort(); } });
  assert.equal(stopped.interrupted, true);
  assert.equal(stopped.epochs, 0);
  const resumed = await run(store, { checkpoint: readRunCheckpoint(store) });
  assert.equal(resumed.interrupted, false);
  assert.equal(resumed.testAccuracy, done.testAccuracy);
  for (const name of [RUN_FILES.best, RUN_FILES.last, RUN_FILES.checkpoint]) assert.deepEqual(store.readBytes(name), whole.readBytes(name), name);
});

test('MemoryRunStore: a missing file or malformed JSON is a FormatError naming the file in the store', () => {
  const store = new MemoryRunStore('x');
  assert.throws(() => store.readBytes('checkpoint.safetensors'), /memory:x\/checkpoint\.safetensors: missing/);
  store.writeBytes('config.json', new TextEncoder().encode('{oops'));
  assert.throws(() => store.readJson('config.json'), /memory:x\/config\.json: not valid JSON/);
  assert.deepEqual(store.readMetrics(), []);
  // A stored file is a copy: changing the caller's buffer afterwards does not change the run.
  const bytes = new Uint8Array([1, 2, 3]);
  store.writeBytes('b.bin', bytes);
  bytes[0] = 9;
  assert.deepEqual([...store.readBytes('b.bin')], [1, 2, 3]);
});
