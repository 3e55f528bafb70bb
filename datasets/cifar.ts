/**
 * CIFAR-10 and CIFAR-100 from the official *binary* version (not the Python pickles), read from
 * a user folder. CIFAR-10 records: 1 label byte + 3072 pixels; CIFAR-100 records: coarse label
 * byte + fine label byte + 3072 pixels. Pixels are the R plane, G plane, B plane, each 32×32
 * row-major — already the planar CHW layout of {@link Dataset}, so a record copies in one go.
 */
import { bytesOf } from '../base/fetch.js';
import { nodeServices } from '../base/platform.js';
import { createDataset, DatasetError, type Dataset } from './dataset.js';
import { findFile, readMaybeGzip } from './files.js';

/** Pixel bytes of one CIFAR image (3 × 32 × 32). */
export const CIFAR_IMAGE_BYTES = 3072;

/**
 * Most records one CIFAR file may hold (raw, or declared by its gzip trailer): 60 000, above the
 * 50 000 of CIFAR-100's train.bin, the largest official file (a CIFAR-10 batch holds 10 000).
 */
export const MAX_CIFAR_RECORDS = 60_000;

/** Options of {@link loadCifar10}. */
export interface Cifar10Options {
  /** Folder holding the batches, or their `cifar-10-batches-bin/` folder. */
  dir: string;
  split: 'train' | 'test';
}

/** Options of {@link loadCifar100}. */
export interface Cifar100Options {
  /** Folder holding `train.bin`/`test.bin`, or their `cifar-100-binary/` folder. */
  dir: string;
  split: 'train' | 'test';
  /** `fine` (100 classes, default) or `coarse` (20 superclasses). */
  labels?: 'fine' | 'coarse';
}

interface RecordLayout {
  /** Name and class count of each label byte before the pixels, in file order. */
  labelFields: ReadonlyArray<{ name: string; classes: number }>;
  /** Which label byte becomes the dataset's label. */
  labelOffset: number;
}

/** Reads and concatenates record files, validating record length and label range. */
/** Checks that a file of `bytes` bytes holds whole records of `layout`. */
function wholeRecords(layout: RecordLayout, path: string): (bytes: number) => void {
  const labelBytes = layout.labelFields.length;
  const recordBytes = labelBytes + CIFAR_IMAGE_BYTES;
  return (bytes) => {
    if (bytes === 0 || bytes % recordBytes !== 0) {
      const frac = bytes / recordBytes;
      throw new DatasetError(path, `expected a whole number of ${recordBytes}-byte records (${labelBytes} label byte${labelBytes > 1 ? 's' : ''} + ${CIFAR_IMAGE_BYTES} pixels), found ${bytes} bytes (${frac.toFixed(3)} records)`, 'The file is truncated, or it is not the binary version (the Python pickle version is not accepted)');
    }
  };
}

function readRecords(paths: readonly string[], layout: RecordLayout): { images: Uint8Array; labels: Int32Array } {
  const recordBytes = layout.labelFields.length + CIFAR_IMAGE_BYTES;
  // The size (a gzip file's declared size) is checked before anything is expanded.
  return decodeRecords(paths.map((p) => ({ path: p, bytes: readMaybeGzip(p, { maxBytes: MAX_CIFAR_RECORDS * recordBytes, check: wholeRecords(layout, p) }) })), layout);
}

/** The images and labels of the records in `files` (each checked whole, every label byte in range). */
function decodeRecords(files: ReadonlyArray<{ path: string; bytes: Uint8Array }>, layout: RecordLayout): { images: Uint8Array; labels: Int32Array } {
  const labelBytes = layout.labelFields.length;
  const recordBytes = labelBytes + CIFAR_IMAGE_BYTES;
  let total = 0;
  for (const { path, bytes } of files) {
    wholeRecords(layout, path)(bytes.length);
    total += bytes.length / recordBytes;
  }
  if (total > MAX_CIFAR_RECORDS * files.length) throw new DatasetError(files[0].path, `${total} records, more than the ${MAX_CIFAR_RECORDS} per file a CIFAR file holds`);
  let images: Uint8Array;
  try {
    images = new Uint8Array(total * CIFAR_IMAGE_BYTES);
  } catch (e) {
    throw new DatasetError(files[0].path, `${total} images (${total * CIFAR_IMAGE_BYTES} bytes) cannot be held in memory: ${(e as Error).message}`);
  }
  const labels = new Int32Array(total);
  let k = 0;
  for (const { path, bytes } of files) {
    const n = bytes.length / recordBytes;
    for (let r = 0; r < n; r++, k++) {
      const at = r * recordBytes;
      // Both CIFAR-100 label bytes are checked, whichever is used: a bad one means a corrupt record.
      for (let b = 0; b < labelBytes; b++) {
        const { name, classes } = layout.labelFields[b];
        if (bytes[at + b] >= classes) {
          throw new DatasetError(path, `record ${r}: ${name} out of range: expected 0..${classes - 1}, found ${bytes[at + b]}`);
        }
      }
      labels[k] = bytes[at + layout.labelOffset];
      images.set(bytes.subarray(at + labelBytes, at + recordBytes), k * CIFAR_IMAGE_BYTES);
    }
  }
  return { images, labels };
}

/** Finds every named file under `dir` or `dir/sub`, or throws a DatasetError naming what is needed. */
function locateAll(dir: string, sub: string, names: readonly string[], family: string, needed: string): string[] {
  if (typeof dir !== 'string' || dir.length === 0) {
    throw new DatasetError(family, `no data folder given: ${family} is not bundled`, `Pass --data DIR with ${needed} (binary version; ec2t never downloads data)`);
  }
  const { join } = nodeServices(dir).path;
  const dirs = [dir, join(dir, sub)];
  return names.map((name) => {
    const p = findFile(dirs, [name]);
    if (p === null) {
      throw new DatasetError(join(dir, name), `missing ${family} file: expected ${name} in ${dirs.join(' or ')}, found none`, `${family} needs ${needed} (binary version, raw or .gz); pass --data DIR pointing to the folder that holds them (ec2t never downloads data)`);
    }
    return p;
  });
}

/**
 * Loads a CIFAR-10 split from the binary batches: `[N, 3, 32, 32]`, 10 classes.
 * @example const test = loadCifar10({ dir: '/data', split: 'test' }); test.size // 10000
 */
const CIFAR10_LAYOUT: RecordLayout = { labelFields: [{ name: 'label', classes: 10 }], labelOffset: 0 };
function cifar100Layout(kind: 'fine' | 'coarse'): RecordLayout {
  return { labelFields: [{ name: 'coarse label', classes: 20 }, { name: 'fine label', classes: 100 }], labelOffset: kind === 'fine' ? 1 : 0 };
}

export function loadCifar10(opts: Cifar10Options): Dataset {
  const names = opts.split === 'train' ? [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`) : ['test_batch.bin'];
  const paths = locateAll(opts.dir, 'cifar-10-batches-bin', names, 'CIFAR-10', 'data_batch_1.bin … data_batch_5.bin and test_batch.bin');
  const { images, labels } = readRecords(paths, CIFAR10_LAYOUT);
  return createDataset({ name: 'cifar10', split: opts.split, classes: 10, channels: 3, height: 32, width: 32, images, labels });
}

/**
 * A CIFAR-10 split from the bytes of its binary batch files (uncompressed; the five
 * `data_batch_N.bin` in order for `train`, `test_batch.bin` for `test`), in any environment. Same
 * checks as {@link loadCifar10}; errors name the batch (`<CIFAR-10 batch 2>`).
 * @example const test = cifar10FromBytes([await (await fetch('test_batch.bin')).arrayBuffer()], 'test');
 */
export function cifar10FromBytes(batches: ReadonlyArray<Uint8Array | ArrayBuffer>, split: 'train' | 'test'): Dataset {
  if (batches.length === 0) throw new DatasetError('CIFAR-10', 'no batch given');
  const { images, labels } = decodeRecords(batches.map((b, i) => ({ path: `<CIFAR-10 batch ${i + 1}>`, bytes: bytesOf(b) })), CIFAR10_LAYOUT);
  return createDataset({ name: 'cifar10', split, classes: 10, channels: 3, height: 32, width: 32, images, labels });
}

/**
 * A CIFAR-100 split from the bytes of its binary file (`train.bin` or `test.bin`, uncompressed),
 * in any environment, with `fine` (100) or `coarse` (20) labels. Same checks as {@link loadCifar100}.
 * @example const test = cifar100FromBytes(await (await fetch('test.bin')).arrayBuffer(), 'test');
 */
export function cifar100FromBytes(bytes: Uint8Array | ArrayBuffer, split: 'train' | 'test', kind: 'fine' | 'coarse' = 'fine'): Dataset {
  if (kind !== 'fine' && kind !== 'coarse') throw new DatasetError('<CIFAR-100>', `unknown labels option '${String(kind)}', expected 'fine' or 'coarse'`);
  const { images, labels } = decodeRecords([{ path: '<CIFAR-100>', bytes: bytesOf(bytes) }], cifar100Layout(kind));
  return createDataset({ name: kind === 'fine' ? 'cifar100' : 'cifar100-coarse', split, classes: kind === 'fine' ? 100 : 20, channels: 3, height: 32, width: 32, images, labels });
}

/**
 * Loads a CIFAR-100 split from `train.bin`/`test.bin`: `[N, 3, 32, 32]`, 100 fine or 20 coarse classes.
 * @example const train = loadCifar100({ dir: '/data', split: 'train', labels: 'coarse' }); train.classes // 20
 */
export function loadCifar100(opts: Cifar100Options): Dataset {
  const kind = opts.labels ?? 'fine';
  if (kind !== 'fine' && kind !== 'coarse') throw new DatasetError(opts.dir, `unknown labels option '${String(kind)}', expected 'fine' or 'coarse'`);
  const [path] = locateAll(opts.dir, 'cifar-100-binary', [`${opts.split === 'train' ? 'train' : 'test'}.bin`], 'CIFAR-100', 'train.bin and test.bin');
  const classes = kind === 'fine' ? 100 : 20;
  const { images, labels } = readRecords([path], cifar100Layout(kind));
  return createDataset({ name: kind === 'fine' ? 'cifar100' : 'cifar100-coarse', split: opts.split, classes, channels: 3, height: 32, width: 32, images, labels });
}
