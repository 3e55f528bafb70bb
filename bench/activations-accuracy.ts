/**
 * The accuracy cost of the packed runtime's activation modes (issue 17): packed files of one
 * model exported with `--activations float|int16|int8` are run on a dataset's test split; prints
 * each mode's top-1 accuracy, its top-1 agreement with the float-activation file and the max
 * relative logit error (max |Δ| / max |float logit|, per batch).
 *
 *   node dist/bench/activations-accuracy.js --dataset mnist FLOAT.ec2t.safetensors INT16.ec2t.safetensors INT8.ec2t.safetensors
 */
import { loadDataset } from '../datasets/index.js';
import { MNIST_NORMALIZATION, CIFAR10_NORMALIZATION } from '../datasets/transforms.js';
import { loadTernaryModel, type TernaryModel } from '../ec2t/runtime/index.js';

const BATCH = 250;

function argmax(a: Float32Array, off: number, n: number): number {
  let k = 0;
  for (let i = 1; i < n; i++) if (a[off + i] > a[off + k]) k = i;
  return k;
}

function main(argv: string[]): void {
  const i = argv.indexOf('--dataset');
  const dataset = (i >= 0 ? argv.splice(i, 2)[1] : 'mnist') as 'mnist' | 'cifar10';
  if (argv.length < 2) throw new Error('usage: activations-accuracy [--dataset mnist|cifar10] FLOAT.ec2t.safetensors OTHER.ec2t.safetensors ...');
  const test = loadDataset({ name: dataset, split: 'test' });
  const norm = dataset === 'mnist' ? MNIST_NORMALIZATION : CIFAR10_NORMALIZATION;
  const models: TernaryModel[] = argv.map((p) => loadTernaryModel(p));
  const { channels: c, height: h, width: w, classes } = test;
  const sample = c * h * w;
  const correct = new Array<number>(models.length).fill(0);
  const agree = new Array<number>(models.length).fill(0);
  const maxRel = new Array<number>(models.length).fill(0);
  const seconds = new Array<number>(models.length).fill(0);
  for (let s = 0; s < test.size; s += BATCH) {
    const n = Math.min(BATCH, test.size - s);
    const x = new Float32Array(n * sample);
    for (let k = 0; k < n * sample; k++) {
      const ch = Math.floor((k % sample) / (h * w));
      x[k] = (test.images[s * sample + k] / 255 - norm.mean[ch]) / norm.std[ch];
    }
    const outs = models.map((m, j) => {
      const t0 = performance.now();
      const y = m.predict(x, [n, c, h, w]).data;
      seconds[j] += (performance.now() - t0) / 1000;
      return y;
    });
    let ref = 0;
    for (const v of outs[0]) ref = Math.max(ref, Math.abs(v));
    outs.forEach((y, j) => {
      let d = 0;
      for (let k = 0; k < y.length; k++) d = Math.max(d, Math.abs(y[k] - outs[0][k]));
      maxRel[j] = Math.max(maxRel[j], d / ref);
      for (let r = 0; r < n; r++) {
        const p = argmax(y, r * classes, classes);
        if (p === test.labels[s + r]) correct[j]++;
        if (p === argmax(outs[0], r * classes, classes)) agree[j]++;
      }
    });
  }
  console.log(`${dataset} test, ${test.size} images, batch ${BATCH}`);
  console.log('| file | top-1 accuracy | vs float (pt) | top-1 agreement with float | max relative logit error | s |');
  console.log('|---|---:|---:|---:|---:|---:|');
  argv.forEach((p, j) => {
    const acc = (100 * correct[j]) / test.size;
    const base = (100 * correct[0]) / test.size;
    console.log(`| ${p.split('/').pop()} | ${acc.toFixed(2)}% | ${(acc - base).toFixed(2)} | ${agree[j]}/${test.size} | ${maxRel[j].toExponential(1)} | ${seconds[j].toFixed(2)} |`);
  });
}

main(process.argv.slice(2));
