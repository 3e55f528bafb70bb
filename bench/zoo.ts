/**
 * The model zoo at a glance: every zoo network at its paper size (LeNet-5 at 28×28, the CIFAR
 * networks at 32×32, the ImageNet ones at 224×224, EfficientNet-B1 at its 240×240) with its
 * parameter count, the ec2t nn forward time per image (eval mode, batch 8, after a warm-up) and,
 * where a PyTorch golden fixture exists (test/nn/fixtures, see scripts/golden/README.md), the
 * largest relative error of ec2t's eval logits against it (max |Δ| / max |PyTorch|; the fixtures
 * use reduced inputs or widths, see the `fixture` column).
 *
 * Usage: node dist/bench/zoo.js [--time-ms T] [--only name,name]   (EC2T_THREADS sets threads)
 * Each model is timed through tinybench for at least T ms (default 4000) and 3 forwards, after 2
 * warm-up forwards; about 2 minutes in all on 2 cores.
 */
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import '../kernels/index.js';
import { Rng } from '../base/rng.js';
import { Tensor, noGrad } from '../engine/tensor.js';
import { gemmThreads } from '../kernels/wasm/threaded-gemm.js';
import { MODEL_NAMES, createModel, type ModelName } from '../nn/models/index.js';
import { maxRelativeError } from '../test/helpers/check.js';
import { loadForwardGolden } from '../test/helpers/golden.js';
import { randomArrays, seconds } from './util.js';

/** One row: a zoo model at its paper size and the fixtures that check it. */
interface Row {
  label: string;
  name: ModelName;
  options: Record<string, unknown>;
  inChannels: number;
  side: number;
  /** Fixture stems under test/nn/fixtures (without `.safetensors`). */
  fixtures: string[];
}

const ROWS: Row[] = [
  { label: 'lenet5', name: 'lenet5', options: {}, inChannels: 1, side: 28, fixtures: ['lenet5-golden'] },
  { label: 'resnet20', name: 'resnet20', options: {}, inChannels: 3, side: 32, fixtures: ['resnet20-golden'] },
  { label: 'resnet32', name: 'resnet32', options: {}, inChannels: 3, side: 32, fixtures: ['resnet32-golden'] },
  { label: 'resnet44', name: 'resnet44', options: {}, inChannels: 3, side: 32, fixtures: ['resnet44-golden'] },
  { label: 'resnet56', name: 'resnet56', options: {}, inChannels: 3, side: 32, fixtures: ['resnet56-golden'] },
  { label: 'resnet18', name: 'resnet18', options: { numClasses: 1000 }, inChannels: 3, side: 224, fixtures: ['resnet18-s64-golden'] },
  { label: 'mobilenetv2 (ImageNet strides)', name: 'mobilenetv2', options: { numClasses: 1000 }, inChannels: 3, side: 224, fixtures: ['mobilenetv2-w1-s64-golden'] },
  { label: 'mobilenetv2 (CIFAR strides)', name: 'mobilenetv2', options: { cifar: true }, inChannels: 3, side: 32, fixtures: ['mobilenetv2-cifar-w0.75-s32-golden'] },
  { label: 'micronet (d = w = 1)', name: 'micronet', options: { numClasses: 100 }, inChannels: 3, side: 32, fixtures: ['micronet-d1-w1-golden'] },
  { label: 'micronet (φ = 3.5)', name: 'micronet', options: { numClasses: 100, phi: 3.5 }, inChannels: 3, side: 32, fixtures: ['micronet-phi3.5-s16-golden'] },
  { label: 'efficientnet-b0', name: 'efficientnet-b0', options: { numClasses: 1000 }, inChannels: 3, side: 224, fixtures: ['golden-efficientnet-b0-w0.1-s48'] },
  { label: 'efficientnet-b1', name: 'efficientnet-b1', options: { numClasses: 1000 }, inChannels: 3, side: 240, fixtures: ['golden-efficientnet-b1-w0.1-s60'] },
  { label: 'micronet-imagenet (d = w = 1)', name: 'micronet-imagenet', options: { numClasses: 1000 }, inChannels: 3, side: 224, fixtures: ['golden-micronet-imagenet-d0.5-w0.1-s48'] },
];

const BATCH = 8;

/** Max relative error of ec2t's eval logits against one fixture. */
function fixtureError(stem: string): number {
  const g = loadForwardGolden(`nn/fixtures/${stem}.safetensors`);
  // The first fixtures (lenet5, resnet20) name only the model; the later scripts add its options.
  const net = createModel(g.metadata.zoo_model ?? g.metadata.model, g.metadata.zoo_options === undefined ? {} : (JSON.parse(g.metadata.zoo_options) as Record<string, unknown>));
  net.loadStateDict(g.stateDict, { strict: true });
  net.eval();
  return maxRelativeError(noGrad(() => net.forward(g.input)).data, g.logits);
}

function fixturePath(stem: string): string {
  return fileURLToPath(new URL(`../../test/nn/fixtures/${stem}.safetensors`, import.meta.url));
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'time-ms': { type: 'string', default: '4000' }, only: { type: 'string' } } });
  const timeMs = Number(values['time-ms']);
  if (!(timeMs > 0)) throw new Error(`--time-ms must be a positive number of milliseconds, got ${values['time-ms']}`);
  const only = values.only?.split(',');
  const rows = ROWS.filter((r) => only === undefined || only.includes(r.label) || only.includes(r.name));
  const covered = new Set(ROWS.map((r) => r.name));
  const missing = MODEL_NAMES.filter((n) => !covered.has(n));
  if (missing.length > 0) throw new Error(`bench/zoo.ts has no row for ${missing.join(', ')}`);
  const load0 = loadavg()[0];
  console.log(`node ${process.version}, ${gemmThreads()} threads, batch ${BATCH}, load average ${load0.toFixed(2)} at start`);
  console.log('| model | input | params | ms/image (eval, b8) | fixture | max rel error |');
  console.log('|---|---:|---:|---:|---|---:|');
  const rand = randomArrays(new Rng(19));
  const t0 = performance.now();
  for (const r of rows) {
    const net = createModel(r.name, { seed: 1, ...r.options });
    net.eval();
    const x = new Tensor(rand(BATCH * r.inChannels * r.side * r.side), [BATCH, r.inChannels, r.side, r.side]);
    // Warm-up (tinybench's 2 forwards): kernels compiled, workers started, buffers sized.
    const msPerImage = (1000 * (await seconds(r.label, () => void noGrad(() => net.forward(x)), { timeMs, iterations: 3 }))) / BATCH;
    const errors = r.fixtures.filter((f) => existsSync(fixturePath(f))).map((f) => `${fixtureError(f).toExponential(1)}`);
    console.log(
      `| ${r.label} | ${r.side}×${r.side} | ${net.numParameters().toLocaleString('en-US')} | ${msPerImage.toFixed(msPerImage < 10 ? 2 : 1)} | ` +
        `${r.fixtures.join(', ')} | ${errors.length > 0 ? errors.join(', ') : '–'} |`,
    );
  }
  console.log(`total ${((performance.now() - t0) / 1000).toFixed(0)} s; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} at the end`);
}

await main();
