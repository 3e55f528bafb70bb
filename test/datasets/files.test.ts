/**
 * readMaybeGzip: a gzip file's declared size is checked before it is expanded, and the stream is
 * expanded with that size as a hard limit (a 7 MB bomb used to be expanded whole, to 3.2 GB, before
 * any size check). Memory is checked through what gunzip is allowed to produce, not timed.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { MAX_DATASET_FILE_BYTES, readMaybeGzip } from '../../datasets/files.js';
import { IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, loadMnist, readIdx } from '../../datasets/mnist.js';
import { loadCifar10 } from '../../datasets/cifar.js';
import { assertDatasetError, idxBytes, pattern, tempDir } from './fixtures.js';

describe('gzip inputs: declared size first, then a bounded expansion', () => {
  let tmp: ReturnType<typeof tempDir>;
  before(() => {
    tmp = tempDir();
  });
  after(() => tmp.cleanup());
  const put = (name: string, bytes: Uint8Array): string => {
    const p = join(tmp.dir, name);
    writeFileSync(p, bytes);
    return p;
  };

  it('an IDX stream longer than its header declares stops at the declared size', () => {
    // Header: 2 labels; the stream holds 1 MB more.
    const labels = idxBytes(IDX_LABELS_MAGIC, [2], Uint8Array.of(1, 2));
    const bomb = new Uint8Array(labels.length + (1 << 20));
    bomb.set(labels);
    const p = put('bomb-labels.gz', gzipSync(bomb));
    assertDatasetError(() => readIdx(p, IDX_LABELS_MAGIC), p, 'expands past the 10 bytes its header declares');
    assert.deepEqual([...readIdx(put('ok-labels.gz', gzipSync(labels)), IDX_LABELS_MAGIC).data], [1, 2]);
  });

  it('an IDX header declaring more than the limit is refused before expanding', () => {
    const head = idxBytes(IDX_IMAGES_MAGIC, [2 ** 21, 28, 28], new Uint8Array(0));
    const p = put('huge-images.gz', gzipSync(head));
    assertDatasetError(() => readIdx(p, IDX_IMAGES_MAGIC), p, `above the ${MAX_DATASET_FILE_BYTES}-byte limit`);
  });

  it('MNIST images must declare 28×28 and the labels\' count before they are expanded', () => {
    const dir = join(tmp.dir, 'mnist');
    mkdirSync(dir);
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), idxBytes(IDX_LABELS_MAGIC, [3], Uint8Array.of(0, 1, 2)));
    // The header claims 50 000 images (39 MB of zeros in a 40 KB stream).
    const n = 50_000;
    const imgs = new Uint8Array(16 + n * 784);
    imgs.set(idxBytes(IDX_IMAGES_MAGIC, [n, 28, 28], new Uint8Array(0)));
    writeFileSync(join(dir, 't10k-images-idx3-ubyte.gz'), gzipSync(imgs, { level: 1 }));
    const err = assertDatasetError(() => loadMnist({ dir, split: 'test' }), 'expected 50000 labels', 'found 3');
    assert.ok(!/expands/.test(err.message));
    writeFileSync(join(dir, 't10k-images-idx3-ubyte.gz'), gzipSync(idxBytes(IDX_IMAGES_MAGIC, [3, 28, 28], pattern(3, 784))));
    assert.equal(loadMnist({ dir, split: 'test' }).size, 3);
  });

  it('CIFAR: the gzip trailer is the declared size; it must be whole records, and the stream may not pass it', () => {
    const dir = join(tmp.dir, 'cifar');
    mkdirSync(dir);
    const records = new Uint8Array(40 * 3073);
    const gz = gzipSync(records);
    // Trailer lies low: 1 record declared, 40 (123 KB) in the stream; expansion stops past 3073 bytes.
    const low = Uint8Array.from(gz);
    new DataView(low.buffer).setUint32(low.length - 4, 3073, true);
    writeFileSync(join(dir, 'test_batch.bin.gz'), low);
    assertDatasetError(() => loadCifar10({ dir, split: 'test' }), 'test_batch.bin.gz', 'expands past the 3073 bytes its gzip trailer declares');
    // Trailer not a whole number of records: refused before expanding.
    const odd = Uint8Array.from(gz);
    new DataView(odd.buffer).setUint32(odd.length - 4, 3074, true);
    writeFileSync(join(dir, 'test_batch.bin.gz'), odd);
    assertDatasetError(() => loadCifar10({ dir, split: 'test' }), 'whole number of 3073-byte records', 'found 3074 bytes');
    // Trailer lies high: the stream ends short.
    const high = Uint8Array.from(gz);
    new DataView(high.buffer).setUint32(high.length - 4, 41 * 3073, true);
    writeFileSync(join(dir, 'test_batch.bin.gz'), high);
    assertDatasetError(() => loadCifar10({ dir, split: 'test' }), 'test_batch.bin.gz', 'gzip');
    writeFileSync(join(dir, 'test_batch.bin.gz'), gz);
    assert.equal(loadCifar10({ dir, split: 'test' }).size, 40);
  });

  it('a raw file above the limit, a folder, and a too-short gzip stream are DatasetErrors', () => {
    const p = put('raw.bin', new Uint8Array(100));
    assertDatasetError(() => readMaybeGzip(p, { maxBytes: 99 }), p, 'file is 100 bytes, above the 99-byte limit');
    assertDatasetError(() => readMaybeGzip(tmp.dir), 'is a folder');
    assertDatasetError(() => readMaybeGzip(put('short.gz', Uint8Array.of(0x1f, 0x8b, 8))), 'damaged');
  });
});
