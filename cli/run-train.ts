/**
 * `ec2t train` and `ec2t eval`: flags to the {@link trainRun} recipe, and printing.
 */
import { evalRun, trainRun, type EvalRunOptions, type TrainRunOptions, type TrainRunSummary } from '../ec2t/recipes/run.js';
import { runOptionsFromFlags } from '../ec2t/recipes/defaults.js';
import type { RecipeProgress } from '../ec2t/recipes/events.js';
import type { Parsed, FlagValue } from './args.js';
import { resumedFlags } from './common.js';
import { trainSpec } from './commands.js';
import { log, progressPrinter } from './progress.js';
import { writeRunReport } from './run-report.js';

/** What `ec2t train --json` prints: the recipe's result, plus where and on what it ran. */
export type TrainSummary = TrainRunSummary;

/**
 * Ctrl-C as an abort: the first SIGINT aborts the returned signal (the recipe checkpoints after the
 * current batch and returns); a second one exits at once.
 */
export function interruptSignal(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const handler = (): void => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
    log('\ninterrupt: saving a checkpoint at the next batch (Ctrl-C again to quit without saving)');
  };
  process.on('SIGINT', handler);
  return { signal: controller.signal, dispose: () => process.off('SIGINT', handler) };
}

/** The recipes' progress events as the CLI shows them: a bar (or log lines) per batch, phase results. */
export function recipeProgressPrinter(quiet = false): (e: RecipeProgress) => void {
  const bar = progressPrinter(quiet);
  return (e) => {
    if (e.kind === 'batch') bar(e);
    else if (e.kind === 'phase' && e.phase === 'ec2t' && e.completed) {
      log(`EC2T phase: best validation accuracy ${((e.bestValAccuracy ?? 0) * 100).toFixed(2)}% at epoch ${e.bestEpoch}`);
    }
  };
}

/**
 * The train run of a flag record (the parsed command line, a sweep cell): the one mapping from
 * flags to {@link TrainRunOptions}. With `resume`, the saved config.json's flags, checked as the
 * command line checks them ({@link resumedFlags}).
 * @example const o = trainRunOptions(parseCommand(trainSpec, ['--model', 'lenet5']).flags);
 */
export function trainRunOptions(flags: Record<string, FlagValue>): TrainRunOptions {
  const f = flags.resume === undefined ? flags : resumedFlags(trainSpec, flags.resume as string, flags).flags;
  return runOptionsFromFlags<TrainRunOptions>(f);
}

/**
 * Runs {@link trainRun} with the CLI's progress bar and notes on stderr; `interruptible`: Ctrl-C
 * checkpoints after the current batch (the summary then says `interrupted`, and how to resume).
 */
export async function trainWithProgress(options: TrainRunOptions, opts: { quiet?: boolean; interruptible?: boolean } = {}): Promise<TrainSummary> {
  const interrupt = opts.interruptible ? interruptSignal() : null;
  let s: TrainSummary;
  try {
    s = await trainRun(options, { onProgress: recipeProgressPrinter(opts.quiet), onNote: log, signal: interrupt?.signal });
  } finally {
    interrupt?.dispose();
  }
  if (s.interrupted) log(`stopped; resume with: ec2t train --resume ${s.out}`);
  return s;
}

/** `ec2t train` handler. */
export async function runTrain(p: Parsed): Promise<number> {
  const s = await trainWithProgress(trainRunOptions(p.flags), { interruptible: true });
  await writeRunReport(s.out);
  log(`test accuracy ${(100 * s.testAccuracy).toFixed(2)}% (loss ${s.testLoss.toFixed(4)}) after ${s.epochs} epoch(s), ${s.seconds.toFixed(1)} s; run folder ${s.out}`);
  if (p.flags.json) process.stdout.write(JSON.stringify(s) + '\n');
  return s.interrupted ? 130 : 0;
}

/** `ec2t eval` handler: prints `{ model, dataset, split, samples, loss, accuracy }` with --json. */
export async function runEval(p: Parsed): Promise<number> {
  const f = p.flags;
  const out = evalRun(runOptionsFromFlags<EvalRunOptions>(f), { onNote: log });
  if (f.json) process.stdout.write(JSON.stringify(out) + '\n');
  else log(`${out.model} on ${out.dataset}/${out.split}: accuracy ${(100 * out.accuracy).toFixed(2)}% loss ${out.loss.toFixed(4)} (${out.samples} images)`);
  return 0;
}
