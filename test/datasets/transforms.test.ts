import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import ndarray from 'ndarray';
import { Rng } from '../../base/rng.js';
import { createDataset } from '../../datasets/dataset.js';
import {
  computeNormalization, cropInto, cutout, horizontalFlip, imageView, normalizationTable, randomCrop,
  randomHorizontalFlip, standardNormalization, CIFAR10_NORMALIZATION, MNIST_NORMALIZATION,
} from '../../datasets/transforms.js';

/** A random [C, H, W] uint8 image (values 1..255 so that zeros are recognisable as written). */
const imageArb = fc
  .record({ c: fc.integer({ min: 1, max: 3 }), h: fc.integer({ min: 1, max: 9 }), w: fc.integer({ min: 1, max: 9 }), seed: fc.integer() })
  .map(({ c, h, w, seed }) => {
    const rng = new Rng(seed);
    const data = Uint8Array.from({ length: c * h * w }, () => 1 + rng.int(255));
    return { c, h, w, data };
  });

const view = (data: Uint8Array, c: number, h: number, w: number) => ndarray(data, [c, h, w]);

describe('augmentation on ndarray views', () => {
  it('flip twice is the identity; flip once mirrors x', () => {
    fc.assert(
      fc.property(imageArb, ({ c, h, w, data }) => {
        const copy = data.slice();
        const v = view(copy, c, h, w);
        horizontalFlip(v);
        for (let k = 0; k < c; k++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) assert.equal(v.get(k, y, x), data[(k * h + y) * w + (w - 1 - x)]);
        horizontalFlip(v);
        assert.deepEqual(copy, data);
      }),
      { seed: 11, numRuns: 100 },
    );
  });

  it('crop with zero offset is the identity; any crop takes values from the input or zero, shifted exactly', () => {
    fc.assert(
      fc.property(imageArb, fc.integer({ min: -5, max: 5 }), fc.integer({ min: -5, max: 5 }), ({ c, h, w, data }, dy, dx) => {
        const out = new Uint8Array(data.length).fill(77);
        cropInto(view(data, c, h, w), view(out, c, h, w), 0, 0);
        assert.deepEqual(out, data);
        cropInto(view(data, c, h, w), view(out, c, h, w), dy, dx);
        for (let k = 0; k < c; k++)
          for (let y = 0; y < h; y++)
            for (let x = 0; x < w; x++) {
              const yy = y + dy;
              const xx = x + dx;
              const want = yy >= 0 && yy < h && xx >= 0 && xx < w ? data[(k * h + yy) * w + xx] : 0;
              assert.equal(out[(k * h + y) * w + x], want);
            }
      }),
      { seed: 12, numRuns: 100 },
    );
  });

  it('randomCrop draws offsets in [-padding, padding], all of them over many draws', () => {
    const rng = new Rng(3);
    const src = view(new Uint8Array(3 * 4 * 4).fill(9), 3, 4, 4);
    const dst = view(new Uint8Array(3 * 4 * 4), 3, 4, 4);
    const seen = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const { dy, dx } = randomCrop(src, dst, 2, rng);
      assert.ok(Math.abs(dy) <= 2 && Math.abs(dx) <= 2);
      seen.add(`${dy},${dx}`);
    }
    assert.equal(seen.size, 25);
  });

  it('cutout zeroes at most holes·length² pixels per channel, only inside the clipped squares, nothing else changes', () => {
    fc.assert(
      fc.property(imageArb, fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 10 }), fc.integer(), ({ c, h, w, data }, holes, length, seed) => {
        const f = Float32Array.from(data);
        const v = ndarray(f, [c, h, w]);
        const centres = cutout(v, holes, length, new Rng(seed));
        assert.equal(centres.length, holes);
        const half = Math.floor(length / 2);
        const inHole = (y: number, x: number) => centres.some((p) => y >= p.y - half && y < p.y + half && x >= p.x - half && x < p.x + half);
        for (let k = 0; k < c; k++) {
          let zeros = 0;
          for (let y = 0; y < h; y++)
            for (let x = 0; x < w; x++) {
              const i = (k * h + y) * w + x;
              if (inHole(y, x)) {
                assert.equal(f[i], 0);
                zeros++;
              } else assert.equal(f[i], data[i]);
            }
          assert.ok(zeros <= holes * length * length);
        }
        for (const p of centres) assert.ok(p.y >= 0 && p.y < h && p.x >= 0 && p.x < w);
      }),
      { seed: 13, numRuns: 100 },
    );
  });

  it('works through strided views: a HWC buffer seen as CHW via transpose', () => {
    const h = 3;
    const w = 4;
    const hwc = Uint8Array.from({ length: h * w * 2 }, (_, i) => i + 1);
    const chw = ndarray(hwc, [h, w, 2]).transpose(2, 0, 1);
    const before = Array.from({ length: 2 * h * w }, (_, i) => chw.get(Math.floor(i / (h * w)), Math.floor(i / w) % h, i % w));
    horizontalFlip(chw);
    assert.equal(chw.get(1, 2, 0), before[1 * h * w + 2 * w + 3]);
    horizontalFlip(chw);
    const out = ndarray(new Uint8Array(2 * h * w), [2, h, w]);
    cropInto(chw, out, 0, 0);
    assert.deepEqual(Array.from(out.data), before);
  });

  it('same seed ⇒ same augmentation draws', () => {
    const run = (seed: number) => {
      const rng = new Rng(seed);
      const img = ndarray(Float32Array.from({ length: 3 * 8 * 8 }, (_, i) => i + 1), [3, 8, 8]);
      const dst = ndarray(new Float32Array(3 * 8 * 8), [3, 8, 8]);
      randomCrop(img, dst, 4, rng);
      randomHorizontalFlip(dst, rng);
      cutout(dst, 2, 4, rng);
      return Array.from(dst.data);
    };
    assert.deepEqual(run(5), run(5));
    assert.notDeepEqual(run(5), run(6));
  });

  it('imageView addresses sample i of a dataset', () => {
    const images = Uint8Array.from({ length: 2 * 3 * 2 * 2 }, (_, i) => i);
    const ds = createDataset({ name: 't', split: 'train', classes: 2, channels: 3, height: 2, width: 2, images, labels: Int32Array.of(0, 1) });
    assert.equal(imageView(ds, 1).get(2, 1, 0), 12 + 2 * 4 + 2);
  });
});

describe('normalisation', () => {
  it('standard constants by family name', () => {
    assert.equal(standardNormalization('mnist'), MNIST_NORMALIZATION);
    assert.deepEqual(MNIST_NORMALIZATION.mean, [0.1307]);
    assert.deepEqual(MNIST_NORMALIZATION.std, [0.3081]);
    assert.equal(standardNormalization('cifar10'), CIFAR10_NORMALIZATION);
    assert.equal(standardNormalization('cifar100-coarse')?.mean.length, 3);
    assert.equal(standardNormalization('toy'), null);
  });

  it('computeNormalization matches a direct two-pass computation per channel', () => {
    const rng = new Rng(1);
    const n = 5;
    const images = Uint8Array.from({ length: n * 2 * 3 * 3 }, () => rng.int(256));
    const ds = createDataset({ name: 't', split: 'train', classes: 1, channels: 2, height: 3, width: 3, images, labels: new Int32Array(n) });
    const { mean, std } = computeNormalization(ds);
    for (let c = 0; c < 2; c++) {
      const vals: number[] = [];
      for (let i = 0; i < n; i++) for (let p = 0; p < 9; p++) vals.push(images[(i * 2 + c) * 9 + p] / 255);
      const m = vals.reduce((a, b) => a + b, 0) / vals.length;
      const s = Math.sqrt(vals.reduce((a, b) => a + (b - m) ** 2, 0) / vals.length);
      assert.ok(Math.abs(mean[c] - m) < 1e-12 && Math.abs(std[c] - s) < 1e-12);
    }
  });

  it('normalizationTable maps v to (v/255 − mean)/std and rejects bad stats', () => {
    const lut = normalizationTable({ mean: [0.5, 0.25], std: [0.5, 2] }, 2);
    assert.equal(lut[255], Math.fround((1 - 0.5) / 0.5));
    assert.equal(lut[256 + 0], Math.fround(-0.125));
    assert.throws(() => normalizationTable({ mean: [0], std: [1] }, 3), /expected 3 per-channel/);
    assert.throws(() => normalizationTable({ mean: [0], std: [0] }, 1), /must be > 0/);
  });
});
