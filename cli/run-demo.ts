/**
 * The main job (`npm start` / `ec2t demo`): train LeNet-5 on the embedded MNIST, evaluate it,
 * ternarize it with EC2T, pack it, and print the before/after table.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError, type Parsed } from './args.js';
import { isTempName } from '../base/io.js';
import { trainWithProgress } from './run-train.js';
import { ternarizeWithProgress } from './run-ternarize.js';
import { writeRunReport } from './run-report.js';
import { log } from './progress.js';

/** One row of the demo's before/after table. */
export interface DemoRow {
  model: string;
  accuracy: number;
  sparsity: number;
  bytes: number;
  seconds: number;
}

function pct(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

/** `ec2t demo` handler. */
export async function runDemo(p: Parsed): Promise<number> {
  const t0 = performance.now();
  const out = p.flags.out as string;
  const quick = p.flags.quick === true;
  const seed = p.flags.seed as number;
  const limitTrain = quick ? 3000 : undefined;
  const floatDir = join(out, 'lenet5-float');
  const ternDir = join(out, 'lenet5-ec2t');
  // The demo starts over in its own folder; anything else there is kept unless --force.
  const demoEntries = ['lenet5-float', 'lenet5-ec2t', 'lenet5.ec2t.safetensors'];
  const foreign = existsSync(out) ? readdirSync(out).filter((n) => !demoEntries.includes(n) && !isTempName(n)) : [];
  if (foreign.length > 0 && p.flags.force !== true) {
    throw new UsageError(`ec2t demo: --out ${out} holds files that are not an earlier demo's (${foreign.slice(0, 4).join(', ')}${foreign.length > 4 ? ', …' : ''}); nothing was written. Choose another --out, or give --force to write the demo there`);
  }

  log(`[1/3] training LeNet-5 on MNIST (${quick ? 'quick: 3000 images, 1 epoch' : '55,000 images, 5 epochs'}; 5,000 held out for validation)`);
  // NOTE: Ctrl-C checkpoints each step (the recipes let the event loop see it between batches).
  const tr = await trainWithProgress({
    model: 'lenet5', dataset: 'mnist', epochs: quick ? 1 : 5, batchSize: 64, optimizer: 'adam', lr: 0.002, weightDecay: 5e-4,
    schedule: 'cosine', seed, out: floatDir, force: true, limitTrain,
  }, { interruptible: true });
  if (tr.interrupted) {
    log(`demo stopped; the float model can be finished with: ec2t train --resume ${floatDir} (ec2t demo itself starts over)`);
    return 130;
  }
  await writeRunReport(floatDir);
  log(`      float LeNet-5: test accuracy ${pct(tr.testAccuracy)} (${tr.seconds.toFixed(1)} s)`);

  log(`[2/3] ternarizing with EC2T (γ = 0.1, s = 0.3): ${quick ? 1 : 3} epoch(s), then 1 epoch of frozen-assignment retraining`);
  const te = await ternarizeWithProgress({
    model: 'lenet5', weights: join(floatDir, 'best.safetensors'), dataset: 'mnist', epochs: quick ? 1 : 3, retrainEpochs: 1,
    gain: 0.1, initScale: 0.3, batchSize: 128, lr: 1e-4, seed, out: ternDir, force: true, limitTrain,
  }, { interruptible: true });
  if (te.interrupted) {
    log(`demo stopped; the ternary model can be finished with: ec2t ternarize --resume ${ternDir}, then packed with: ec2t export --run ${ternDir} --out ${join(out, 'lenet5.ec2t.safetensors')} (ec2t demo itself starts over)`);
    return 130;
  }
  await writeRunReport(ternDir);

  log('[3/3] packing the ternary model');
  const { exportPacked } = await import('../ec2t/recipes/export.js');
  // The demo folder was checked above: an earlier demo's packed file is replaced.
  const packed = exportPacked({ run: ternDir, out: join(out, 'lenet5.ec2t.safetensors'), force: true });

  const rows: DemoRow[] = [
    { model: 'LeNet-5 float32', accuracy: tr.testAccuracy, sparsity: 0, bytes: statSync(join(floatDir, 'best.safetensors')).size, seconds: tr.seconds },
    { model: 'LeNet-5 EC2T ternary', accuracy: te.accuracy, sparsity: te.sparsity, bytes: packed.bytes, seconds: te.seconds },
  ];
  const table = [
    '',
    '| model | test accuracy | sparsity (ternary layers) | file size | time |',
    '|---|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.model} | ${pct(r.accuracy)} | ${pct(r.sparsity)} | ${(r.bytes / 1024).toFixed(1)} KiB | ${r.seconds.toFixed(0)} s |`),
    '',
    `size ratio ${(rows[0].bytes / rows[1].bytes).toFixed(1)}×, overall sparsity ${pct(te.overallSparsity)}; whole job ${((performance.now() - t0) / 1000).toFixed(0)} s`,
    `reports: ${join(floatDir, 'report.html')}, ${join(ternDir, 'report.html')}`,
  ].join('\n');
  process.stderr.write(table + '\n');
  if (p.flags.json) process.stdout.write(JSON.stringify({ rows, seconds: (performance.now() - t0) / 1000 }) + '\n');
  return 0;
}
