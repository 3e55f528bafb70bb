/**
 * One seeded training run, written once and run both in Node and in Chromium (bundled into
 * training.page.ts), so the browser test can compare the weights bit for bit: 20 SGD steps of
 * LeNet-5 on synthetic seeded images (trainModel), then EC2T steps and frozen-assignment steps
 * (ternarizeModel), each into a memory store.
 */
import { Rng } from '../../../base/rng.js';
import { type Dataset, createDataset } from '../../../datasets/dataset.js';
import { DEFAULT_QUANTIZER_CONFIG } from '../../../ec2t/quantizer.js';
import { ternarizeModel } from '../../../ec2t/recipes/ternarize.js';
import { trainModel } from '../../../ec2t/recipes/train.js';
import { MemoryRunStore } from '../../../ec2t/runstore.js';
import { type BackendSettings, setBackendSettings } from '../../../kernels/settings.js';
import { createModel, ternaryLayerNames } from '../../../nn/models/index.js';

/** Batches of the float phase (the "20 training steps"), of {@link BATCH} images each. */
export const TRAIN_STEPS = 20;
/** Images per step. */
export const BATCH = 8;
/** Batches per EC2T epoch (one EC2T epoch, then one frozen-assignment epoch). */
export const EC2T_STEPS = 4;

/** `n` synthetic 28×28 digits: a class-dependent bright bar over seeded noise, so the steps learn something. */
function synthetic(n: number, split: string, rng: Rng): Dataset {
  const images = new Uint8Array(n * 28 * 28);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const label = Math.floor(rng.uniform() * 10);
    labels[i] = label;
    for (let p = 0; p < 28 * 28; p++) {
      const row = Math.floor(p / 28);
      const bar = row >= 2 * label + 2 && row < 2 * label + 5;
      images[i * 784 + p] = Math.min(255, Math.floor(rng.uniform() * 64) + (bar ? 180 : 0));
    }
  }
  return createDataset({ name: 'mnist', split, classes: 10, channels: 1, height: 28, width: 28, images, labels });
}

/**
 * The weight files (`*.safetensors`) of the float run and of the EC2T run, by `train/` and `ec2t/`
 * prefixed name, with the backend `settings` applied for the run (and taken away after).
 */
export async function lenetTrainingRun(settings: Partial<BackendSettings> = {}): Promise<Record<string, Uint8Array>> {
  setBackendSettings(settings);
  try {
    return await run();
  } finally {
    setBackendSettings(Object.fromEntries(Object.keys(settings).map((k) => [k, undefined])));
  }
}

async function run(): Promise<Record<string, Uint8Array>> {
  const rng = new Rng(20261203);
  const train = synthetic(TRAIN_STEPS * BATCH, 'train', rng);
  const val = synthetic(2 * BATCH, 'val', rng);
  const test = synthetic(2 * BATCH, 'test', rng);
  const model = createModel('lenet5', { seed: 5 });
  const trained = new MemoryRunStore('train');
  await trainModel({
    model, modelName: 'lenet5', train, val, test, epochs: 1, batchSize: BATCH, optimizer: 'sgd', lr: 0.05, momentum: 0.9,
    loaderRng: new Rng(1), modelRng: new Rng(2), store: trained,
  });
  const ec2t = new MemoryRunStore('ec2t');
  const head = createDataset({ ...train, split: 'train/head', images: train.images.subarray(0, EC2T_STEPS * BATCH * 784), labels: train.labels.subarray(0, EC2T_STEPS * BATCH) });
  await ternarizeModel({
    model, modelName: 'lenet5', layers: ternaryLayerNames(model, 'lenet5'), train: head, val, test,
    quantizer: { ...DEFAULT_QUANTIZER_CONFIG, gain: 0.1 }, epochs: 1, retrainEpochs: 1, batchSize: BATCH,
    loaderRng: new Rng(3), modelRng: new Rng(4), store: ec2t,
  });
  const out: Record<string, Uint8Array> = {};
  for (const [prefix, store] of [['train', trained], ['ec2t', ec2t]] as const) {
    for (const [name, bytes] of store.files) if (name.endsWith('.safetensors')) out[`${prefix}/${name}`] = bytes;
  }
  return out;
}
