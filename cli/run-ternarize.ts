/**
 * `ec2t ternarize`: flags to the {@link ternarizeRun} recipe (EC2T, TTQ or ECP on pretrained
 * weights, best model, frozen retraining; `--resume DIR` continues an interrupted run bit for bit),
 * and printing.
 */
import { ternarizeRun, type TernarizeRunOptions, type TernarizeRunSummary } from '../ec2t/recipes/run.js';
import { runOptionsFromFlags } from '../ec2t/recipes/defaults.js';
import type { FlagValue, Parsed } from './args.js';
import { ternarizeSpec } from './commands.js';
import { resumedFlags } from './common.js';
import { interruptSignal, recipeProgressPrinter } from './run-train.js';
import { log } from './progress.js';
import { writeRunReport } from './run-report.js';

/** What `ec2t ternarize --json` prints (a subset: accuracy, sparsity, overallSparsity, epochs, seconds). */
export type TernarizeSummary = TernarizeRunSummary;

/**
 * The ternarize run of a flag record (the parsed command line, a sweep cell): the one mapping from
 * flags to {@link TernarizeRunOptions}. With `resume`, the saved config.json's flags, checked as
 * the command line checks them ({@link resumedFlags}).
 * @example const o = ternarizeRunOptions(parseCommand(ternarizeSpec, ['--resume', 'runs/lenet5-ec2t']).flags);
 */
export function ternarizeRunOptions(flags: Record<string, FlagValue>): TernarizeRunOptions {
  const f = flags.resume === undefined ? flags : resumedFlags(ternarizeSpec, flags.resume as string, flags).flags;
  return runOptionsFromFlags<TernarizeRunOptions>(f);
}

/**
 * Runs {@link ternarizeRun} with the CLI's progress bar and notes on stderr; `interruptible`:
 * Ctrl-C (or the `EC2T_INTERRUPT_AFTER_STEPS` test hook) checkpoints after the current batch and
 * the summary comes back with `interrupted: true` (no test evaluation, no summary.json).
 */
export async function ternarizeWithProgress(options: TernarizeRunOptions, opts: { quiet?: boolean; interruptible?: boolean } = {}): Promise<TernarizeSummary> {
  const interrupt = opts.interruptible ? interruptSignal() : null;
  let s: TernarizeSummary;
  try {
    s = await ternarizeRun(options, { onProgress: recipeProgressPrinter(opts.quiet), onNote: log, signal: interrupt?.signal });
  } finally {
    interrupt?.dispose();
  }
  if (s.interrupted) log(`stopped; resume with: ec2t ternarize --resume ${s.out}`);
  return s;
}

/**
 * `ec2t ternarize` handler. Exit 130 after an interrupt (checkpoint written; `--json` then prints
 * `{ interrupted: true, epochs, seconds, out }` with the epochs completed so far).
 */
export async function runTernarize(p: Parsed): Promise<number> {
  const s = await ternarizeWithProgress(ternarizeRunOptions(p.flags), { interruptible: true });
  if (s.interrupted) {
    if (p.flags.json) process.stdout.write(JSON.stringify({ interrupted: true, epochs: s.epochs, seconds: s.seconds, out: s.out }) + '\n');
    return 130;
  }
  log(`ternary test accuracy ${(100 * s.accuracy).toFixed(2)}% (float ${(100 * s.floatAccuracy).toFixed(2)}%), sparsity of ternary layers ${(100 * s.sparsity).toFixed(2)}%, overall ${(100 * s.overallSparsity).toFixed(2)}%, ${s.seconds.toFixed(1)} s; run folder ${s.out}`);
  await writeRunReport(s.out);
  if (p.flags.json) {
    const { accuracy, sparsity, overallSparsity, epochs, seconds } = s;
    process.stdout.write(JSON.stringify({ accuracy, sparsity, overallSparsity, epochs, seconds }) + '\n');
  }
  return 0;
}
