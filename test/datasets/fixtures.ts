/**
 * Small dataset files written in the official formats (IDX for MNIST, the CIFAR binary
 * records) into temp folders, so loaders and their error paths are tested without real CIFAR.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DatasetError } from '../../datasets/dataset.js';
import { FormatError } from '../../base/errors.js';

/** A fresh temp folder; `cleanup` removes it. */
export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'ec2t-ds-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Big-endian IDX bytes: magic, dims, payload. */
export function idxBytes(magic: number, dims: readonly number[], payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + payload.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, magic, false);
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
  out.set(payload, 4 + 4 * dims.length);
  return out;
}

/** Deterministic pixel pattern: sample i, pixel p → (i·31 + p·7) mod 256. */
export function pattern(n: number, sample: number): Uint8Array {
  const out = new Uint8Array(n * sample);
  for (let i = 0; i < n; i++) for (let p = 0; p < sample; p++) out[i * sample + p] = (i * 31 + p * 7) & 0xff;
  return out;
}

/** Writes a synthetic MNIST split (`prefix` train or t10k) with labels i mod 10; returns pixels and labels. */
export function writeMnist(dir: string, prefix: 'train' | 't10k', n: number, gz = false): { pixels: Uint8Array; labels: Uint8Array } {
  const pixels = pattern(n, 784);
  const labels = Uint8Array.from({ length: n }, (_, i) => (i * 3 + 1) % 10);
  const write = (name: string, bytes: Uint8Array) => writeFileSync(join(dir, gz ? `${name}.gz` : name), gz ? gzipSync(bytes) : bytes);
  write(`${prefix}-images-idx3-ubyte`, idxBytes(0x803, [n, 28, 28], pixels));
  write(`${prefix}-labels-idx1-ubyte`, idxBytes(0x801, [n], labels));
  return { pixels, labels };
}

/** CIFAR records: `labelBytes[i]` (1 or 2 bytes) then 3072 pixels from {@link pattern}. */
export function cifarRecords(labelBytes: ReadonlyArray<readonly number[]>, seedOffset = 0): { bytes: Uint8Array; pixels: Uint8Array } {
  const n = labelBytes.length;
  const lb = n > 0 ? labelBytes[0].length : 1;
  const pixels = pattern(n + seedOffset, 3072).subarray(seedOffset * 3072);
  const rec = lb + 3072;
  const bytes = new Uint8Array(n * rec);
  for (let i = 0; i < n; i++) {
    bytes.set(labelBytes[i], i * rec);
    bytes.set(pixels.subarray(i * 3072, (i + 1) * 3072), i * rec + lb);
  }
  return { bytes, pixels: pixels.slice() };
}

/** Writes a complete synthetic CIFAR-10 folder (`perBatch` records per file); returns all train and test pixels/labels. */
export function writeCifar10(dir: string, perBatch: number): { train: { pixels: Uint8Array; labels: number[] }; test: { pixels: Uint8Array; labels: number[] } } {
  mkdirSync(dir, { recursive: true });
  const trainPixels: Uint8Array[] = [];
  const trainLabels: number[] = [];
  for (let b = 1; b <= 5; b++) {
    const labels = Array.from({ length: perBatch }, (_, i) => (b + i) % 10);
    const { bytes, pixels } = cifarRecords(labels.map((l) => [l]), b * perBatch);
    writeFileSync(join(dir, `data_batch_${b}.bin`), bytes);
    trainPixels.push(pixels);
    trainLabels.push(...labels);
  }
  const testLabels = Array.from({ length: perBatch }, (_, i) => (7 * i) % 10);
  const t = cifarRecords(testLabels.map((l) => [l]));
  writeFileSync(join(dir, 'test_batch.bin'), t.bytes);
  const all = new Uint8Array(trainPixels.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of trainPixels) {
    all.set(p, at);
    at += p.length;
  }
  return { train: { pixels: all, labels: trainLabels }, test: { pixels: t.pixels, labels: testLabels } };
}

/** Asserts that `fn` throws a DatasetError (a FormatError) whose message contains every fragment. */
export function assertDatasetError(fn: () => unknown, ...fragments: Array<string | RegExp>): DatasetError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof DatasetError, `expected a DatasetError, got ${String(caught)}`);
  assert.ok(caught instanceof FormatError);
  for (const f of fragments) {
    if (typeof f === 'string') assert.ok(caught.message.includes(f), `message ${JSON.stringify(caught.message)} lacks ${JSON.stringify(f)}`);
    else assert.match(caught.message, f);
  }
  return caught;
}
