/**
 * Datasets from bytes (every environment): MNIST from its two IDX files' bytes and CIFAR-10/100
 * from their batch files' bytes give the same datasets (pixels, labels, fingerprint) as the folder
 * loaders, under the browser platform too; hostile or mistaken bytes are DatasetErrors naming the
 * input, a gzip file included.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, test } from 'node:test';
import { setPlatform } from '../../base/platform.js';
import { platform as browserPlatform } from '../../base/platform-browser.js';
import { cifar100FromBytes, cifar10FromBytes, loadCifar10, loadCifar100 } from '../../datasets/cifar.js';
import { loadMnist, mnistFromBytes } from '../../datasets/mnist.js';
import type { Dataset } from '../../datasets/dataset.js';
import { assertDatasetError, cifarRecords, idxBytes, pattern, tempDir, writeCifar10, writeMnist } from './fixtures.js';

function sameDataset(a: Dataset, b: Dataset): void {
  assert.equal(a.name, b.name);
  assert.equal(a.split, b.split);
  assert.equal(a.classes, b.classes);
  assert.deepEqual([a.channels, a.height, a.width], [b.channels, b.height, b.width]);
  assert.deepEqual(a.labels, b.labels);
  assert.deepEqual(Uint8Array.from(a.images), Uint8Array.from(b.images)); // a file read gives a Buffer, bytes a Uint8Array
  assert.equal(a.fingerprint(), b.fingerprint());
}

function inBrowser<T>(fn: () => T): T {
  setPlatform(browserPlatform);
  try {
    return fn();
  } finally {
    setPlatform(undefined);
  }
}

describe('datasets from bytes', () => {
  test('MNIST from the IDX bytes equals the folder loader, in Node and under the browser platform', () => {
    const { dir, cleanup } = tempDir();
    try {
      writeMnist(dir, 't10k', 12);
      const fromFolder = loadMnist({ split: 'test', dir });
      const images = readFileSync(join(dir, 't10k-images-idx3-ubyte'));
      const labels = readFileSync(join(dir, 't10k-labels-idx1-ubyte'));
      sameDataset(mnistFromBytes(images, labels, 'test'), fromFolder);
      sameDataset(inBrowser(() => mnistFromBytes(new Uint8Array(images).buffer, new Uint8Array(labels).buffer, 'test')), fromFolder);
      assert.throws(() => inBrowser(() => loadMnist({ split: 'test', dir })), /needs Node's file system/);
    } finally {
      cleanup();
    }
  });

  test('MNIST bytes that are wrong are DatasetErrors naming the input', () => {
    const images = idxBytes(0x803, [3, 28, 28], pattern(3, 784));
    const labels = idxBytes(0x801, [3], Uint8Array.of(1, 2, 3));
    const names = { images: 'imgs', labels: 'labs' };
    assertDatasetError(() => mnistFromBytes(labels, images, 'test', names), 'labs', 'wrong IDX magic');
    assertDatasetError(() => mnistFromBytes(images.subarray(0, images.length - 1), labels, 'test', names), 'imgs', 'truncated');
    assertDatasetError(() => mnistFromBytes(images, idxBytes(0x801, [2], Uint8Array.of(1, 2)), 'test', names), 'labs', 'label count does not match');
    assertDatasetError(() => mnistFromBytes(images, idxBytes(0x801, [3], Uint8Array.of(1, 12, 3)), 'test', names), 'labs', 'label 1 out of range');
    assertDatasetError(() => mnistFromBytes(idxBytes(0x803, [1, 32, 32], pattern(1, 1024)), idxBytes(0x801, [1], Uint8Array.of(0)), 'test', names), 'imgs', '28×28');
    assertDatasetError(() => mnistFromBytes(gzipSync(images), labels, 'train', names), 'imgs', 'gzip-compressed', 'DecompressionStream');
  });

  test('CIFAR-10 and CIFAR-100 from the batch bytes equal the folder loaders', () => {
    const { dir, cleanup } = tempDir();
    try {
      writeCifar10(dir, 4);
      const batches = [1, 2, 3, 4, 5].map((b) => readFileSync(join(dir, `data_batch_${b}.bin`)));
      sameDataset(cifar10FromBytes(batches, 'train'), loadCifar10({ dir, split: 'train' }));
      sameDataset(inBrowser(() => cifar10FromBytes([new Uint8Array(readFileSync(join(dir, 'test_batch.bin'))).buffer], 'test')), loadCifar10({ dir, split: 'test' }));
      const { bytes } = cifarRecords([[3, 61], [19, 99], [0, 0]]);
      writeFileSync(join(dir, 'test.bin'), bytes);
      for (const kind of ['fine', 'coarse'] as const) sameDataset(cifar100FromBytes(bytes, 'test', kind), loadCifar100({ dir, split: 'test', labels: kind }));
    } finally {
      cleanup();
    }
  });

  test('CIFAR bytes that are wrong are DatasetErrors naming the batch', () => {
    const { bytes } = cifarRecords([[1], [2]]);
    assertDatasetError(() => cifar10FromBytes([bytes, bytes.subarray(0, 3000)], 'train'), '<CIFAR-10 batch 2>', 'whole number of 3073-byte records');
    const bad = bytes.slice();
    bad[3073] = 10;
    assertDatasetError(() => cifar10FromBytes([bad], 'test'), '<CIFAR-10 batch 1>', 'record 1: label out of range');
    assertDatasetError(() => cifar100FromBytes(cifarRecords([[20, 5]]).bytes, 'test'), '<CIFAR-100>', 'coarse label out of range');
    assertDatasetError(() => cifar10FromBytes([], 'test'), 'no batch given');
  });
});
