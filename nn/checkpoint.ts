/**
 * Training checkpoints as one safetensors file: model tensors under `model.`, optimizer buffers
 * under `optim.`, and the JSON parts (optimizer groups and step counts, schedule, epoch, step,
 * RNG state, user extra) in the string metadata. Written atomically, so an interrupted save
 * leaves the previous checkpoint intact.
 */
import { FormatError, ValueError } from '../base/errors.js';
import { Rng } from '../base/rng.js';
import { Tensor } from '../engine/tensor.js';
import { Optimizer, optimizerStateFromSafetensors, optimizerStateToSafetensors, type OptimizerStateDict, type ParamGroupBase } from './optim.js';
import { entryToTensor, loadSafetensors, parseSafetensors, saveSafetensors, serializeSafetensors, type SafetensorEntry, type SafetensorInput, type SafetensorsFile } from './safetensors.js';
import { LrScheduler, scheduleFromSpec, type SchedulerState } from './schedule.js';

/** Metadata value identifying our checkpoint files. */
export const CHECKPOINT_FORMAT = 'ec2t.checkpoint/1';
const MODEL_PREFIX = 'model.';
const OPTIM_PREFIX = 'optim.';

/** JSON-serialisable values (the `extra` field). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

/** What {@link saveCheckpoint} stores. */
export interface CheckpointInput {
  /** Model state dict (e.g. `stateDictForSave(model)` or `model.stateDict()`). */
  model: Map<string, SafetensorInput> | Record<string, SafetensorInput>;
  /** The optimizer itself or its state dict. */
  optimizer?: Optimizer<ParamGroupBase> | OptimizerStateDict;
  /** The scheduler itself or its state dict. */
  scheduler?: LrScheduler | SchedulerState;
  /** Completed epochs. */
  epoch: number;
  /** Completed optimizer steps (global iteration count). */
  step: number;
  /** The training RNG (or its `getState()`), restored with `rng.setState(ckpt.rng)`. */
  rng?: Rng | number[];
  /** Anything else JSON-serialisable (config, metrics, best accuracy). */
  extra?: JsonValue;
}

/** What {@link loadCheckpoint} returns. */
export interface Checkpoint {
  /** Model tensors, prefix removed, as stored (float32 or integer entries). */
  model: Map<string, SafetensorEntry>;
  optimizer: OptimizerStateDict | null;
  scheduler: SchedulerState | null;
  epoch: number;
  step: number;
  /** `Rng.getState()` as saved (the Box–Muller spare restored to NaN when it was empty). */
  rng: number[] | null;
  extra: JsonValue;
}

/**
 * Saves a training checkpoint to `path` (atomically).
 * @example saveCheckpoint('run/ckpt.safetensors', { model: stateDictForSave(model), optimizer: opt, scheduler: sched, epoch, step, rng });
 */
export function saveCheckpoint(path: string, c: CheckpointInput): void {
  const { tensors, metadata } = checkpointContents(c);
  saveSafetensors(path, tensors, metadata);
}

/**
 * A checkpoint as safetensors bytes, the same bytes {@link saveCheckpoint} writes, for stores that
 * are not a file system (a run kept in memory).
 * @example const bytes = serializeCheckpoint({ model: stateDictForSave(model), epoch: 1, step: 10 });
 */
export function serializeCheckpoint(c: CheckpointInput): Uint8Array {
  const { tensors, metadata } = checkpointContents(c);
  return serializeSafetensors(tensors, metadata);
}

function checkpointContents(c: CheckpointInput): { tensors: Map<string, SafetensorInput>; metadata: Record<string, string> } {
  for (const [name, v] of [['epoch', c.epoch], ['step', c.step]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new ValueError('saveCheckpoint', `${name} = ${v}; it must be an integer >= 0`);
  }
  const tensors = new Map<string, SafetensorInput>();
  const modelEntries = c.model instanceof Map ? [...c.model.entries()] : Object.entries(c.model);
  for (const [k, t] of modelEntries) tensors.set(MODEL_PREFIX + k, t);
  const metadata: Record<string, string> = { format: CHECKPOINT_FORMAT, epoch: String(c.epoch), step: String(c.step) };
  if (c.optimizer !== undefined) {
    const sd = c.optimizer instanceof Optimizer ? c.optimizer.stateDict() : c.optimizer;
    const { tensors: opt, json } = optimizerStateToSafetensors(sd, OPTIM_PREFIX);
    for (const [k, e] of opt) tensors.set(k, e);
    metadata.optimizer = json;
  }
  if (c.scheduler !== undefined) metadata.scheduler = JSON.stringify(c.scheduler instanceof LrScheduler ? c.scheduler.stateDict() : c.scheduler);
  if (c.rng !== undefined) {
    const state = c.rng instanceof Rng ? c.rng.getState() : c.rng;
    // NOTE: JSON has no NaN; the empty Box–Muller spare (NaN) is written as null and read back as NaN.
    metadata.rng = JSON.stringify(state.map((x) => (Number.isNaN(x) ? null : x)));
  }
  if (c.extra !== undefined) metadata.extra = JSON.stringify(c.extra);
  return { tensors, metadata };
}

function parseJson(path: string, key: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FormatError(path, `checkpoint metadata "${key}" is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * Loads a checkpoint written by {@link saveCheckpoint}. Restore with
 * `model.loadStateDict(ckpt.model)`, `opt.loadStateDict(ckpt.optimizer!)`,
 * `sched.loadStateDict(ckpt.scheduler!)`, `rng.setState(ckpt.rng!)`.
 * @example const ckpt = loadCheckpoint('run/ckpt.safetensors');
 */
export function loadCheckpoint(path: string): Checkpoint {
  return checkpointFromFile(loadSafetensors(path), path);
}

/**
 * {@link loadCheckpoint} over bytes already in memory; `name` is what errors call the source.
 * @example const ckpt = parseCheckpoint(store.readBytes('checkpoint.safetensors'), 'memory:run/checkpoint.safetensors');
 */
export function parseCheckpoint(bytes: Uint8Array, name: string): Checkpoint {
  return checkpointFromFile(parseSafetensors(bytes, name), name);
}

function checkpointFromFile(file: SafetensorsFile, path: string): Checkpoint {
  const meta = file.metadata;
  if (meta.format !== CHECKPOINT_FORMAT) throw new FormatError(path, `not an ec2t checkpoint: metadata "format" is ${JSON.stringify(meta.format)}, expected ${JSON.stringify(CHECKPOINT_FORMAT)} (a plain weights file? load it with loadSafetensors)`);
  const intField = (key: string): number => {
    const v = Number(meta[key]);
    if (meta[key] === undefined || !Number.isInteger(v) || v < 0) throw new FormatError(path, `checkpoint metadata "${key}" = ${JSON.stringify(meta[key])}; expected an integer >= 0`);
    return v;
  };
  const epoch = intField('epoch');
  const step = intField('step');
  const model = new Map<string, SafetensorEntry>();
  for (const [k, e] of file.tensors) {
    if (k.startsWith(MODEL_PREFIX)) model.set(k.slice(MODEL_PREFIX.length), e);
    else if (!k.startsWith(OPTIM_PREFIX)) throw new FormatError(path, `tensor "${k}" has neither the "${MODEL_PREFIX}" nor the "${OPTIM_PREFIX}" prefix`);
  }
  let optimizer: OptimizerStateDict | null = null;
  if (meta.optimizer !== undefined) {
    try {
      optimizer = optimizerStateFromSafetensors(file.tensors, meta.optimizer, OPTIM_PREFIX);
    } catch (e) {
      if (e instanceof ValueError) throw new FormatError(path, `optimizer state: ${e.message}`);
      throw e;
    }
  }
  let scheduler: SchedulerState | null = null;
  if (meta.scheduler !== undefined) {
    const s = parseJson(path, 'scheduler', meta.scheduler) as SchedulerState;
    try {
      if (typeof s !== 'object' || s === null) throw new ValueError('scheduler', 'must be an object');
      scheduleFromSpec(s.schedule);
    } catch (e) {
      if (e instanceof ValueError) throw new FormatError(path, `scheduler state: ${e.message}`);
      throw e;
    }
    scheduler = s;
  }
  let rng: number[] | null = null;
  if (meta.rng !== undefined) {
    const r = parseJson(path, 'rng', meta.rng);
    if (!Array.isArray(r) || r.length !== 5 || !r.every((x) => x === null || typeof x === 'number')) throw new FormatError(path, `checkpoint metadata "rng" must be 5 numbers (Rng.getState()), got ${meta.rng.slice(0, 80)}`);
    rng = r.map((x) => (x === null ? NaN : (x as number)));
  }
  const extra = meta.extra !== undefined ? (parseJson(path, 'extra', meta.extra) as JsonValue) : null;
  return { model, optimizer, scheduler, epoch, step, rng, extra };
}

/** The checkpoint's model entries as float32 {@link Tensor}s (integer buffers converted by value). */
export function checkpointModelTensors(c: Checkpoint): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [k, e] of c.model) out.set(k, entryToTensor(e));
  return out;
}
