/**
 * The options of whole runs as `config.json` records them: their fields in the order the file
 * lists them, their defaults, and the one rule that names them there (`batchSize` ↔ `batch-size`,
 * the command-line flag). Imports nothing, so the command declarations can take their defaults
 * from here without loading the library.
 */

/** Defaults of {@link TrainRunOptions} (`ec2t train`'s flag defaults). */
export const TRAIN_RUN_DEFAULTS = {
  dataset: 'mnist', epochs: 10, batchSize: 64, momentum: 0.9, weightDecay: 5e-4, schedule: 'cosine', cutout: 0, seed: 1, backend: 'auto',
} as const;

/** Defaults of {@link TernarizeRunOptions} (`ec2t ternarize`'s flag defaults). */
export const TERNARIZE_RUN_DEFAULTS = {
  dataset: 'mnist', epochs: 20, retrainEpochs: 15, gain: 0, initScale: 0.25, initMethod: 'scaler', method: 'ec2t', ttqThreshold: 0.05,
  variant: 'reference', batchSize: 256, lr: 1e-4, centroidLr: 1e-5, weightDecay: 5e-6, seed: 1, backend: 'auto',
} as const;

/** Defaults of {@link ScaleSearchOptions} (`ec2t scale`'s flag defaults). */
export const SCALE_SEARCH_DEFAULTS = { dataset: 'mnist', epochs: 1, batchSize: 128, lr: 0.1, seed: 1 } as const;

const DATA_FIELDS = ['dataset', 'data', 'valSize', 'inputSize', 'skipBadImages'] as const;

/** Fields of a train run in the order config.json lists them (the order of `ec2t train --help`'s declaration). */
export const TRAIN_RUN_FIELDS = [
  'model', ...DATA_FIELDS, 'epochs', 'batchSize', 'optimizer', 'lr', 'momentum', 'nesterov', 'weightDecay', 'schedule', 'stepSize',
  'augment', 'noAugment', 'cutout', 'seed', 'out', 'force', 'weights', 'resume', 'limitTrain', 'backend', 'threads',
] as const;

/** Fields of a ternarize run in the order config.json lists them. */
export const TERNARIZE_RUN_FIELDS = [
  'model', 'weights', ...DATA_FIELDS, 'epochs', 'retrainEpochs', 'gain', 'initScale', 'initMethod', 'method', 'ttqThreshold', 'variant',
  'layers', 'batchSize', 'lr', 'centroidLr', 'weightDecay', 'seed', 'out', 'force', 'resume', 'limitTrain', 'backend', 'threads',
] as const;

/**
 * The flag (and config.json) name of an option: `batchSize` → `batch-size`.
 * @example flagName('retrainEpochs') // 'retrain-epochs'
 */
export function flagName(option: string): string {
  return option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/**
 * The option name of a flag: `batch-size` → `batchSize` (the inverse of {@link flagName}).
 * @example optionName('no-augment') // 'noAugment'
 */
export function optionName(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * A flag record (parsed command line, a sweep cell, config.json's `flags`) as run options: the same
 * values under their option names, in the same order. Values are taken as they are: the command line
 * and the sweep spec have checked them against the flags' declarations.
 * @example const o = runOptionsFromFlags<TrainRunOptions>({ model: 'lenet5', 'batch-size': 64 });
 */
export function runOptionsFromFlags<T>(flags: Readonly<Record<string, unknown>>): T {
  return Object.fromEntries(Object.entries(flags).map(([k, v]) => [optionName(k), v])) as T;
}

/**
 * The `flags` record config.json holds for run options: the fields of `order` first, in that order,
 * then any other field the caller passed (the command line's `json`), under their flag names;
 * undefined values are left out as JSON leaves them out.
 * @example flagsOfRunOptions({ model: 'lenet5', batchSize: 64 }, TRAIN_RUN_FIELDS) // { model: 'lenet5', 'batch-size': 64 }
 */
export function flagsOfRunOptions(options: object, order: readonly string[], omit: readonly string[] = []): Record<string, unknown> {
  const o = options as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of [...order, ...Object.keys(o).filter((k) => !order.includes(k))]) {
    if (omit.includes(k) || o[k] === undefined) continue;
    out[flagName(k)] = o[k];
  }
  return out;
}
