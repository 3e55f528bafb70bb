import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../base/rng.js';
import { createDataset, splitValidation, subset, type Dataset } from '../../datasets/dataset.js';
import { DataLoader, type Batch } from '../../datasets/loader.js';
import { CIFAR_AUGMENT } from '../../datasets/transforms.js';

/** N samples of [C, 4, 4]; sample i's pixels are all i mod 256 on channel 0 (identifiable), labels i mod classes. */
function toy(n: number, channels = 1, classes = 3, name = 'toy'): Dataset {
  const sample = channels * 16;
  const images = new Uint8Array(n * sample);
  for (let i = 0; i < n; i++) images.fill(i % 256, i * sample, (i + 1) * sample);
  return createDataset({ name, split: 'train', classes, channels, height: 4, width: 4, images, labels: Int32Array.from({ length: n }, (_, i) => i % classes) });
}

const snapshot = (b: Batch) => ({ x: Array.from(b.x.data), labels: Array.from(b.labels), indices: Array.from(b.indices), size: b.size, shape: [...b.x.shape] });

function epoch(loader: DataLoader) {
  return Array.from(loader, snapshot);
}

describe('DataLoader', () => {
  it('covers every sample exactly once per epoch, with a last partial batch', () => {
    const ds = toy(23);
    const loader = new DataLoader(ds, { batchSize: 5, shuffle: true, rng: new Rng(1), normalize: false });
    assert.equal(loader.batchesPerEpoch, 5);
    for (let e = 0; e < 3; e++) {
      const batches = epoch(loader);
      assert.deepEqual(batches.map((b) => b.size), [5, 5, 5, 5, 3]);
      assert.deepEqual(batches[4].shape, [3, 1, 4, 4]);
      const seen = batches.flatMap((b) => b.indices).sort((a, b) => a - b);
      assert.deepEqual(seen, Array.from({ length: 23 }, (_, i) => i));
      for (const b of batches) {
        b.indices.forEach((i, k) => {
          assert.equal(b.labels[k], i % 3);
          assert.equal(b.x[k * 16 + 7], Math.fround(i / 255));
        });
      }
      assert.equal(loader.epoch, e + 1);
    }
  });

  it('dropLast skips the incomplete batch; shuffle false keeps dataset order', () => {
    const loader = new DataLoader(toy(23), { batchSize: 5, shuffle: false, dropLast: true, rng: new Rng(1), normalize: false });
    const batches = epoch(loader);
    assert.equal(batches.length, 4);
    assert.deepEqual(batches.flatMap((b) => b.indices), Array.from({ length: 20 }, (_, i) => i));
  });

  it('successive epochs use different permutations', () => {
    const loader = new DataLoader(toy(50), { batchSize: 50, rng: new Rng(2) });
    assert.notDeepEqual(epoch(loader)[0].indices, epoch(loader)[0].indices);
  });

  it('same seed ⇒ identical batches (with augmentation); another seed differs', () => {
    const ds = toy(40, 3, 10, 'cifar10');
    const run = (seed: number) => {
      const l = new DataLoader(ds, { batchSize: 8, rng: new Rng(seed), augment: { ...CIFAR_AUGMENT, cutout: { holes: 1, length: 2 } } });
      return [...epoch(l), ...epoch(l)];
    };
    assert.deepEqual(run(7), run(7));
    assert.notDeepEqual(run(7), run(8));
  });

  it('normalises with the family constants by default, or the given ones', () => {
    const ds = toy(4, 3, 10, 'cifar10');
    const b = epoch(new DataLoader(ds, { batchSize: 4, shuffle: false, rng: new Rng(0) }))[0];
    // sample 1, channel 1 (G): (1/255 − 0.4822) / 0.2435
    assert.equal(b.x[1 * 48 + 16 + 3], Math.fround((1 / 255 - 0.4822) / 0.2435));
    const c = epoch(new DataLoader(ds, { batchSize: 4, shuffle: false, rng: new Rng(0), normalize: { mean: [0, 0, 0], std: [2, 2, 2] } }))[0];
    assert.equal(c.x[3 * 48], Math.fround(3 / 255 / 2));
    // A family without constants: computed from data, so the batch over all data has mean ≈ 0.
    const d = epoch(new DataLoader(toy(10), { batchSize: 10, rng: new Rng(0) }))[0];
    const mean = d.x.reduce((a, v) => a + v, 0) / d.x.length;
    assert.ok(Math.abs(mean) < 1e-5, `mean ${mean}`);
  });

  it('augmented values are input values or padding zeros (crop + flip)', () => {
    const ds = toy(16, 1, 2);
    const loader = new DataLoader(ds, { batchSize: 4, rng: new Rng(4), augment: { cropPadding: 2, flip: true }, normalize: false });
    let zeros = 0;
    for (const b of loader) {
      b.indices.forEach((i, k) => {
        for (let p = 0; p < 16; p++) {
          const v = b.x.data[k * 16 + p];
          assert.ok(v === 0 || v === Math.fround(i / 255), `sample ${i} pixel ${p} is ${v}`);
          if (v === 0 && i !== 0) zeros++;
        }
      });
    }
    assert.ok(zeros > 0, 'some crop should pad');
  });

  it('reuses its buffers unless copy is set', () => {
    const ds = toy(8);
    const reused = new DataLoader(ds, { batchSize: 4, rng: new Rng(1) });
    const [a, b] = Array.from(reused);
    assert.equal(a.x.data.buffer, b.x.data.buffer);
    assert.equal(a.labels.buffer, b.labels.buffer);
    const copied = new DataLoader(ds, { batchSize: 4, rng: new Rng(1), copy: true });
    const [c, d] = Array.from(copied);
    assert.notEqual(c.x.data.buffer, d.x.data.buffer);
    assert.deepEqual(Array.from(d.x.data), snapshot(b).x);
  });

  it('getState/setState mid-epoch and at an epoch boundary give the same next batches', () => {
    const ds = toy(30, 3, 10, 'cifar10');
    const opts = { batchSize: 7, augment: { cropPadding: 1, flip: true, cutout: { holes: 1, length: 2 } } };
    const a = new DataLoader(ds, { ...opts, rng: new Rng(9) });
    const it1 = a[Symbol.iterator]();
    it1.next();
    it1.next();
    const mid = JSON.parse(JSON.stringify(a.getState()));
    assert.equal(mid.batch, 2);
    const restOfEpoch = [];
    for (let r = it1.next(); !r.done; r = it1.next()) restOfEpoch.push(snapshot(r.value));
    const boundary = a.getState();
    assert.deepEqual([boundary.epoch, boundary.batch, boundary.epochSeed], [1, 0, null]);
    const nextEpoch = epoch(a);

    const b = new DataLoader(ds, { ...opts, rng: new Rng(12345) });
    b.setState(mid);
    assert.deepEqual(epoch(b), restOfEpoch);
    assert.deepEqual(epoch(b), nextEpoch);

    const c = new DataLoader(ds, { ...opts, rng: new Rng(0) });
    c.setState(boundary);
    assert.deepEqual(epoch(c), nextEpoch);
  });

  it('a state saved while holding the last batch resumes at the next epoch', () => {
    const ds = toy(10);
    const a = new DataLoader(ds, { batchSize: 5, rng: new Rng(3) });
    let saved = a.getState();
    for (const _ of a) saved = a.getState();
    const next = epoch(a);
    const b = new DataLoader(ds, { batchSize: 5, rng: new Rng(0) });
    b.setState(saved);
    assert.deepEqual(epoch(b), next);
  });

  it('rejects bad options and states', () => {
    assert.throws(() => new DataLoader(toy(4), { batchSize: 0, rng: new Rng(0) }), /batchSize/);
    assert.throws(() => new DataLoader(toy(4), { batchSize: 5, dropLast: true, rng: new Rng(0) }), /no batches/);
    const l = new DataLoader(toy(4), { batchSize: 2, rng: new Rng(0) });
    assert.throws(() => l.setState({ epoch: 0, batch: 1, epochSeed: null, rng: new Rng(0).getState() }), /epochSeed/);
    assert.throws(() => l.setState({ epoch: 0, batch: 9, epochSeed: 1, rng: new Rng(0).getState() }), /batch in/);
  });
});

describe('dataset helpers', () => {
  it('splitValidation: disjoint, complete, seeded, by fraction or count', () => {
    const ds = toy(100, 1, 7);
    const { train, validation } = splitValidation(ds, { fraction: 0.2, rng: new Rng(5) });
    assert.equal(validation.size, 20);
    assert.equal(train.size, 80);
    // Pixels identify samples (value = index), so recover the original indices.
    const ids = (d: Dataset) => Array.from({ length: d.size }, (_, k) => d.images[k * 16]);
    const all = [...ids(train), ...ids(validation)].sort((a, b) => a - b);
    assert.deepEqual(all, Array.from({ length: 100 }, (_, i) => i));
    assert.equal(new Set(ids(validation)).size, 20);
    for (const d of [train, validation]) ids(d).forEach((i, k) => assert.equal(d.labels[k], i % 7));
    const again = splitValidation(ds, { fraction: 0.2, rng: new Rng(5) });
    assert.deepEqual(ids(again.validation), ids(validation));
    assert.notDeepEqual(ids(splitValidation(ds, { fraction: 0.2, rng: new Rng(6) }).validation), ids(validation));
    assert.equal(splitValidation(ds, { count: 7, rng: new Rng(1) }).validation.size, 7);
    assert.equal(validation.split, 'train/val');
    assert.throws(() => splitValidation(ds, { rng: new Rng(1) }), /exactly one/);
    assert.throws(() => splitValidation(ds, { count: 100, rng: new Rng(1) }), /validation size/);
    assert.throws(() => splitValidation(ds, { fraction: 1.5, rng: new Rng(1) }), /fraction/);
  });

  it('fingerprint is stable, short, and changes with content', () => {
    const a = toy(10);
    assert.match(a.fingerprint(), /^[0-9a-f]{16}$/);
    assert.equal(a.fingerprint(), toy(10).fingerprint());
    const images = a.images.slice();
    images[3] ^= 1;
    assert.notEqual(createDataset({ ...a, images }).fingerprint(), a.fingerprint());
    const labels = a.labels.slice();
    labels[0] = 1;
    assert.notEqual(createDataset({ ...a, labels }).fingerprint(), a.fingerprint());
    assert.equal(subset(a, Int32Array.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9)).fingerprint(), a.fingerprint());
  });

  it('createDataset checks sizes and label range', () => {
    const base = { name: 't', split: 'train', classes: 2, channels: 1, height: 2, width: 2 };
    assert.throws(() => createDataset({ ...base, images: new Uint8Array(7), labels: new Int32Array(2) }), /need/);
    assert.throws(() => createDataset({ ...base, images: new Uint8Array(8), labels: Int32Array.of(0, 2) }), /label 1 is 2/);
  });
});
