/**
 * CIFAR-shaped smoke run and epoch timing: writes a small CIFAR-10 folder in the official binary
 * format (random pixels, since real CIFAR is not shipped), then runs ResNet-20 training for one
 * epoch, one epoch of EC2T on it, and a MicroNet `scale` run with tiny epochs. Prints images/s and
 * the projected time of a full 45,000-image CIFAR-10 epoch.
 *
 * Usage: node dist/bench/cifar-smoke.js [--train 2000] [--out DIR]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Rng } from '../base/rng.js';

const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const { values } = parseArgs({ options: { train: { type: 'string', default: '2000' }, out: { type: 'string', default: 'runs/cifar-smoke' } } });
const nTrain = Number(values.train);
const out = values.out;
const data = join(out, 'cifar-10-batches-bin');
mkdirSync(data, { recursive: true });

/** One CIFAR-10 binary batch file: records of 1 label byte + 3072 pixel bytes. */
function writeBatch(path: string, records: number, rng: Rng): void {
  const bytes = new Uint8Array(records * 3073);
  for (let r = 0; r < records; r++) {
    bytes[r * 3073] = rng.int(10);
    for (let i = 1; i < 3073; i++) bytes[r * 3073 + i] = rng.int(256);
  }
  writeFileSync(path, bytes);
}
const rng = new Rng(0);
const perBatch = Math.ceil(nTrain / 5);
for (let b = 1; b <= 5; b++) writeBatch(join(data, `data_batch_${b}.bin`), perBatch, rng);
writeBatch(join(data, 'test_batch.bin'), 500, rng);

function ec2t(args: string[]): string {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) {
    process.stderr.write(`ec2t ${args.join(' ')} failed:\n${r.stderr.slice(-3000)}\n`);
    process.exit(1);
  }
  process.stderr.write(`ec2t ${args[0]} done in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  return r.stdout;
}

const val = String(Math.min(500, Math.floor(nTrain / 5)));
const trainDir = join(out, 'resnet20-train');
ec2t(['train', '--model', 'resnet20', '--dataset', 'cifar10', '--data', out, '--epochs', '1', '--batch-size', '128', '--lr', '0.1', '--val-size', val, '--out', trainDir, '--json']);
const trainEpoch = JSON.parse(readFileSync(join(trainDir, 'metrics.jsonl'), 'utf8').trim().split('\n')[0]) as { imagesPerSecond: number; seconds: number };
const ternDir = join(out, 'resnet20-ec2t');
ec2t(['ternarize', '--model', 'resnet20', '--weights', join(trainDir, 'last.safetensors'), '--dataset', 'cifar10', '--data', out, '--epochs', '1', '--retrain-epochs', '0', '--gain', '0.2', '--batch-size', '128', '--val-size', val, '--out', ternDir, '--json']);
const ternEpoch = JSON.parse(readFileSync(join(ternDir, 'metrics.jsonl'), 'utf8').trim().split('\n')[0]) as { imagesPerSecond: number; seconds: number; sparsity: number };
ec2t(['scale', '--model', 'micronet', '--dataset', 'cifar10', '--data', out, '--grid', '1,1', '1.2,1', '--epochs', '1', '--limit-train', '256', '--batch-size', '64', '--val-size', '100', '--out', join(out, 'micronet-scale'), '--json']);

const full = 45000;
const rows = [
  '| run | images/s | epoch seconds here | projected 45,000-image epoch |',
  '|---|---:|---:|---:|',
  `| ResNet-20 float training (batch 128) | ${trainEpoch.imagesPerSecond.toFixed(1)} | ${trainEpoch.seconds.toFixed(1)} | ${(full / trainEpoch.imagesPerSecond / 60).toFixed(1)} min |`,
  `| ResNet-20 EC2T (batch 128) | ${ternEpoch.imagesPerSecond.toFixed(1)} | ${ternEpoch.seconds.toFixed(1)} | ${(full / ternEpoch.imagesPerSecond / 60).toFixed(1)} min |`,
];
process.stdout.write(rows.join('\n') + '\n');
