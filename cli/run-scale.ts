/**
 * `ec2t scale`: compound scaling of MicroNet (EC2T.md §1). Trains each (d, w) candidate of a grid
 * with the thesis recipe and reports the table; `--phi` builds (and trains, for --epochs) the
 * exponentially scaled super-network d = d̂^φ, w = ŵ^φ.
 */
import { join } from 'node:path';
import { parseCommand, UsageError, type Parsed } from './args.js';
import { trainSpec } from './commands.js';
import { trainCommand } from './run-train.js';
import { defaultRunDir } from './common.js';
import { createModel } from '../nn/models/index.js';
import { log } from './progress.js';

/** The thesis grid for CIFAR: pairs with d·w² ≈ 2. */
export const THESIS_GRID: ReadonlyArray<readonly [number, number]> = [[1.0, 1.4], [1.2, 1.3], [1.4, 1.2], [1.6, 1.1], [1.7, 1.1], [1.9, 1.0]];

/** One row of the scaling table. */
export interface ScaleRow {
  depth: number;
  width: number;
  params: number;
  valAccuracy: number | null;
  testAccuracy: number;
  seconds: number;
  out: string;
}

function parsePair(s: string, flag: string): [number, number] {
  const parts = s.split(',').map(Number);
  if (parts.length !== 2 || !parts.every((x) => Number.isFinite(x) && x > 0)) throw new UsageError(`${flag} ${JSON.stringify(s)}: expected d,w with positive numbers, e.g. 1.4,1.2`);
  return [parts[0], parts[1]];
}

/** `ec2t scale` handler. */
export async function runScale(p: Parsed): Promise<number> {
  const f = p.flags;
  const out = (f.out as string | undefined) ?? defaultRunDir(['micronet-scale', f.dataset as string]);
  let candidates: Array<{ label: string; opts: Record<string, unknown>; depth: number; width: number }>;
  if (f.phi !== undefined) {
    if (f.base === undefined) throw new UsageError('--phi needs --base d,w (the winning pair of the grid search)');
    const [d, w] = parsePair(f.base as string, '--base');
    const phi = f.phi as number;
    candidates = [{ label: `phi${phi}`, opts: { phi, baseDepth: d, baseWidth: w }, depth: d ** phi, width: w ** phi }];
  } else {
    const grid = (f.grid as string[] | undefined)?.map((s) => parsePair(s, '--grid')) ?? THESIS_GRID.map(([d, w]) => [d, w] as [number, number]);
    candidates = grid.map(([d, w]) => ({ label: `d${d}-w${w}`, opts: { depth: d, width: w }, depth: d, width: w }));
  }
  const rows: ScaleRow[] = [];
  for (const c of candidates) {
    const dir = join(out, c.label);
    log(`candidate ${c.label}: depth ×${c.depth.toFixed(3)}, width ×${c.width.toFixed(3)}`);
    const argv = [
      '--model', 'micronet', '--dataset', f.dataset as string, '--epochs', String(f.epochs), '--batch-size', String(f['batch-size']),
      '--optimizer', 'sgd', '--lr', String(f.lr), '--momentum', '0.9', '--weight-decay', '5e-4', '--schedule', 'cosine',
      '--seed', String(f.seed), '--out', dir,
      ...(f.data !== undefined ? ['--data', f.data as string] : []),
      ...(f['limit-train'] !== undefined ? ['--limit-train', String(f['limit-train'])] : []),
      ...(f['val-size'] !== undefined ? ['--val-size', String(f['val-size'])] : []),
    ];
    const s = trainCommand(parseCommand(trainSpec, argv).flags, { modelOptions: c.opts });
    const params = createModel('micronet', { ...c.opts, numClasses: 10 }).numParameters();
    rows.push({ depth: c.depth, width: c.width, params, valAccuracy: s.bestValAccuracy, testAccuracy: s.testAccuracy, seconds: s.seconds, out: dir });
  }
  const best = rows.reduce((a, b) => ((b.valAccuracy ?? b.testAccuracy) > (a.valAccuracy ?? a.testAccuracy) ? b : a));
  const table = [
    '| d | w | params (10 classes) | best val acc | test acc | seconds |',
    '|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.depth.toFixed(3)} | ${r.width.toFixed(3)} | ${r.params} | ${r.valAccuracy === null ? '–' : (100 * r.valAccuracy).toFixed(2) + '%'} | ${(100 * r.testAccuracy).toFixed(2)}% | ${r.seconds.toFixed(0)} |`),
    '',
    `best pair: d̂ = ${best.depth}, ŵ = ${best.width}; scale up with: ec2t scale --phi P --base ${best.depth},${best.width} ...`,
  ].join('\n');
  process.stderr.write(table + '\n');
  if (f.json) process.stdout.write(JSON.stringify({ rows, best: { depth: best.depth, width: best.width } }) + '\n');
  return 0;
}
