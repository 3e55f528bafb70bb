/**
 * The image-folder dataset on small generated folders: class mapping and listing, the ImageNet
 * transforms (shapes, the centre crop, crop boxes within torchvision's ranges, flips), determinism
 * by seed, exact resume, unreadable images (typed error naming the file, or skipped and counted),
 * header limits checked before decoding, and a loader that decodes one batch at a time.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import pngjs from 'pngjs';
import { Rng } from '../../base/rng.js';
import { DatasetError } from '../../datasets/dataset.js';
import { DataLoader, type Batch } from '../../datasets/loader.js';
import { ImageFolderDataset, loadImageFolder } from '../../datasets/imagefolder.js';
import { decodeImage, evalTransform, randomResizedCropBox, trainTransform, type RgbImage } from '../../datasets/images.js';
import { IMAGENET_NORMALIZATION } from '../../datasets/transforms.js';
import { splitValidation } from '../../datasets/dataset.js';
import { CLASS_COLORS, jpegBytes, pngBytes, put, writeImageFolder } from './imagefolder-fixtures.js';
import { tempDir } from './fixtures.js';

const snapshot = (b: Batch) => ({ x: Array.from(b.x.data), labels: Array.from(b.labels), indices: Array.from(b.indices), shape: [...b.x.shape] });

function solid(width: number, height: number, color: (x: number, y: number) => readonly [number, number, number]): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set(color(x, y), (y * width + x) * 3);
  return { width, height, data };
}

describe('image folder', () => {
  const t = tempDir();
  after(t.cleanup);
  const root = t.dir;
  writeImageFolder(root);
  const train = (side = 16, augment = true, extra: { skipBadImages?: boolean; root?: string } = {}) =>
    loadImageFolder({ root: extra.root ?? root, split: 'train', imageSize: side, augment, skipBadImages: extra.skipBadImages });

  it('classes are the sorted subfolder names; files sorted, nested ones included, non-images ignored', () => {
    const { dataset: ds, ignored } = train();
    assert.deepEqual(ds.classNames, ['ant', 'bee', 'cat']);
    assert.equal(ds.size, 12);
    assert.deepEqual(ds.files.slice(0, 4), ['ant/img0.jpg', 'ant/img1.png', 'ant/img2.jpg', 'ant/nested/img3.png']);
    assert.deepEqual(Array.from(ds.labels), [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    assert.deepEqual(ignored, [join(root, 'train', 'bee', 'README.txt')]);
    const val = loadImageFolder({ root, split: 'test', imageSize: 16, augment: false, classNames: ds.classNames }).dataset;
    assert.equal(val.split, 'val');
    assert.deepEqual(Array.from(val.labels), [0, 0, 1, 1, 2, 2]);
    assert.deepEqual(val.files.slice(0, 2), ['ant/v0.JPEG', 'ant/v1.png'], 'extensions are matched case-insensitively');
  });

  it('decoded samples carry their class colour through both transforms (JPEG and PNG)', () => {
    for (const augment of [true, false]) {
      const ds = train(16, augment).dataset;
      const out = new Uint8Array(3 * 16 * 16);
      for (let i = 0; i < ds.size; i++) {
        assert.equal(ds.readSample(i, out, new Rng(i)), true);
        const [r, g] = CLASS_COLORS[ds.labels[i]];
        // JPEG is lossy: each channel's mean within 8 levels of the class colour (red and green planes are flat).
        for (const [c, want] of [[0, r], [1, g]] as const) {
          const plane = out.subarray(c * 256, (c + 1) * 256);
          const mean = plane.reduce((a, v) => a + v, 0) / 256;
          assert.ok(Math.abs(mean - want) < 8, `${ds.files[i]} channel ${c}: mean ${mean}, class colour ${want}`);
        }
      }
    }
  });

  it('grey, 16-bit and RGBA PNGs decode to 8-bit RGB (alpha dropped, as PIL convert(RGB))', () => {
    const grey = new pngjs.PNG({ width: 2, height: 1, colorType: 0, inputColorType: 0, inputHasAlpha: false });
    grey.data = Buffer.from([10, 200]);
    const g = decodeImage(new Uint8Array(pngjs.PNG.sync.write(grey, { colorType: 0, inputColorType: 0, inputHasAlpha: false })), 'g.png');
    assert.deepEqual(Array.from(g.data), [10, 10, 10, 200, 200, 200]);
    const deep = new pngjs.PNG({ width: 2, height: 1, bitDepth: 16, colorType: 0, inputColorType: 0, inputHasAlpha: false });
    deep.data = Buffer.from(new Uint16Array([0, 65535]).buffer);
    const d = decodeImage(new Uint8Array(pngjs.PNG.sync.write(deep, { bitDepth: 16, colorType: 0, inputColorType: 0, inputHasAlpha: false })), 'd.png');
    assert.deepEqual(Array.from(d.data), [0, 0, 0, 255, 255, 255]);
    const rgba = new pngjs.PNG({ width: 1, height: 1 });
    rgba.data = Buffer.from([9, 99, 199, 0]);
    assert.deepEqual(Array.from(decodeImage(new Uint8Array(pngjs.PNG.sync.write(rgba)), 'a.png').data), [9, 99, 199]);
  });

  it('evaluation: shorter side to S·256/224, then the centre S×S crop', () => {
    // 96×48 at S = 16: resized to 36×18, crop columns [10, 26) ↔ source x ∈ [26.7, 69.3): all green.
    const img = solid(96, 48, (x) => (x < 24 ? [255, 0, 0] : x >= 72 ? [0, 0, 255] : [0, 255, 0]));
    const out = new Uint8Array(3 * 256);
    evalTransform(img, 16, out);
    assert.deepEqual([out[0], out[256], out[512]], [0, 255, 0]);
    assert.ok(out.subarray(0, 256).every((v) => v === 0) && out.subarray(256, 512).every((v) => v === 255) && out.subarray(512).every((v) => v === 0), 'only the centre is kept');
    // Portrait: 30×90 at S = 16 → 18×54, crop rows [19, 35) ↔ source y ∈ [31.7, 58.3).
    const tall = solid(30, 90, (_, y) => (y < 30 ? [255, 0, 0] : y >= 60 ? [0, 0, 255] : [0, 255, 0]));
    evalTransform(tall, 16, out);
    assert.ok(out.subarray(256, 512).every((v) => v === 255) && out.subarray(0, 256).every((v) => v === 0));
  });

  it('random resized crop: boxes inside the image with torchvision\'s area and ratio ranges; flips both ways', () => {
    const seed = Date.now() % 100000;
    console.log(`fast-check seed ${seed}`);
    fc.assert(fc.property(fc.integer({ min: 1, max: 600 }), fc.integer({ min: 1, max: 600 }), fc.integer(), (h, w, s) => {
      const rng = new Rng(s);
      const b = randomResizedCropBox(h, w, rng);
      assert.ok(b.top >= 0 && b.left >= 0 && b.height >= 1 && b.width >= 1 && b.top + b.height <= h && b.left + b.width <= w, JSON.stringify({ h, w, b }));
      const area = (b.height * b.width) / (h * w);
      const ratio = b.width / b.height;
      // Either a sampled box (area ≥ 8% up to rounding) or the fallback: the full side clamped to the ratio range.
      const sampled = area >= 0.08 - 2 * (b.height + b.width) / (h * w) && ratio >= (3 / 4) * (1 - 1 / b.height) - 1e-9 && ratio <= (4 / 3) * (1 + 1 / b.height) + 1e-9;
      const fallback = b.height === h || b.width === w;
      assert.ok(sampled || fallback, JSON.stringify({ h, w, b }));
    }), { seed, numRuns: 300 });
    // Left red, right blue: a flipped sample starts blue. Both outcomes appear, about half each.
    const img = solid(64, 64, (x) => (x < 32 ? [255, 0, 0] : [0, 0, 255]));
    const out = new Uint8Array(3 * 64);
    let flipped = 0;
    for (let s = 0; s < 200; s++) {
      const rng = new Rng(s);
      // Draws as trainTransform makes them: crop first; keep the crop full-width so the sides show.
      trainTransform(img, 8, rng, out);
      if (out[0] < out[7]) flipped++;
    }
    assert.ok(flipped > 60 && flipped < 140, `flipped ${flipped} of 200`);
  });

  it('loader: [B, 3, S, S] batches normalised with the ImageNet constants; same seed, same batches; resume continues exactly', () => {
    const ds = train(16).dataset;
    const mk = (seed: number) => new DataLoader(train(16).dataset, { batchSize: 5, rng: new Rng(seed) });
    const a = mk(3);
    assert.equal(a.normalization, IMAGENET_NORMALIZATION);
    const ea = Array.from(a, snapshot);
    assert.deepEqual(ea.map((b) => b.shape), [[5, 3, 16, 16], [5, 3, 16, 16], [2, 3, 16, 16]]);
    assert.deepEqual(Array.from(mk(3), snapshot), ea, 'same seed');
    assert.notDeepEqual(Array.from(mk(4), snapshot).map((b) => b.x), ea.map((b) => b.x), 'another seed');
    // Resume: a loader restored from the state after batch 1 yields batches 2..3 of the same epoch, then the next epoch.
    const ref = mk(5);
    const it1 = ref[Symbol.iterator]();
    it1.next();
    const state = JSON.parse(JSON.stringify(ref.getState()));
    const rest = Array.from({ [Symbol.iterator]: () => it1 }, snapshot);
    const next = Array.from(ref, snapshot);
    const resumed = new DataLoader(ds, { batchSize: 5, rng: new Rng(0) });
    resumed.setState(state);
    assert.deepEqual(Array.from(resumed, snapshot), rest);
    assert.deepEqual(Array.from(resumed, snapshot), next);
  });

  it('evaluation transform ignores the seed; a held-out validation part takes it', () => {
    const ev = (seed: number) => Array.from(new DataLoader(train(16, false).dataset, { batchSize: 4, shuffle: false, rng: new Rng(seed) }), snapshot);
    assert.deepEqual(ev(1), ev(2));
    const { train: tr, validation } = splitValidation(train(16).dataset, { count: 3, rng: new Rng(1) });
    assert.equal((tr as ImageFolderDataset).augment, true);
    assert.equal((validation as ImageFolderDataset).augment, false);
    assert.equal(tr.size + validation.size, 12);
  });

  it('memory stays bounded: the loader decodes the images of the batch it fills, nothing ahead, nothing cached', () => {
    const ds = train(16).dataset;
    const loader = new DataLoader(ds, { batchSize: 3, rng: new Rng(1) });
    const seen: number[] = [];
    for (const b of loader) seen.push(ds.decoded - b.size);
    assert.deepEqual(seen, [0, 3, 6, 9], 'before each batch, only the earlier batches were decoded');
    for (const _ of loader) { /* second epoch */ }
    assert.equal(ds.decoded, 24, 'a second epoch decodes again: nothing is cached');
  });

  it('a corrupt image is a typed error naming the file, or skipped and counted with skipBadImages', () => {
    const t2 = tempDir();
    try {
      writeImageFolder(t2.dir, 2);
      const bad = join(t2.dir, 'train', 'bee', 'img0.jpg');
      writeFileSync(bad, jpegBytes(40, 30, () => [1, 2, 3]).subarray(0, 300)); // cut inside the scan
      const strict = train(16, true, { root: t2.dir }).dataset;
      assert.throws(() => Array.from(new DataLoader(strict, { batchSize: 2, shuffle: false, rng: new Rng(1) })), (e: unknown) => e instanceof DatasetError && e.message.includes(bad), 'names the file');
      const lenient = train(16, true, { root: t2.dir, skipBadImages: true }).dataset;
      const batches = Array.from(new DataLoader(lenient, { batchSize: 2, shuffle: false, rng: new Rng(1) }), snapshot);
      assert.deepEqual(batches.map((b) => b.shape[0]), [2, 1, 2], 'the batch with the bad image is one smaller');
      assert.deepEqual(batches[1].indices, [3]);
      assert.deepEqual([...lenient.skipped], [bad]);
      // Not an image at all, under an image name.
      put(t2.dir, 'train/ant/fake.png', 'hello');
      assert.throws(() => decodeImage(new TextEncoder().encode('hello'), 'fake.png'), /fake\.png.*neither a JPEG nor a PNG/);
    } finally {
      t2.cleanup();
    }
  });

  it('header sizes are checked before decoding: a 60000×60000 PNG or JPEG is refused at once', () => {
    const png = pngBytes(2, 2, () => [0, 0, 0]);
    const v = new DataView(png.buffer, png.byteOffset);
    v.setUint32(16, 60000);
    v.setUint32(20, 60000);
    const t0 = performance.now();
    assert.throws(() => decodeImage(png, 'huge.png'), (e: unknown) => e instanceof DatasetError && /huge\.png.*60000×60000 pixels exceeds the limit/.test(e.message));
    const jpg = jpegBytes(8, 8, () => [0, 0, 0]);
    // SOF0 holds height then width, big-endian, 5 bytes after its marker.
    const sof = jpg.findIndex((b, i) => b === 0xff && jpg[i + 1] === 0xc0);
    jpg[sof + 5] = 0xea; jpg[sof + 6] = 0x60; jpg[sof + 7] = 0xea; jpg[sof + 8] = 0x60;
    assert.throws(() => decodeImage(jpg, 'huge.jpg'), /huge\.jpg.*60000×60000 pixels exceeds the limit/);
    assert.ok(performance.now() - t0 < 1000, 'nothing of that size was allocated');
  });

  it('layout errors name the folder: no val/, a val class unknown to train/, an empty training class', () => {
    const t3 = tempDir();
    try {
      put(t3.dir, 'train/a/x.png', pngBytes(4, 4, () => [0, 0, 0]));
      assert.throws(() => loadImageFolder({ root: t3.dir, split: 'test', imageSize: 8, augment: false }), (e: unknown) => e instanceof DatasetError && e.message.includes(join(t3.dir, 'val')));
      put(t3.dir, 'val/zebra/x.png', pngBytes(4, 4, () => [0, 0, 0]));
      assert.throws(() => loadImageFolder({ root: t3.dir, split: 'test', imageSize: 8, augment: false, classNames: ['a'] }), /zebra.*not classes of the training folder/);
      put(t3.dir, 'train/b/notes.txt', 'x');
      assert.throws(() => loadImageFolder({ root: t3.dir, split: 'train', imageSize: 8, augment: true }), (e: unknown) => e instanceof DatasetError && e.message.includes(join(t3.dir, 'train', 'b')));
    } finally {
      t3.cleanup();
    }
  });
});
