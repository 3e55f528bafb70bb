/**
 * Datasets: MNIST (embedded or from a folder), CIFAR-10/100 (binary version, from a folder), image
 * folders of JPEG/PNG files (streamed, ImageNet transforms),
 * validation splits, normalisation, augmentation and the seeded {@link DataLoader}.
 * Nothing here downloads; see docs/DATASETS.md.
 */
import { DatasetError, type Dataset } from './dataset.js';
import { loadCifar10, loadCifar100 } from './cifar.js';
import { loadMnist } from './mnist.js';

export { DatasetError, createDataset, subset, splitValidation, isStreaming } from './dataset.js';
export type { Dataset, DatasetInfo, StreamingDataset, AnyDataset, DatasetSpec, ValidationSplitOptions } from './dataset.js';
export { loadImageFolder, ImageFolderDataset, IMAGE_EXTENSIONS } from './imagefolder.js';
export type { ImageFolderOptions, ImageFolderListing } from './imagefolder.js';
export {
  decodeImage, readImageHeader, resampleInto, randomResizedCropBox, trainTransform, evalTransform,
  MAX_IMAGE_SIDE, MAX_IMAGE_PIXELS, MAX_IMAGE_FILE_BYTES,
} from './images.js';
export type { RgbImage, ImageHeader, Box } from './images.js';
export { loadMnist, mnistFromBytes, parseIdx, readIdx, embeddedMnistDir, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC } from './mnist.js';
export type { MnistOptions, IdxArray } from './mnist.js';
export { loadCifar10, loadCifar100, cifar10FromBytes, cifar100FromBytes, CIFAR_IMAGE_BYTES } from './cifar.js';
export type { Cifar10Options, Cifar100Options } from './cifar.js';
export {
  MNIST_NORMALIZATION, CIFAR10_NORMALIZATION, CIFAR100_NORMALIZATION, IMAGENET_NORMALIZATION, CIFAR_AUGMENT,
  standardNormalization, computeNormalization, normalizationTable,
  imageView, cropInto, randomCrop, horizontalFlip, randomHorizontalFlip, cutout,
} from './transforms.js';
export type { Normalization, ImageView, AugmentConfig } from './transforms.js';
export { DataLoader } from './loader.js';
export type { Batch, DataLoaderOptions, DataLoaderState } from './loader.js';

/** Dataset families {@link loadDataset} knows. */
export type DatasetName = 'mnist' | 'cifar10' | 'cifar100' | 'cifar100-coarse';

/** Options of {@link loadDataset}. */
export interface LoadDatasetOptions {
  name: DatasetName;
  split: 'train' | 'test';
  /** The `--data DIR` folder; optional for MNIST (embedded copy), required for CIFAR. */
  dir?: string;
}

/**
 * Loads a dataset by family name (the CLI's entry point).
 * @example const test = loadDataset({ name: 'cifar10', split: 'test', dir: '/data' });
 */
export function loadDataset(opts: LoadDatasetOptions): Dataset {
  switch (opts.name) {
    case 'mnist':
      return loadMnist({ dir: opts.dir, split: opts.split });
    case 'cifar10':
      return loadCifar10({ dir: opts.dir ?? '', split: opts.split });
    case 'cifar100':
      return loadCifar100({ dir: opts.dir ?? '', split: opts.split, labels: 'fine' });
    case 'cifar100-coarse':
      return loadCifar100({ dir: opts.dir ?? '', split: opts.split, labels: 'coarse' });
    default:
      throw new DatasetError(String((opts as { name: unknown }).name), `unknown dataset, expected one of mnist, cifar10, cifar100, cifar100-coarse`);
  }
}
