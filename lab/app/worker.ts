/**
 * The Lab's training worker: holds MNIST, the float LeNet-5 and the ternary one, and runs the
 * library's recipes (`trainModel`, `ternarizeModel`) on a memory store, posting their progress
 * events to the page. Nothing here restates the method: the page only chooses options and draws.
 */
import { Rng } from '../../base/rng.js';
import { Tensor, noGrad } from '../../engine/index.js';
import { subset, type Dataset } from '../../datasets/dataset.js';
import { mnistFromBytes } from '../../datasets/mnist.js';
import { MNIST_NORMALIZATION } from '../../datasets/transforms.js';
import { createModel, ternaryLayerNames } from '../../nn/models/index.js';
import type { Module } from '../../nn/module.js';
import { entryToTensor } from '../../nn/safetensors.js';
import { DEFAULT_QUANTIZER_CONFIG } from '../../ec2t/quantizer.js';
import { MemoryRunStore, RUN_FILES, readSafetensors } from '../../ec2t/runstore.js';
import { readRunCheckpoint } from '../../ec2t/train.js';
import { trainModel } from '../../ec2t/recipes/train.js';
import { ternarizeModel, TERNARY_FILE } from '../../ec2t/recipes/ternarize.js';
import { describeForScore, packModel } from '../../ec2t/export.js';
import { scoreNetwork, type NetworkScore } from '../../ec2t/score.js';
import { loadTernaryModelBytes, type TernaryModel } from '../../ec2t/runtime/index.js';
import type { FromWorker, Prediction, ScoreRow, TernarizeSettings, ToWorker, TrainSettings } from './protocol.js';

/** Images at the end of MNIST's training split kept out of training: the held-out set. */
const HELD_OUT = 2000;
/** Steps between two `quantizer` events (each walks the 61k LeNet-5 weights once). */
const INSPECT_EVERY = 5;

const post = (m: FromWorker, transfer: Transferable[] = []): void => (self as unknown as { postMessage(m: unknown, t: Transferable[]): void }).postMessage(m, transfer);

interface Data {
  train: Dataset;
  heldOut: Dataset;
  test: Dataset;
}

let data: Data | null = null;
let floatModel: Module | null = null;
let floatStore: MemoryRunStore | null = null;
let ternaryModel: TernaryModel | null = null;
let pendingTrain: { settings: TrainSettings; store: MemoryRunStore } | null = null;
let abort: AbortController | null = null;
let busy = false;

async function fetchBytes(name: string): Promise<Uint8Array> {
  const r = await fetch(new URL(name, self.location.href));
  if (!r.ok) throw new Error(`${name}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

async function loadSplit(split: 'train' | 'test'): Promise<Dataset> {
  const prefix = split === 'train' ? 'train' : 't10k';
  const names = { images: `data/${prefix}-images-idx3-ubyte`, labels: `data/${prefix}-labels-idx1-ubyte` };
  const [images, labels] = await Promise.all([fetchBytes(names.images), fetchBytes(names.labels)]);
  return mnistFromBytes(images, labels, split, names);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

async function loadData(): Promise<void> {
  const t0 = performance.now();
  const [train, test] = await Promise.all([loadSplit('train'), loadSplit('test')]);
  data = { train, heldOut: subset(train, range(train.size - HELD_OUT, train.size), 'held-out'), test };
  post({ type: 'ready', trainImages: train.size - HELD_OUT, heldOut: HELD_OUT, testImages: test.size, seconds: (performance.now() - t0) / 1000 });
}

function trainingSubset(images: number): Dataset {
  const d = data as Data;
  const n = Math.max(1, Math.min(images, d.train.size - HELD_OUT));
  return subset(d.train, range(0, n), 'train');
}

async function train(settings: TrainSettings, resume: boolean): Promise<void> {
  const d = data as Data;
  const store = resume && pendingTrain !== null ? pendingTrain.store : new MemoryRunStore('lab-float');
  if (!resume) {
    floatModel = null;
    ternaryModel = null;
  }
  const model = createModel('lenet5', { seed: settings.seed });
  abort = new AbortController();
  const r = await trainModel({
    model, modelName: 'lenet5', train: trainingSubset(settings.images), val: d.heldOut, test: d.test,
    epochs: settings.epochs, batchSize: settings.batchSize, optimizer: 'adam', lr: settings.lr, weightDecay: 5e-4,
    loaderRng: new Rng(settings.seed + 1), modelRng: new Rng(settings.seed + 2), store, signal: abort.signal,
    checkpoint: resume ? readRunCheckpoint(store) : undefined,
    onProgress: (event) => post({ type: 'progress', job: 'train', event }),
  });
  abort = null;
  pendingTrain = r.interrupted ? { settings, store } : null;
  if (!r.interrupted) {
    // The best epoch on the held-out images is the float model the later stages start from.
    model.loadStateDict(new Map([...readSafetensors(store, RUN_FILES.best).tensors].map(([k, e]) => [k, entryToTensor(e)])), { strict: true });
    model.eval();
    noGrad(() => model.forward(new Tensor(new Float32Array(784), [1, 1, 28, 28]))); // warm-up, as for the ternary model
    floatModel = model;
    floatStore = store;
  }
  const steps = store.readMetrics().length * Math.ceil(Math.min(settings.images, d.train.size - HELD_OUT) / settings.batchSize);
  post({ type: 'trained', interrupted: r.interrupted, testAccuracy: r.testAccuracy, heldOutAccuracy: r.bestValAccuracy, seconds: r.seconds, steps });
}

function row(s: NetworkScore): ScoreRow {
  return { params: s.params, nonzeros: s.layers.reduce((a, l) => a + l.nonzeros, 0), additions: s.additions, multiplications: s.multiplications, bytes: s.bytes };
}

async function ternarize(settings: TernarizeSettings): Promise<void> {
  const d = data as Data;
  if (floatStore === null) throw new Error('train a float model first');
  const model = createModel('lenet5', { seed: settings.seed });
  model.loadStateDict(new Map([...readSafetensors(floatStore, RUN_FILES.best).tensors].map(([k, e]) => [k, entryToTensor(e)])), { strict: true });
  const store = new MemoryRunStore('lab-ternary');
  abort = new AbortController();
  const r = await ternarizeModel({
    model, modelName: 'lenet5', layers: ternaryLayerNames(model, 'lenet5'), train: trainingSubset(settings.images), val: d.heldOut, test: d.test,
    quantizer: { ...DEFAULT_QUANTIZER_CONFIG, method: settings.method, variant: settings.variant, gain: settings.gain, initScale: settings.initScale },
    epochs: settings.epochs, retrainEpochs: settings.retrainEpochs, batchSize: settings.batchSize,
    loaderRng: new Rng(settings.seed + 3), modelRng: new Rng(settings.seed + 4), store, signal: abort.signal,
    inspectEvery: INSPECT_EVERY, inspectBins: 60,
    onProgress: (event) => post({ type: 'progress', job: 'ternarize', event }),
  });
  abort = null;
  if (r.interrupted) {
    post({ type: 'ternarized', interrupted: true, outcome: null });
    return;
  }
  const weights = readSafetensors(store, TERNARY_FILE).tensors;
  const packed = packModel('lenet5', {}, weights, { source: 'lab' });
  ternaryModel = loadTernaryModelBytes(packed.bytes, 'lenet5.ec2t.safetensors');
  // The first call plans and allocates its buffers: do it now, so the latency shown is a steady one.
  ternaryModel.predict(new Float32Array(784), [1, 1, 28, 28]);
  const buffer = packed.bytes.slice().buffer;
  post({
    type: 'ternarized', interrupted: false,
    outcome: {
      settings, accuracy: r.accuracy, floatAccuracy: r.floatAccuracy, sparsity: r.sparsity, seconds: r.seconds,
      // Without weights every layer is a dense float32 one: the float model's counts.
      float: row(scoreNetwork(describeForScore('lenet5', {}, null, 28))),
      ternary: row(scoreNetwork(describeForScore('lenet5', {}, weights, 28))),
      packed: buffer,
    },
  }, [buffer]);
}

function normalize(pixels: Float32Array): Float32Array {
  const [mean] = MNIST_NORMALIZATION.mean;
  const [std] = MNIST_NORMALIZATION.std;
  return pixels.map((v) => (v - mean) / std);
}

function softmax(logits: ArrayLike<number>): number[] {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  const e = Array.from(logits, (v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

function prediction(logits: ArrayLike<number>, ms: number): Prediction {
  const probabilities = softmax(logits);
  return { digit: probabilities.indexOf(Math.max(...probabilities)), probabilities, ms };
}

function classify(pixels: Float32Array): void {
  if (floatModel === null) throw new Error('train a float model first');
  const x = normalize(pixels);
  const m = floatModel;
  let t0 = performance.now();
  const logits = noGrad(() => m.forward(new Tensor(x, [1, 1, 28, 28])).data);
  const float = prediction(logits, performance.now() - t0);
  let ternary: Prediction | null = null;
  if (ternaryModel !== null) {
    t0 = performance.now();
    const out = ternaryModel.predict(x, [1, 1, 28, 28]).data;
    ternary = prediction(out, performance.now() - t0);
  }
  post({ type: 'classified', float, ternary });
}

function testDigit(index: number): void {
  const d = data as Data;
  const i = ((index % d.test.size) + d.test.size) % d.test.size;
  const pixels = Float32Array.from(d.test.images.subarray(i * 784, (i + 1) * 784), (v) => v / 255);
  post({ type: 'testDigit', pixels, label: d.test.labels[i] });
}

async function run(job: () => Promise<void>): Promise<void> {
  if (busy) {
    post({ type: 'error', message: 'a job is already running: pause it first' });
    return;
  }
  busy = true;
  try {
    await job();
  } catch (e) {
    post({ type: 'error', message: e instanceof Error ? e.message : String(e) });
  } finally {
    busy = false;
  }
}

const ready = loadData().catch((e: unknown) => post({ type: 'error', message: `loading MNIST: ${e instanceof Error ? e.message : String(e)}` }));

self.addEventListener('message', (ev: MessageEvent<ToWorker>) => {
  const m = ev.data;
  void ready.then(() => {
    try {
      switch (m.type) {
        case 'train': return run(() => train(m.settings, false));
        case 'resume': return pendingTrain === null ? undefined : run(() => train((pendingTrain as { settings: TrainSettings }).settings, true));
        case 'ternarize': return run(() => ternarize(m.settings));
        case 'pause': abort?.abort(); return undefined;
        case 'classify': return classify(m.pixels);
        case 'testDigit': return testDigit(m.index);
      }
    } catch (e) {
      post({ type: 'error', message: e instanceof Error ? e.message : String(e) });
    }
    return undefined;
  });
});
