/**
 * Tensor: float32, contiguous row-major storage, and the define-by-run autodiff tape.
 *
 * An op that records creates its output with a {@link GradNode}: the input tensors and a closure
 * that maps the output's gradient to the inputs' gradients. `backward()` walks the graph once in
 * reverse topological order, accumulates into `.grad` of leaves that require grad, and then
 * releases the graph (closures and saved tensors become garbage) so memory does not grow across
 * training steps.
 */
import { contiguousStrides } from '../kernels/reference/util.js';
import { GradError, ShapeError, ValueError, fmtShape } from '../base/errors.js';
import type { Rng } from '../base/rng.js';

/** Backward closure: given dL/d(output), returns dL/d(input_i) (null where an input needs none). */
export type BackwardFn = (gradOut: Float32Array) => ReadonlyArray<Float32Array | null>;

/** A recorded op on the tape. */
export interface GradNode {
  readonly op: string;
  readonly inputs: readonly Tensor[];
  readonly backward: BackwardFn;
}

let gradEnabled = true;

/** True when ops record onto the tape. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/**
 * Runs `fn` with recording off (evaluation, optimizer updates) and restores the previous state
 * even if `fn` throws.
 * @example const y = noGrad(() => model.forward(x));
 */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Number of elements of a shape; validates that every dim is a non-negative integer. */
export function numelOf(shape: readonly number[], op = 'tensor'): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new ValueError(op, `shape ${fmtShape(shape)} has an invalid dim ${d}; dims must be integers >= 0`);
    n *= d;
  }
  return n;
}

/**
 * A zero-filled float32 buffer of `shape`'s element count; a count the platform cannot allocate
 * (beyond the typed-array limit, or out of memory) is a {@link ValueError} naming `op` and the size
 * instead of a bare RangeError.
 * @example allocFloat32([2, 3], 'zeros').length // 6
 */
export function allocFloat32(shape: readonly number[], op: string): Float32Array {
  const n = numelOf(shape, op);
  try {
    return new Float32Array(n);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw new ValueError(op, `shape ${fmtShape(shape)} needs ${n} float32 values (${(n * 4 / 2 ** 30).toFixed(1)} GiB), more than can be allocated here`);
  }
}

/** Row-major strides of a contiguous shape (one implementation, shared with the kernels). */
export const stridesOf: (shape: readonly number[]) => number[] = contiguousStrides;

/** A float32 n-dimensional array that can take part in reverse-mode autodiff. */
export class Tensor {
  readonly data: Float32Array;
  readonly shape: readonly number[];
  /** Leaf flag: accumulate a gradient into `.grad` on backward. */
  requiresGrad: boolean;
  /** Accumulated gradient (same shape), null until a backward reaches this tensor. */
  grad: Tensor | null = null;
  /** The op that produced this tensor while recording; null for leaves and after release. */
  node: GradNode | null = null;

  /**
   * Wraps `data` (not copied) with `shape`.
   * @example new Tensor(new Float32Array([1, 2, 3, 4]), [2, 2])
   */
  constructor(data: Float32Array, shape: readonly number[], requiresGrad = false) {
    const n = numelOf(shape);
    if (data.length !== n) throw new ShapeError('Tensor', `data has ${data.length} elements but shape ${fmtShape(shape)} needs ${n}`);
    this.data = data;
    this.shape = Object.freeze([...shape]);
    this.requiresGrad = requiresGrad;
  }

  /** Number of elements. */
  get size(): number {
    return this.data.length;
  }

  /** Number of dims. */
  get ndim(): number {
    return this.shape.length;
  }

  /** True when this tensor takes part in autodiff (a grad-requiring leaf or recorded op output). */
  get tracked(): boolean {
    return this.requiresGrad || this.node !== null;
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.data.length !== 1) throw new ShapeError('item', `expected a one-element tensor, got shape ${fmtShape(this.shape)}`);
    return this.data[0];
  }

  /** Nested JS arrays (for printing and tests). */
  toArray(): unknown {
    const rec = (dim: number, offset: number): unknown => {
      if (dim === this.shape.length) return this.data[offset];
      const stride = stridesOf(this.shape)[dim];
      const out: unknown[] = [];
      for (let i = 0; i < this.shape[dim]; i++) out.push(rec(dim + 1, offset + i * stride));
      return out;
    };
    return rec(0, 0);
  }

  /** A tensor sharing storage but cut from the graph (no gradient flows through it). */
  detach(): Tensor {
    return new Tensor(this.data, this.shape, false);
  }

  /** A copy with its own storage, cut from the graph. */
  clone(): Tensor {
    return new Tensor(this.data.slice(), this.shape, false);
  }

  /** Sets `.grad` to null (gradients otherwise accumulate across backward calls). */
  zeroGrad(): void {
    this.grad = null;
  }

  /**
   * Reverse-mode autodiff from this tensor. Without `gradient` the tensor must hold one element
   * (a loss). After the call the graph is released; call it once per forward.
   * @example loss.backward(); optimizer.step();
   */
  backward(gradient?: Tensor | Float32Array): void {
    let seed: Float32Array;
    if (gradient === undefined) {
      if (this.size !== 1) throw new GradError(`backward() without a gradient needs a scalar; this tensor has shape ${fmtShape(this.shape)}. Pass the upstream gradient, or reduce to a scalar (e.g. mean) first.`);
      seed = new Float32Array([1]);
    } else {
      seed = gradient instanceof Tensor ? gradient.data : gradient;
      if (seed.length !== this.size) throw new GradError(`backward(gradient): gradient has ${seed.length} elements, tensor has shape ${fmtShape(this.shape)}`);
    }
    if (!this.tracked) throw new GradError('backward() on a tensor that does not require grad and was not produced by a recorded op (was it computed inside noGrad, or from detached inputs?)');
    runBackward(this, seed);
  }
}

/** Topological order (inputs before outputs) of the recorded graph reachable from `root`. */
function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  // Iterative DFS: deep nets (ResNet-56) would overflow a recursive walk's stack in some runtimes.
  const stack: Array<[Tensor, number]> = [[root, 0]];
  visited.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    const inputs = t.node?.inputs ?? [];
    if (i < inputs.length) {
      top[1] = i + 1;
      const child = inputs[i];
      if (!visited.has(child) && child.tracked) {
        visited.add(child);
        stack.push([child, 0]);
      }
    } else {
      order.push(t);
      stack.pop();
    }
  }
  return order;
}

function runBackward(root: Tensor, seed: Float32Array): void {
  const order = topoOrder(root);
  const grads = new Map<Tensor, Float32Array>();
  // Pending gradients per backing buffer: a recycled buffer must not back any gradient still to be used.
  const pending = new Map<ArrayBufferLike, number>();
  const hold = (b: Float32Array): void => { pending.set(b.buffer, (pending.get(b.buffer) ?? 0) + 1); };
  const drop = (b: Float32Array): void => { pending.set(b.buffer, (pending.get(b.buffer) ?? 1) - 1); };
  const free = (b: Float32Array): void => { if ((pending.get(b.buffer) ?? 0) <= 0) recycleGradBuffer(b); };
  grads.set(root, seed);
  hold(seed);
  const owned = new Set<Float32Array>();
  for (let idx = order.length - 1; idx >= 0; idx--) {
    const t = order[idx];
    const g = grads.get(t);
    grads.delete(t);
    if (g === undefined) continue;
    drop(g);
    // NOTE: once handed to the backward closure, `g` may come back as the gradient of several
    // inputs (add passes it through to both), so it is no longer exclusively ours to add into.
    owned.delete(g);
    if (t.requiresGrad && t.node === null) {
      // NOTE: copy, since ops may hand the same buffer to several inputs (add returns gradOut twice).
      if (t.grad === null) t.grad = new Tensor(g.slice(), t.shape);
      else {
        const acc = t.grad.data;
        for (let i = 0; i < acc.length; i++) acc[i] += g[i];
      }
    }
    const node = t.node;
    if (node === null) {
      free(g);
      continue;
    }
    const inGrads = gradEnabledBackward(node, g);
    for (let k = 0; k < node.inputs.length; k++) {
      const input = node.inputs[k];
      const ig = inGrads[k];
      if (ig === null || ig === undefined || !input.tracked) continue;
      if (ig.length !== input.size) throw new GradError(`internal: ${node.op} backward returned ${ig.length} gradient values for input ${k} of shape ${fmtShape(input.shape)}`);
      const prev = grads.get(input);
      if (prev === undefined) {
        grads.set(input, ig);
        hold(ig);
      } else if (owned.has(prev)) addInto(prev, ig);
      else {
        // NOTE: a gradient buffer may be shared between inputs (add hands gradOut to both sides), so
        // the first fan-in takes a buffer this walk owns and later ones add into it.
        const sum = gradBuffer(prev.length);
        sum.set(prev);
        addInto(sum, ig);
        drop(prev);
        free(prev);
        owned.add(sum);
        grads.set(input, sum);
        hold(sum);
      }
    }
    if (t.requiresGrad && t.node !== null) {
      // Non-leaf that asked for its grad (retain-grad semantics).
      t.grad = new Tensor(g.slice(), t.shape);
    }
    // Fan-in addends and this node's own gradient are dead unless a pending gradient shares their buffer.
    for (let k = 0; k < inGrads.length; k++) {
      const ig = inGrads[k];
      if (ig !== null && ig !== undefined && grads.get(node.inputs[k]) !== ig) free(ig);
    }
    free(g);
  }
  // Release: drop closures so saved activations become garbage.
  for (const t of order) t.node = null;
}

/**
 * Gradient buffers a backward walk has finished with, by length, for {@link gradBuffer} to hand out
 * again: a ResNet-20 step at batch 128 otherwise allocates (and the collector frees) a 2–8 MiB
 * zero-filled buffer per op gradient.
 */
const gradPool = new Map<number, Float32Array[]>();
/** Buffers {@link gradBuffer} allocated: only these are ever recycled (never a caller's or a view's). */
const issuedBuffers = new WeakSet<ArrayBufferLike>();
/** Buffers now in {@link gradPool}, so one is never pooled twice (and handed out to two owners). */
const pooledBuffers = new WeakSet<ArrayBufferLike>();
let pooledBytes = 0;
/** Cap on the bytes the pool keeps between backward walks. */
const GRAD_POOL_MAX_BYTES = 256 * 1024 * 1024;

/**
 * A zero-filled float32 buffer of `n` elements for a backward closure's input gradient, recycled from
 * earlier gradients of the same length where the tape has finished with one. The closure must return
 * it as a gradient and keep no other reference to it.
 * @example const gx = gradBuffer(x.size); kernel('unaryBackward', n)(op, x.data, out, g, gx); return [gx];
 */
export function gradBuffer(n: number): Float32Array {
  const b = gradPool.get(n)?.pop();
  if (b !== undefined) {
    pooledBuffers.delete(b.buffer);
    pooledBytes -= b.byteLength;
    return b.fill(0);
  }
  const fresh = new Float32Array(n);
  issuedBuffers.add(fresh.buffer);
  return fresh;
}

/** Returns a finished gradient to the pool when {@link gradBuffer} issued it whole and it is not pooled yet. */
function recycleGradBuffer(b: Float32Array): void {
  if (!issuedBuffers.has(b.buffer) || pooledBuffers.has(b.buffer) || b.byteOffset !== 0 || b.byteLength !== b.buffer.byteLength) return;
  if (b.length === 0 || pooledBytes + b.byteLength > GRAD_POOL_MAX_BYTES) return;
  let list = gradPool.get(b.length);
  if (list === undefined) gradPool.set(b.length, (list = []));
  list.push(b);
  pooledBuffers.add(b.buffer);
  pooledBytes += b.byteLength;
}

/** Op outputs of at least this many floats (64 KiB) come from the activation pool inside a {@link recycleActivations} scope. */
const MIN_POOLED_OUTPUT = 1 << 14;
/** Cap on the bytes the activation pool keeps between scopes. */
const ACTIVATION_POOL_MAX_BYTES = 1024 * 1024 * 1024;
const activationPool = new Map<number, Float32Array[]>();
let activationPoolBytes = 0;
/** Output buffers handed out in the running scope (null: no scope). */
let activationScope: Float32Array[] | null = null;

/**
 * A zero-filled float32 buffer of `n` elements for an op's output: a fresh one, or inside a
 * {@link recycleActivations} scope one that an earlier scope gave back. NOTE: fresh large buffers
 * are costly here: the first write to a new 8 MiB array took 11 ms against 0.6 ms for a reused one
 * (page faults on this VM), and a ResNet-20 training step at batch 128 makes about 240 MB of them.
 * @example const out = outputBuffer(x.size); kernel('unary', x.size)(op, x.data, out);
 */
export function outputBuffer(n: number): Float32Array {
  if (activationScope === null || n < MIN_POOLED_OUTPUT) return new Float32Array(n);
  const reused = activationPool.get(n)?.pop();
  let out: Float32Array;
  if (reused !== undefined) {
    activationPoolBytes -= reused.byteLength;
    out = reused.fill(0);
  } else out = new Float32Array(n);
  activationScope.push(out);
  return out;
}

/**
 * Runs `fn` (one training step: forward, backward, update) with large op outputs drawn from and
 * given back to a pool: when `fn` returns or throws, every output buffer an op made inside is reused
 * by the next scope. The contract: nothing made inside — no tensor, no `.data` — is used after `fn`
 * returns (return plain numbers). Parameters, gradients and optimizer state are not op outputs and
 * are unaffected; results are bit-identical with or without the scope. Nested calls join the outer scope.
 * @example const { loss } = recycleActivations(() => { const l = crossEntropy(net.forward(x), y); l.backward(); opt.step(); return { loss: l.item() }; });
 */
export function recycleActivations<T>(fn: () => T): T {
  if (activationScope !== null) return fn();
  const mine: Float32Array[] = [];
  activationScope = mine;
  try {
    return fn();
  } finally {
    activationScope = null;
    for (const b of mine) {
      if (activationPoolBytes + b.byteLength > ACTIVATION_POOL_MAX_BYTES) continue;
      let list = activationPool.get(b.length);
      if (list === undefined) activationPool.set(b.length, (list = []));
      list.push(b);
      activationPoolBytes += b.byteLength;
    }
  }
}

function gradEnabledBackward(node: GradNode, g: Float32Array): ReadonlyArray<Float32Array | null> {
  // Backward math itself is never recorded (no double backward).
  return noGrad(() => node.backward(g));
}

function addInto(acc: Float32Array, x: Float32Array): Float32Array {
  for (let i = 0; i < acc.length; i++) acc[i] += x[i];
  return acc;
}

/**
 * Creates an op output and, when recording and any input is tracked, attaches its node.
 * Ops call this; users do not.
 */
export function makeResult(op: string, data: Float32Array, shape: readonly number[], inputs: readonly Tensor[], backward: BackwardFn): Tensor {
  const out = new Tensor(data, shape);
  if (gradEnabled && inputs.some((t) => t.tracked)) out.node = { op, inputs, backward };
  return out;
}

/** True when recording is on and some input is tracked: ops skip saving state otherwise. */
export function needsGrad(...inputs: Tensor[]): boolean {
  return gradEnabled && inputs.some((t) => t.tracked);
}

// ---------------------------------------------------------------- creation

/** Tensor of zeros. @example zeros([2, 3]) */
export function zeros(shape: readonly number[], requiresGrad = false): Tensor {
  return new Tensor(allocFloat32(shape, 'zeros'), shape, requiresGrad);
}

/** Tensor of ones. */
export function ones(shape: readonly number[], requiresGrad = false): Tensor {
  return full(shape, 1, requiresGrad);
}

/** Tensor filled with `value`. */
export function full(shape: readonly number[], value: number, requiresGrad = false): Tensor {
  return new Tensor(allocFloat32(shape, 'full').fill(value), shape, requiresGrad);
}

/** 1-D tensor `start, start+step, ...` below `end` (NumPy's arange). @example arange(0, 5) */
export function arange(start: number, end?: number, step = 1): Tensor {
  if (end === undefined) {
    end = start;
    start = 0;
  }
  if (step === 0) throw new ValueError('arange', 'step must not be 0');
  const n = Math.max(0, Math.ceil((end - start) / step));
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = start + i * step;
  return new Tensor(d, [n]);
}

type Nested = number | readonly Nested[];

/**
 * Tensor from nested arrays or a flat array plus shape.
 * @example tensor([[1, 2], [3, 4]]); tensor([1, 2, 3, 4], [2, 2])
 */
export function tensor(values: Nested | Float32Array | readonly number[], shape?: readonly number[], requiresGrad = false): Tensor {
  if (values instanceof Float32Array) return new Tensor(values, shape ?? [values.length], requiresGrad);
  if (shape !== undefined) {
    const flat = (values as readonly Nested[]).flat(Infinity as 1) as number[];
    return new Tensor(Float32Array.from(flat), shape, requiresGrad);
  }
  const inferred: number[] = [];
  let v: Nested = values as Nested;
  while (Array.isArray(v)) {
    inferred.push(v.length);
    v = (v as readonly Nested[])[0];
  }
  const flat = typeof values === 'number' ? [values] : ((values as readonly Nested[]).flat(Infinity as 1) as number[]);
  if (flat.length !== numelOf(inferred)) throw new ShapeError('tensor', `ragged nested array: shape ${fmtShape(inferred)} implies ${numelOf(inferred)} values, found ${flat.length}`);
  return new Tensor(Float32Array.from(flat), inferred, requiresGrad);
}

/** Uniform draws in [low, high) from `rng`. */
export function uniform(shape: readonly number[], low: number, high: number, rng: Rng, requiresGrad = false): Tensor {
  const d = allocFloat32(shape, 'uniform');
  for (let i = 0; i < d.length; i++) d[i] = rng.uniformRange(low, high);
  return new Tensor(d, shape, requiresGrad);
}

/** Uniform draws in [0, 1). */
export function rand(shape: readonly number[], rng: Rng, requiresGrad = false): Tensor {
  return uniform(shape, 0, 1, rng, requiresGrad);
}

/** Normal draws with mean `mean` and standard deviation `std`. */
export function randn(shape: readonly number[], rng: Rng, requiresGrad = false, mean = 0, std = 1): Tensor {
  const d = allocFloat32(shape, 'randn');
  for (let i = 0; i < d.length; i++) d[i] = mean + std * rng.normal();
  return new Tensor(d, shape, requiresGrad);
}
