/**
 * The readers a hostile file is fed to, by name: each runs the library path a user's command would
 * take on that file (load, and for models one forward pass at the declared size) and returns or
 * throws. Used by the child process of ./runner.ts.
 */
import { loadSafetensors } from '../../base/safetensors-read.js';
import { readSafetensorsFile, loadTernaryModel } from '../../ec2t/runtime/index.js';
import { inferModelOptions } from '../../ec2t/export.js';
import { loadMnist } from '../../datasets/mnist.js';
import { loadCifar10, loadCifar100 } from '../../datasets/cifar.js';
import { loadRun, renderReport } from '../../ec2t/report/index.js';
import { Rng } from '../../base/rng.js';
import { buildModel, loadWeightsInto } from '../../cli/common.js';

/** Reader names and what they run on a path (a file, or a folder for datasets and runs). */
export const READERS: Record<string, (path: string) => void> = {
  /** nn's safetensors reader (file variant). */
  safetensors: (p) => {
    loadSafetensors(p);
  },
  /** The runtime's view of a safetensors file. */
  'runtime-safetensors': (p) => {
    readSafetensorsFile(p);
  },
  /** `ec2t predict`/`bench` on a packed model: load, then one image at the declared size. */
  packed: (p) => {
    const m = loadTernaryModel(p);
    const { channels, height, width } = m.program.input;
    const x = new Float32Array(channels * height * width).fill(0.5);
    m.predict(x, [1, channels, height, width]);
  },
  /** `ec2t predict --model resnet20 --weights FILE` up to the forward pass (options read off the weights, model built, weights loaded). */
  'weights-resnet20': (p) => weightsInto('resnet20', p),
  'weights-micronet': (p) => weightsInto('micronet', p),
  /** MNIST test split from a folder. */
  mnist: (dir) => {
    loadMnist({ dir, split: 'test' });
  },
  /** CIFAR-10 test split (test_batch.bin) from a folder. */
  cifar10: (dir) => {
    loadCifar10({ dir, split: 'test' });
  },
  /** CIFAR-100 test split (test.bin) from a folder. */
  cifar100: (dir) => {
    loadCifar100({ dir, split: 'test' });
  },
  /** `ec2t report` on a run folder, rendered in memory. */
  runfolder: (dir) => {
    renderReport([loadRun(dir)]);
  },
};

function weightsInto(model: string, p: string): void {
  const opts = inferModelOptions(model, loadSafetensors(p).tensors, p);
  const { numClasses, inChannels, inputSize: _s, cifar: _c, ...extra } = opts;
  const net = buildModel(model, { classes: numClasses as number, channels: inChannels as number, height: 32 }, new Rng(0), extra);
  loadWeightsInto(net, p);
}
