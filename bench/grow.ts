/**
 * Does warm-starting the φ-scaled MicroNet from a trained smaller one (`ec2t scale --from`,
 * nn/models/grow.ts) shorten training? On the embedded MNIST (CIFAR is not available here):
 * 1. train the small MicroNet (a grid candidate) for `--small-epochs`;
 * 2. train the scaled network for `--epochs` twice with the same seed and recipe: from its random
 *    init, and grown from the small run;
 * 3. print validation accuracy per epoch (metrics.jsonl), cumulative training seconds, the test
 *    accuracy, and the time to reach the from-scratch run's final validation accuracy.
 *
 * Usage: node dist/bench/grow.js [--out runs/grow] [--train 2048] [--val 1000] [--small-epochs 3] [--epochs 3]
 *          [--small 0.14,0.5] [--base 0.28,0.75] [--seeds 1,2]
 * A few minutes on 2 busy cores (each run also evaluates the 10k MNIST test images): a script, not a test.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: 'runs/grow' },
    train: { type: 'string', default: '2048' },
    val: { type: 'string', default: '1000' },
    'small-epochs': { type: 'string', default: '3' },
    epochs: { type: 'string', default: '3' },
    small: { type: 'string', default: '0.14,0.5' },
    base: { type: 'string', default: '0.28,0.75' },
    seeds: { type: 'string', default: '1' },
    'batch-size': { type: 'string', default: '64' },
  },
});

interface Epoch { epoch: number; valAccuracy: number; seconds: number }
interface Run { epochs: Epoch[]; testAccuracy: number; seconds: number }

function ec2t(args: string[]): void {
  process.stderr.write(`$ ec2t ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`ec2t ${args[0]} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const grown = /grown from .*/.exec(r.stderr);
  if (grown !== null) process.stderr.write(`  ${grown[0]}\n`);
}

function readRun(dir: string): Run {
  const epochs = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Epoch);
  const s = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as { testAccuracy: number; seconds: number };
  return { epochs, testAccuracy: s.testAccuracy, seconds: s.seconds };
}

const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;
const common = ['--dataset', 'mnist', '--limit-train', values.train!, '--val-size', values.val!, '--batch-size', values['batch-size']!];
const [sd, sw] = values.small!.split(',');
const lines: string[] = [];

for (const seed of values.seeds!.split(',')) {
  const root = join(values.out!, `seed${seed}`);
  const label = `d${Number(sd)}-w${Number(sw)}`;
  ec2t(['scale', '--grid', `${sd},${sw}`, '--epochs', values['small-epochs']!, ...common, '--seed', seed, '--out', join(root, 'small')]);
  ec2t(['scale', '--phi', '1', '--base', values.base!, '--epochs', values.epochs!, ...common, '--seed', seed, '--out', join(root, 'scratch')]);
  ec2t(['scale', '--phi', '1', '--base', values.base!, '--epochs', values.epochs!, ...common, '--seed', seed, '--out', join(root, 'grown'), '--from', join(root, 'small', label)]);
  const small = readRun(join(root, 'small', label));
  const scratch = readRun(join(root, 'scratch', 'phi1'));
  const grown = readRun(join(root, 'grown', 'phi1'));
  const smallTrain = small.epochs.reduce((a, e) => a + e.seconds, 0);
  const smallVal = Math.max(...small.epochs.map((e) => e.valAccuracy));
  lines.push(`seed ${seed}: small ${label} trained ${small.epochs.length} epochs in ${smallTrain.toFixed(0)} s, best val ${pct(smallVal)}, test ${pct(small.testAccuracy)}`);
  lines.push('', '| epoch | scratch val acc | scratch cum. s | grown val acc | grown cum. s (+ small) |', '|---:|---:|---:|---:|---:|');
  lines.push(`| 0 | – | 0 | ${pct(smallVal)} (= small) | 0 (+${smallTrain.toFixed(0)}) |`);
  let cs = 0;
  let cg = 0;
  for (let i = 0; i < Math.max(scratch.epochs.length, grown.epochs.length); i++) {
    const a = scratch.epochs[i];
    const b = grown.epochs[i];
    cs += a?.seconds ?? 0;
    cg += b?.seconds ?? 0;
    lines.push(`| ${i + 1} | ${a ? pct(a.valAccuracy) : '–'} | ${cs.toFixed(0)} | ${b ? pct(b.valAccuracy) : '–'} | ${cg.toFixed(0)} (+${smallTrain.toFixed(0)}) |`);
  }
  lines.push(`| test | ${pct(scratch.testAccuracy)} | | ${pct(grown.testAccuracy)} | |`);
  const target = scratch.epochs.at(-1)!.valAccuracy;
  const reach = (r: Run): string => {
    if (r === grown && smallVal >= target) return 'epoch 0 (the small run already reaches it)';
    let c = 0;
    for (const e of r.epochs) {
      c += e.seconds;
      if (e.valAccuracy >= target) return `epoch ${e.epoch}, ${c.toFixed(0)} s`;
    }
    return 'not reached';
  };
  lines.push('', `time to the scratch run's final val acc ${pct(target)}: scratch ${reach(scratch)}; grown ${reach(grown)} (+${smallTrain.toFixed(0)} s for the small run)`, '');
}
process.stdout.write(lines.join('\n') + '\n');
