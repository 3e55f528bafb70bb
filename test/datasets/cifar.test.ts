import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { loadCifar10, loadCifar100 } from '../../datasets/cifar.js';
import { loadDataset } from '../../datasets/index.js';
import { assertDatasetError, cifarRecords, tempDir, writeCifar10 } from './fixtures.js';

describe('CIFAR-10 binary', () => {
  let tmp: ReturnType<typeof tempDir>;
  before(() => {
    tmp = tempDir();
  });
  after(() => tmp.cleanup());

  it('concatenates the five train batches in order; test_batch for test', () => {
    const dir = join(tmp.dir, 'c10');
    const want = writeCifar10(dir, 3);
    const train = loadCifar10({ dir, split: 'train' });
    assert.deepEqual([train.size, train.channels, train.height, train.width, train.classes], [15, 3, 32, 32, 10]);
    assert.equal(train.name, 'cifar10');
    assert.deepEqual(Array.from(train.labels), want.train.labels);
    assert.deepEqual(Array.from(train.images), Array.from(want.train.pixels));
    const test = loadCifar10({ dir, split: 'test' });
    assert.deepEqual(Array.from(test.labels), want.test.labels);
    assert.deepEqual(Array.from(test.images), Array.from(want.test.pixels));
  });

  it('keeps the planar R, G, B layout: record byte 1 + c·1024 + y·32 + x is pixel (c, y, x)', () => {
    const dir = join(tmp.dir, 'planes');
    mkdirSync(dir);
    const rec = new Uint8Array(3073);
    rec[0] = 4;
    rec[1 + 0 * 1024 + 0] = 200; // R at (0, 0)
    rec[1 + 1 * 1024 + 5 * 32 + 7] = 100; // G at (5, 7)
    rec[1 + 2 * 1024 + 31 * 32 + 31] = 50; // B at (31, 31)
    writeFileSync(join(dir, 'test_batch.bin'), rec);
    const ds = loadCifar10({ dir, split: 'test' });
    assert.equal(ds.labels[0], 4);
    assert.equal(ds.images[0], 200);
    assert.equal(ds.images[1024 + 5 * 32 + 7], 100);
    assert.equal(ds.images[2048 + 31 * 32 + 31], 50);
  });

  it('accepts the cifar-10-batches-bin/ folder inside DIR and gzipped batches', () => {
    const dir = join(tmp.dir, 'nested');
    writeCifar10(join(dir, 'cifar-10-batches-bin'), 2);
    const test = loadDataset({ name: 'cifar10', split: 'test', dir });
    assert.equal(test.size, 2);
    const gzDir = join(tmp.dir, 'gz');
    mkdirSync(gzDir);
    const { bytes } = cifarRecords([[1], [2], [3]]);
    writeFileSync(join(gzDir, 'test_batch.bin.gz'), gzipSync(bytes));
    assert.deepEqual(Array.from(loadCifar10({ dir: gzDir, split: 'test' }).labels), [1, 2, 3]);
  });

  it('missing batch: names the file, lists the needed files and --data', () => {
    const dir = join(tmp.dir, 'partial');
    writeCifar10(dir, 1);
    rmSync(join(dir, 'data_batch_4.bin'));
    assertDatasetError(() => loadCifar10({ dir, split: 'train' }), 'data_batch_4.bin', 'missing CIFAR-10 file', 'data_batch_1.bin … data_batch_5.bin', '--data DIR');
    assertDatasetError(() => loadDataset({ name: 'cifar10', split: 'test' }), 'no data folder', '--data DIR');
  });

  it('wrong record length: names the file, the record size and the byte count', () => {
    const dir = join(tmp.dir, 'short');
    mkdirSync(dir);
    const { bytes } = cifarRecords([[1], [2]]);
    writeFileSync(join(dir, 'test_batch.bin'), bytes.subarray(0, bytes.length - 100));
    assertDatasetError(() => loadCifar10({ dir, split: 'test' }), 'test_batch.bin', '3073-byte records', `found ${2 * 3073 - 100} bytes`);
    writeFileSync(join(dir, 'test_batch.bin'), new Uint8Array(0));
    assertDatasetError(() => loadCifar10({ dir, split: 'test' }), 'test_batch.bin', 'found 0 bytes');
  });

  it('label out of range: names the file and the record', () => {
    const dir = join(tmp.dir, 'badlabel');
    mkdirSync(dir);
    writeFileSync(join(dir, 'test_batch.bin'), cifarRecords([[1], [10], [3]]).bytes);
    assertDatasetError(() => loadCifar10({ dir, split: 'test' }), 'test_batch.bin', 'record 1', 'expected 0..9', 'found 10');
  });

  it('a CIFAR-100 file given as CIFAR-10 fails on record length', () => {
    const dir = join(tmp.dir, 'mixed');
    mkdirSync(dir);
    writeFileSync(join(dir, 'test_batch.bin'), cifarRecords([[1, 2], [3, 4], [5, 6]]).bytes);
    assertDatasetError(() => loadCifar10({ dir, split: 'test' }), 'test_batch.bin', '3073-byte records');
  });
});

describe('CIFAR-100 binary', () => {
  let tmp: ReturnType<typeof tempDir>;
  let dir: string;
  const trainLabels = [[3, 17], [19, 99], [0, 0], [7, 42]];
  before(() => {
    tmp = tempDir();
    dir = join(tmp.dir, 'cifar-100-binary');
    mkdirSync(dir);
    writeFileSync(join(dir, 'train.bin'), cifarRecords(trainLabels).bytes);
    writeFileSync(join(dir, 'test.bin'), cifarRecords([[1, 2]]).bytes);
  });
  after(() => tmp.cleanup());

  it('fine labels by default (100 classes), coarse on request (20), from DIR/cifar-100-binary', () => {
    const fine = loadCifar100({ dir: tmp.dir, split: 'train' });
    assert.deepEqual([fine.classes, fine.size, fine.name], [100, 4, 'cifar100']);
    assert.deepEqual(Array.from(fine.labels), [17, 99, 0, 42]);
    const coarse = loadCifar100({ dir: tmp.dir, split: 'train', labels: 'coarse' });
    assert.deepEqual([coarse.classes, coarse.name], [20, 'cifar100-coarse']);
    assert.deepEqual(Array.from(coarse.labels), [3, 19, 0, 7]);
    assert.deepEqual(Array.from(coarse.images), Array.from(fine.images));
    assert.deepEqual(Array.from(fine.images), Array.from(cifarRecords(trainLabels).pixels));
    assert.equal(loadCifar100({ dir, split: 'test' }).size, 1);
  });

  it('corrupt files: record length, coarse label ≥ 20, fine label ≥ 100, missing file', () => {
    const bad = join(tmp.dir, 'bad');
    mkdirSync(bad);
    writeFileSync(join(bad, 'train.bin'), cifarRecords([[1], [2]]).bytes); // CIFAR-10 records
    assertDatasetError(() => loadCifar100({ dir: bad, split: 'train' }), 'train.bin', '3074-byte records', '2 label bytes');
    writeFileSync(join(bad, 'train.bin'), cifarRecords([[1, 2], [20, 5]]).bytes);
    assertDatasetError(() => loadCifar100({ dir: bad, split: 'train', labels: 'fine' }), 'train.bin', 'record 1', 'coarse label', 'expected 0..19', 'found 20');
    writeFileSync(join(bad, 'train.bin'), cifarRecords([[1, 100]]).bytes);
    assertDatasetError(() => loadCifar100({ dir: bad, split: 'train', labels: 'coarse' }), 'train.bin', 'fine label', 'expected 0..99', 'found 100');
    assertDatasetError(() => loadCifar100({ dir: bad, split: 'test' }), 'test.bin', 'missing CIFAR-100 file', 'train.bin and test.bin', '--data DIR');
  });
});
