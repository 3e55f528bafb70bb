/**
 * The module system, in the spirit of torch.nn.Module.
 *
 * A module's parameters, buffers and children are its own enumerable properties holding a
 * {@link Parameter}, a {@link BufferTensor} or a {@link Module}; they are found by walking the
 * properties in definition order (class-field declaration order, then properties first assigned in
 * the constructor), which is what PyTorch's attribute-registration order gives. So
 * `this.conv1 = new Conv2d(...)` registers a child named `conv1`, and the state-dict keys come out
 * in PyTorch's order and with PyTorch's dotted names: per module its own parameters, then its own
 * buffers, then each child recursively.
 *
 * NOTE: JavaScript enumerates integer-like keys (`'0'`, `'1'`, ...) first and in ascending order;
 * that is exactly what {@link Sequential}-style containers need, but a module must not mix integer
 * keys with named ones when the order matters.
 */
import { Ec2tError, ValueError, fmtShape } from '../base/errors.js';
import { Tensor } from '../engine/tensor.js';

/** A trainable tensor: a leaf with `requiresGrad = true` that a module registers as a parameter. */
export class Parameter extends Tensor {
  /**
   * Wraps `data` (not copied).
   * @example this.weight = new Parameter(new Float32Array(6), [2, 3]);
   */
  constructor(data: Float32Array, shape: readonly number[], requiresGrad = true) {
    super(data, shape, requiresGrad);
  }

  /** A parameter with the values (copied) and shape of `t`. */
  static from(t: Tensor, requiresGrad = true): Parameter {
    return new Parameter(t.data.slice(), t.shape, requiresGrad);
  }
}

/** Element type a buffer has in a checkpoint (safetensors `F32` or `I64`). */
export type BufferDtype = 'float32' | 'int64';

/**
 * Non-trainable module state saved in the state dict (BatchNorm's `running_mean`, `running_var`,
 * `num_batches_tracked`). Values are always held as float32; `dtype` says how a checkpoint stores
 * them. An `int64` buffer holds an integer count (exact in float32 up to 2^24).
 */
export class BufferTensor extends Tensor {
  /**
   * @example this.num_batches_tracked = new BufferTensor(new Float32Array(1), [], 'int64');
   */
  constructor(
    data: Float32Array,
    shape: readonly number[],
    readonly dtype: BufferDtype = 'float32',
  ) {
    super(data, shape, false);
  }
}

/**
 * The checkpoint element type of a state-dict entry: `int64` for an int64 buffer, else `float32`.
 * @example for (const [k, t] of model.stateDict()) console.log(k, dtypeOf(t)); // 'bn1.num_batches_tracked' 'int64'
 */
export function dtypeOf(t: Tensor): BufferDtype {
  return t instanceof BufferTensor ? t.dtype : 'float32';
}

/** Anything with values and a shape: a Tensor, or what a checkpoint reader returns (int64 as BigInt64Array). */
export interface TensorLike {
  readonly data: ArrayLike<number> | BigInt64Array | BigUint64Array;
  readonly shape: readonly number[];
}

/** A state dict as a map (ordered) or a plain record. */
export type StateDictInput = ReadonlyMap<string, TensorLike> | Readonly<Record<string, TensorLike>>;

/** One key whose checkpoint shape differs from the model's. */
export interface ShapeMismatch {
  readonly key: string;
  readonly expected: readonly number[];
  readonly given: readonly number[];
}

/**
 * A state dict that does not fit a model. Lists every missing, unexpected and shape-mismatched key
 * at once, so one run shows everything to fix.
 */
export class StateDictError extends Ec2tError {
  constructor(
    readonly missingKeys: readonly string[],
    readonly unexpectedKeys: readonly string[],
    readonly shapeMismatches: readonly ShapeMismatch[],
  ) {
    const parts: string[] = [];
    if (missingKeys.length > 0) parts.push(`missing keys (${missingKeys.length}): ${missingKeys.join(', ')}`);
    if (unexpectedKeys.length > 0) parts.push(`unexpected keys (${unexpectedKeys.length}): ${unexpectedKeys.join(', ')}`);
    if (shapeMismatches.length > 0) {
      parts.push(
        `shape mismatches (${shapeMismatches.length}): ` +
          shapeMismatches.map((m) => `${m.key}: checkpoint ${fmtShape(m.given)}, model ${fmtShape(m.expected)}`).join('; '),
      );
    }
    super(
      `loadStateDict: the state dict does not fit the model; ${parts.join('; ')}. ` +
        'Check that the checkpoint was saved from the same architecture and options (numClasses, width, depth); ' +
        'pass { strict: false } to ignore missing and unexpected keys (shape mismatches always fail).',
    );
  }
}

/** Options of {@link Module.loadStateDict}. */
export interface LoadStateDictOptions {
  /** Missing or unexpected keys are errors (default true). Shape mismatches are errors either way. */
  strict?: boolean;
}

/** What {@link Module.loadStateDict} did not load (only non-empty with `strict: false`). */
export interface LoadStateDictResult {
  readonly missingKeys: string[];
  readonly unexpectedKeys: string[];
}

/** The prefix `torch.nn.DataParallel` / DDP put before every key. */
const DATA_PARALLEL_PREFIX = 'module.';

/**
 * The entries of a state dict saved from DataParallel/DDP with the `module.` prefix stripped from
 * every key — only when all keys carry it (a model whose own names start with `module.` keeps them).
 * Every reader of weights goes through this, so a prefixed file loads, scores and exports alike.
 * @example stripDataParallelPrefix([['module.conv1.weight', t]]) // [['conv1.weight', t]]
 */
export function stripDataParallelPrefix<T>(entries: ReadonlyArray<readonly [string, T]>): Array<[string, T]> {
  const all = entries.length > 0 && entries.every(([k]) => k.startsWith(DATA_PARALLEL_PREFIX));
  return entries.map(([k, t]) => [all ? k.slice(DATA_PARALLEL_PREFIX.length) : k, t]);
}
const NUM_BATCHES_TRACKED = 'num_batches_tracked';

/**
 * Base class of layers and models.
 * @example
 * class Mlp extends Module {
 *   fc1 = new Linear(4, 8, { rng });
 *   fc2 = new Linear(8, 2, { rng });
 *   forward(x: Tensor): Tensor { return this.fc2.forward(relu(this.fc1.forward(x))); }
 * }
 */
export abstract class Module {
  /** Training mode (BatchNorm uses batch statistics, Dropout drops); set with {@link train} / {@link eval}. */
  training = true;

  /** The module's computation. */
  abstract forward(x: Tensor): Tensor;

  // ------------------------------------------------------------------ own members

  /** Own (non-recursive) parameters in definition order; `null` properties (e.g. `bias: null`) are skipped. */
  namedOwnParameters(): Array<[string, Parameter]> {
    const out: Array<[string, Parameter]> = [];
    for (const key of Object.keys(this)) {
      const v = (this as Record<string, unknown>)[key];
      if (v instanceof Parameter) out.push([key, v]);
    }
    return out;
  }

  /** Own (non-recursive) buffers in definition order. */
  namedOwnBuffers(): Array<[string, BufferTensor]> {
    const out: Array<[string, BufferTensor]> = [];
    for (const key of Object.keys(this)) {
      const v = (this as Record<string, unknown>)[key];
      if (v instanceof BufferTensor) out.push([key, v]);
    }
    return out;
  }

  /** Direct children with their attribute names, in definition order. */
  namedChildren(): Array<[string, Module]> {
    const out: Array<[string, Module]> = [];
    for (const key of Object.keys(this)) {
      const v = (this as Record<string, unknown>)[key];
      if (v instanceof Module) out.push([key, v]);
    }
    return out;
  }

  /** Direct children, in definition order. */
  children(): Module[] {
    return this.namedChildren().map(([, m]) => m);
  }

  // ------------------------------------------------------------------ recursive views

  /**
   * This module (named `prefix`, '' at the root) and every descendant, depth first, with dotted
   * names; a module reachable twice is listed once (as PyTorch).
   * @example for (const [name, m] of model.namedModules()) if (m instanceof Conv2d) console.log(name);
   */
  namedModules(prefix = ''): Array<[string, Module]> {
    const out: Array<[string, Module]> = [];
    const seen = new Set<Module>();
    const walk = (m: Module, name: string): void => {
      if (seen.has(m)) return;
      seen.add(m);
      out.push([name, m]);
      for (const [k, c] of m.namedChildren()) walk(c, name === '' ? k : `${name}.${k}`);
    };
    walk(this, prefix);
    return out;
  }

  /** This module and every descendant. */
  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  /**
   * Every parameter with its dotted name (`layer1.0.conv1.weight`), in state-dict order; a
   * parameter shared by two modules is listed once.
   */
  namedParameters(): Array<[string, Parameter]> {
    const out: Array<[string, Parameter]> = [];
    const seen = new Set<Tensor>();
    for (const [prefix, m] of this.namedModules()) {
      for (const [k, p] of m.namedOwnParameters()) {
        if (seen.has(p)) continue;
        seen.add(p);
        out.push([prefix === '' ? k : `${prefix}.${k}`, p]);
      }
    }
    return out;
  }

  /** Every parameter (what an optimizer steps). @example new SGD({ params: model.parameters(), lr: 0.1 }) */
  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Every buffer with its dotted name (`bn1.running_mean`). */
  namedBuffers(): Array<[string, BufferTensor]> {
    const out: Array<[string, BufferTensor]> = [];
    const seen = new Set<Tensor>();
    for (const [prefix, m] of this.namedModules()) {
      for (const [k, b] of m.namedOwnBuffers()) {
        if (seen.has(b)) continue;
        seen.add(b);
        out.push([prefix === '' ? k : `${prefix}.${k}`, b]);
      }
    }
    return out;
  }

  /** Every buffer. */
  buffers(): BufferTensor[] {
    return this.namedBuffers().map(([, b]) => b);
  }

  /** Total number of parameter elements (PyTorch's `sum(p.numel() for p in model.parameters())`). */
  numParameters(): number {
    let n = 0;
    for (const p of this.parameters()) n += p.size;
    return n;
  }

  /** The descendant at a dotted path (`'layer1.0.conv1'`); '' is this module. */
  getSubmodule(path: string): Module {
    if (path === '') return this;
    let m: Module = this;
    for (const part of path.split('.')) {
      const next = (m as unknown as Record<string, unknown>)[part];
      if (!(next instanceof Module)) {
        throw new Ec2tError(`getSubmodule: no submodule '${part}' in '${path}'; children here: ${m.namedChildren().map(([k]) => k).join(', ') || '(none)'}`);
      }
      m = next;
    }
    return m;
  }

  // ------------------------------------------------------------------ state dict

  /**
   * Parameters and buffers under PyTorch's dotted names, in PyTorch's order (per module: own
   * parameters, own buffers, then children). The tensors are the live ones (shared storage, as
   * PyTorch's `state_dict()`); clone them to snapshot. {@link dtypeOf} gives each entry's
   * checkpoint dtype.
   * @example [...model.stateDict().keys()] // ['conv1.weight', 'bn1.weight', ...]
   */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [prefix, m] of this.namedModules()) {
      const p = prefix === '' ? '' : `${prefix}.`;
      for (const [k, t] of m.namedOwnParameters()) out.set(p + k, t);
      for (const [k, t] of m.namedOwnBuffers()) out.set(p + k, t);
    }
    return out;
  }

  /**
   * Copies a state dict's values into this module's parameters and buffers, in place (optimizers
   * keep their references). Nothing is copied unless the whole dict fits.
   * - Keys all starting with `module.` (saved from DataParallel/DDP) have the prefix stripped.
   * - A missing `num_batches_tracked` is not an error and keeps its current value, as PyTorch does
   *   for checkpoints without version metadata (safetensors files have none).
   * - A one-element `[1]` tensor loads into a 0-dim `[]` entry (PyTorch's backward compatibility).
   * - `strict` (default true): missing or unexpected keys are errors; shape mismatches are errors
   *   always. A {@link StateDictError} lists every problem at once.
   * @returns the keys that were missing and unexpected (empty when strict)
   * @example model.loadStateDict(loadSafetensorsAsTensors('model.safetensors').tensors);
   */
  loadStateDict(dict: StateDictInput, options: LoadStateDictOptions = {}): LoadStateDictResult {
    const strict = options.strict ?? true;
    if (typeof dict !== 'object' || dict === null) throw new ValueError('loadStateDict', `expected a Map or an object of tensors (name → tensor), got ${dict === null ? 'null' : typeof dict}`);
    let entries: Array<[string, TensorLike]> = dict instanceof Map ? [...dict.entries()] : Object.entries(dict as Record<string, TensorLike>);
    const own = this.stateDict();
    const ownHasPrefix = [...own.keys()].some((k) => k.startsWith(DATA_PARALLEL_PREFIX));
    if (!ownHasPrefix) entries = stripDataParallelPrefix(entries);
    const given = new Map(entries);

    const missingKeys: string[] = [];
    const mismatches: ShapeMismatch[] = [];
    const toCopy: Array<[Tensor, TensorLike]> = [];
    for (const [key, target] of own) {
      const src = given.get(key);
      if (src === undefined) {
        // NOTE: PyTorch's BatchNorm fills a missing num_batches_tracked (checkpoints from before it
        // existed) with its current value instead of reporting it, even in strict mode.
        if (key === NUM_BATCHES_TRACKED || key.endsWith(`.${NUM_BATCHES_TRACKED}`)) continue;
        missingKeys.push(key);
        continue;
      }
      if (!shapesFit(target.shape, src.shape) || src.data.length !== target.size) {
        mismatches.push({ key, expected: target.shape, given: [...src.shape] });
        continue;
      }
      toCopy.push([target, src]);
    }
    const unexpectedKeys = [...given.keys()].filter((k) => !own.has(k));

    if (mismatches.length > 0 || (strict && (missingKeys.length > 0 || unexpectedKeys.length > 0))) {
      throw new StateDictError(missingKeys, unexpectedKeys, mismatches);
    }
    for (const [target, src] of toCopy) copyValues(target.data, src.data);
    return { missingKeys, unexpectedKeys };
  }

  // ------------------------------------------------------------------ modes and helpers

  /**
   * Sets training mode on this module and every descendant.
   * @example model.train(); ... model.eval();
   */
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  /** Evaluation mode (`train(false)`): BatchNorm uses running statistics, Dropout is the identity. */
  eval(): this {
    return this.train(false);
  }

  /** Clears `.grad` of every parameter. */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  /** Calls `fn` on every module (children first, then this one, as PyTorch's `apply`). */
  apply(fn: (m: Module) => void): this {
    for (const c of this.children()) c.apply(fn);
    fn(this);
    return this;
  }
}

function shapesFit(target: readonly number[], given: readonly number[]): boolean {
  if (target.length === 0 && given.length === 1 && given[0] === 1) return true;
  if (target.length !== given.length) return false;
  for (let i = 0; i < target.length; i++) if (target[i] !== given[i]) return false;
  return true;
}

function copyValues(dst: Float32Array, src: TensorLike['data']): void {
  if (src instanceof Float32Array || src instanceof Float64Array || src instanceof Int32Array) {
    dst.set(src);
    return;
  }
  // int64 checkpoints (num_batches_tracked) come as BigInt64Array; plain arrays also pass through here.
  const s = src as ArrayLike<number | bigint>;
  for (let i = 0; i < dst.length; i++) dst[i] = Number(s[i]);
}

/** A state-dict entry with an explicit int64 element type, in the shape the safetensors writer takes. */
export interface Int64Entry {
  dtype: 'I64';
  shape: number[];
  data: BigInt64Array;
}

/**
 * The state dict ready for a safetensors writer: float32 tensors as they are, int64 buffers
 * (`num_batches_tracked`) as explicit `I64` entries, so the file matches PyTorch's.
 * @example saveSafetensors('model.safetensors', stateDictForSave(model));
 */
export function stateDictForSave(module: Module): Map<string, Tensor | Int64Entry> {
  const out = new Map<string, Tensor | Int64Entry>();
  for (const [k, t] of module.stateDict()) {
    if (dtypeOf(t) === 'int64') {
      const data = new BigInt64Array(t.size);
      for (let i = 0; i < t.size; i++) data[i] = BigInt(Math.round(t.data[i]));
      out.set(k, { dtype: 'I64', shape: [...t.shape], data });
    } else out.set(k, t);
  }
  return out;
}
