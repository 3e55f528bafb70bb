/**
 * The image-folder dataset (torchvision's `ImageFolder` layout): `ROOT/train/CLASS/…/IMAGE` and
 * `ROOT/val/CLASS/…/IMAGE`, JPEG or PNG, classes = the sorted subfolder names of `train/`. Only the
 * file list and labels are held; the loader decodes the images of one batch at a time, so memory
 * stays bounded whatever the folder's size. Node only (it reads a folder; platform layer).
 */
import { ValueError } from '../base/errors.js';
import { nodeServices, platform } from '../base/platform.js';
import type { Rng } from '../base/rng.js';
import { DatasetError, type StreamingDataset } from './dataset.js';
import { MAX_IMAGE_FILE_BYTES, decodeImage, evalTransform, trainTransform } from './images.js';

/** File extensions read (case-insensitive); other files are counted as ignored. */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png'] as const;

/** Options of {@link loadImageFolder}. */
export interface ImageFolderOptions {
  /** The folder holding `train/` and `val/`. */
  root: string;
  /** `train` reads `root/train`, `test` reads `root/val`. */
  split: 'train' | 'test';
  /** Side S of the square samples (224 for ImageNet). */
  imageSize: number;
  /** Random resized crop + flip (the training transform); false: resize + center crop. */
  augment: boolean;
  /** Class names to map folders onto (the training folder's, for `val/`); default: this folder's own. */
  classNames?: readonly string[];
  /** Skip unreadable images (counted in {@link ImageFolderDataset.skipped}) instead of throwing. */
  skipBadImages?: boolean;
}

/** Every image file under `dir` (depth first, names sorted), relative to `base`. */
function walk(dir: string, rel: string, files: string[], ignored: string[]): void {
  const { fs, path: paths } = nodeServices(dir);
  const entries = fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const r = rel === '' ? e.name : `${rel}/${e.name}`;
    let isDir = e.isDirectory();
    let isFile = e.isFile();
    if (e.isSymbolicLink()) {
      // Followed, as torchvision's os.walk(followlinks=True) does.
      const st = fs.statSync(paths.join(dir, e.name), { throwIfNoEntry: false });
      isDir = st?.isDirectory() ?? false;
      isFile = st?.isFile() ?? false;
    }
    if (isDir) walk(paths.join(dir, e.name), r, files, ignored);
    else if (isFile) {
      const lower = e.name.toLowerCase();
      if (IMAGE_EXTENSIONS.some((x) => lower.endsWith(x))) files.push(r);
      else ignored.push(r);
    }
  }
}

/**
 * A streamed image-folder split. `readSample` decodes one file and applies the split's transform;
 * {@link decoded} counts decodes (the loader decodes only the samples of the batch it fills).
 */
export class ImageFolderDataset implements StreamingDataset {
  readonly streaming = true as const;
  readonly name = 'imagefolder';
  readonly channels = 3;
  readonly size: number;
  readonly classes: number;
  readonly height: number;
  readonly width: number;
  /** Images decoded so far (by this dataset and its subsets). */
  get decoded(): number {
    return this.counters.decoded;
  }
  /** Files skipped as unreadable so far (with `skipBadImages`), by this dataset and its subsets. */
  get skipped(): ReadonlySet<string> {
    return this.counters.skipped;
  }
  private fingerprintCache: string | null = null;

  /**
   * @param dir the split's folder (`root/train`)
   * @param files image paths relative to `dir`, one per sample
   * @param labels class index per sample
   * @param classNames the class folder names, index = label
   */
  constructor(
    readonly split: string,
    readonly dir: string,
    readonly files: readonly string[],
    readonly labels: Int32Array,
    readonly classNames: readonly string[],
    readonly imageSize: number,
    readonly augment: boolean,
    readonly skipBadImages: boolean,
    private readonly counters: { decoded: number; skipped: Set<string> } = { decoded: 0, skipped: new Set() },
  ) {
    if (!Number.isInteger(imageSize) || imageSize < 1) throw new ValueError('ImageFolderDataset', `imageSize must be a positive integer, got ${imageSize}`);
    if (files.length !== labels.length) throw new ValueError('ImageFolderDataset', `${files.length} files but ${labels.length} labels`);
    this.size = files.length;
    this.classes = classNames.length;
    this.height = imageSize;
    this.width = imageSize;
  }

  /** Reads, decodes and transforms sample `index` into `out` (`3·S·S` bytes). */
  readSample(index: number, out: Uint8Array, rng: Rng): boolean {
    const paths = nodeServices(this.dir).path;
    const path = paths.join(this.dir, this.files[index]);
    try {
      const img = decodeImage(readImageFile(path), path);
      this.counters.decoded++;
      if (this.augment) trainTransform(img, this.imageSize, rng, out);
      else evalTransform(img, this.imageSize, out);
      return true;
    } catch (e) {
      if (this.skipBadImages && e instanceof DatasetError) {
        this.counters.skipped.add(path);
        return false;
      }
      throw e;
    }
  }

  subset(indices: ArrayLike<number>, split: string, evaluation = false): ImageFolderDataset {
    const files: string[] = [];
    const labels = new Int32Array(indices.length);
    for (let k = 0; k < indices.length; k++) {
      const i = indices[k];
      if (!Number.isInteger(i) || i < 0 || i >= this.size) throw new ValueError('subset', `index ${i} at position ${k} is outside [0, ${this.size})`);
      files.push(this.files[i]);
      labels[k] = this.labels[i];
    }
    return new ImageFolderDataset(split, this.dir, files, labels, this.classNames, this.imageSize, this.augment && !evaluation, this.skipBadImages, this.counters);
  }

  /** Hash of the class names, the file paths, labels and sizes (not the pixels: reading them all would take as long as an epoch). */
  fingerprint(): string {
    if (this.fingerprintCache === null) {
      const lines = [JSON.stringify({ classes: this.classNames, side: this.imageSize })];
      for (let i = 0; i < this.size; i++) lines.push(`${this.labels[i]}\t${this.files[i]}\n`);
      this.fingerprintCache = platform().sha256Hex([new TextEncoder().encode(lines.join(''))]).slice(0, 16);
    }
    return this.fingerprintCache;
  }
}

/** The bytes of an image file, refusing files over {@link MAX_IMAGE_FILE_BYTES} before reading them. */
function readImageFile(path: string): Uint8Array {
  const { fs } = nodeServices(path);
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (e) {
    throw new DatasetError(path, `cannot open the image (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    const size = fs.statSync(path).size;
    if (size > MAX_IMAGE_FILE_BYTES) throw new DatasetError(path, `image file of ${size} bytes exceeds the limit of ${MAX_IMAGE_FILE_BYTES} bytes`);
    const buf = new Uint8Array(size);
    let got = 0;
    while (got < size) {
      const n = fs.readSync(fd, buf, got, size - got, got);
      if (n === 0) break;
      got += n;
    }
    return got === size ? buf : buf.subarray(0, got);
  } catch (e) {
    if (e instanceof DatasetError) throw e;
    throw new DatasetError(path, `cannot read the image (${(e as Error).message})`);
  } finally {
    fs.closeSync(fd);
  }
}

/** What {@link loadImageFolder} found besides the dataset. */
export interface ImageFolderListing {
  dataset: ImageFolderDataset;
  /** Files under the class folders that are not .jpg/.jpeg/.png (not read). */
  ignored: string[];
}

/**
 * Lists `root/train` (split `train`) or `root/val` (split `test`): class = first-level subfolder
 * (sorted names, or `classNames`), samples = every .jpg/.jpeg/.png below it, sorted. Nothing is
 * decoded here.
 * @throws DatasetError naming the folder when it is missing, has no class folders, a class of
 *   `train/` has no image, or `val/` has a class `train/` does not
 * @example const { dataset } = loadImageFolder({ root: 'imagenet', split: 'train', imageSize: 224, augment: true });
 */
export function loadImageFolder(opts: ImageFolderOptions): ImageFolderListing {
  const { fs, path: paths } = nodeServices(opts.root);
  const sub = opts.split === 'train' ? 'train' : 'val';
  const dir = paths.join(opts.root, sub);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new DatasetError(dir, 'no such folder', `--dataset imagefolder reads ${paths.join(opts.root, 'train')} and ${paths.join(opts.root, 'val')}, each with one subfolder of images per class`);
  }
  const found = fs.readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() || (e.isSymbolicLink() && fs.statSync(paths.join(dir, e.name), { throwIfNoEntry: false })?.isDirectory()))
    .map((e) => e.name)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (found.length === 0) throw new DatasetError(dir, 'no class subfolders', 'Put the images of each class in their own subfolder (torchvision ImageFolder layout)');
  const classNames = opts.classNames ?? found;
  const index = new Map(classNames.map((c, i) => [c, i]));
  const unknown = found.filter((c) => !index.has(c));
  if (unknown.length > 0) throw new DatasetError(dir, `class folder(s) ${unknown.slice(0, 3).join(', ')}${unknown.length > 3 ? ` and ${unknown.length - 3} more` : ''} are not classes of the training folder`);
  const files: string[] = [];
  const labels: number[] = [];
  const ignored: string[] = [];
  for (const c of found) {
    const before = files.length;
    const classFiles: string[] = [];
    walk(paths.join(dir, c), c, classFiles, ignored);
    for (const f of classFiles) {
      files.push(f);
      labels.push(index.get(c) as number);
    }
    if (files.length === before && opts.split === 'train') throw new DatasetError(paths.join(dir, c), `class folder without a .jpg, .jpeg or .png image`);
  }
  if (files.length === 0) throw new DatasetError(dir, 'no .jpg, .jpeg or .png image in the class folders');
  const ds = new ImageFolderDataset(opts.split === 'train' ? 'train' : 'val', dir, files, Int32Array.from(labels), classNames, opts.imageSize, opts.augment, opts.skipBadImages ?? false);
  return { dataset: ds, ignored: ignored.map((f) => paths.join(dir, f)) };
}
