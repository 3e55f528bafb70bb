/**
 * Buffer plan of an inference program for one input shape: the buffer ("slot") every op reads and
 * writes, chosen once so that a `predict` call allocates nothing. Pure data over the program's
 * shape walk; the runtime (./index.ts) owns the buffers.
 *
 * Rules (registers are values, docs/FORMAT.md "Program"; buffers are storage):
 * - `save` and `flatten` write no data: their value shares the source's slot.
 * - `relu`, `relu6`, `swish`, `sigmoid`, `affine`, `add` and `mul` are elementwise, so they write
 *   over their source's slot (for `add`, either operand's; `mul`'s other may be smaller) when no
 *   value still to be read lives there.
 * - Everything else (convs, linears, pooling, shortcuts) gets a slot that holds no live value:
 *   a freed one (grown when too small) or a new one. Slot 0 is the caller's input and is never written.
 */
import { inferShapes, opDst, opSrc, type Program, type ProgramOp } from './program.js';

/** One op with its shapes and slots. */
export interface PlannedStep {
  readonly index: number;
  readonly op: ProgramOp;
  readonly inShape: readonly number[];
  readonly outShape: readonly number[];
  /** Elements of the output. */
  readonly size: number;
  /** Slot read (0 = the caller's input). */
  readonly src: number;
  /** Slot of `other` (add, mul), else −1. */
  readonly other: number;
  /** Elements of `other` (add, mul), else 0. */
  readonly otherSize: number;
  /** Slot written; `src` for `save`/`flatten` (nothing is written) and for in-place ops. */
  readonly dst: number;
}

/** The plan of a whole program for one input shape. */
export interface BufferPlan {
  readonly steps: readonly PlannedStep[];
  /** Float capacity of every slot; slot 0 is the input. */
  readonly capacity: readonly number[];
  /** Slot holding the output after the last step, and its shape. */
  readonly outSlot: number;
  readonly outShape: readonly number[];
}

const ALIAS = new Set<ProgramOp['op']>(['save', 'flatten']);
const IN_PLACE = new Set<ProgramOp['op']>(['relu', 'relu6', 'swish', 'sigmoid', 'affine', 'add', 'mul']);

function numel(s: readonly number[]): number {
  return s.reduce((a, b) => a * b, 1);
}

/**
 * Plans the buffers of `program` for `inputShape` (throws the ShapeError of {@link inferShapes}
 * when the input does not fit).
 * @example planBuffers(program, [32, 3, 32, 32]).capacity.length // a handful of slots, not one per op
 */
export function planBuffers(program: Program, inputShape: readonly number[]): BufferPlan {
  const { before, after } = inferShapes(program, inputShape);
  const ops = program.ops;
  // Value v is the tensor op v−1 writes (v = 0: the input); lastRead[v] is the last op reading it.
  const lastRead = new Array<number>(ops.length + 1).fill(-1);
  const regVal = new Map<string, number>([['x', 0]]);
  const val = (reg: string): number => regVal.get(reg) as number;
  ops.forEach((op, i) => {
    lastRead[val(opSrc(op))] = i;
    if (op.op === 'add' || op.op === 'mul') lastRead[val(op.other)] = i;
    regVal.set(opDst(op), i + 1);
  });
  lastRead[val('x')] = Number.POSITIVE_INFINITY;

  const capacity = [numel(inputShape)];
  const slotOf = new Array<number>(ops.length + 1);
  slotOf[0] = 0;
  const live = new Map<number, Set<number>>([[0, new Set([0])]]);
  const free: number[] = [];
  const deadAfter = (slot: number, i: number): boolean => slot !== 0 && [...(live.get(slot) ?? [])].every((v) => lastRead[v] <= i);
  const steps: PlannedStep[] = [];
  regVal.clear();
  regVal.set('x', 0);
  ops.forEach((op, i) => {
    const src = slotOf[val(opSrc(op))];
    const other = op.op === 'add' || op.op === 'mul' ? slotOf[val(op.other)] : -1;
    const otherSize = op.op === 'add' || op.op === 'mul' ? numel(after[val(op.other) - 1] ?? inputShape) : 0;
    const size = numel(after[i]);
    let dst: number;
    if (ALIAS.has(op.op)) dst = src;
    else if (IN_PLACE.has(op.op) && deadAfter(src, i)) dst = src;
    else if (op.op === 'add' && deadAfter(other, i)) dst = other;
    else {
      // Best fit among the free slots; otherwise grow the largest free one, or open a new slot.
      let best = -1;
      for (let k = 0; k < free.length; k++) {
        const c = capacity[free[k]];
        if (best < 0) best = k;
        else {
          const b = capacity[free[best]];
          if ((c >= size && (b < size || c < b)) || (b < size && c > b)) best = k;
        }
      }
      if (best >= 0) {
        dst = free[best];
        free.splice(best, 1);
        capacity[dst] = Math.max(capacity[dst], size);
      } else {
        dst = capacity.length;
        capacity.push(size);
      }
    }
    slotOf[i + 1] = dst;
    if (!live.has(dst)) live.set(dst, new Set());
    (live.get(dst) as Set<number>).add(i + 1);
    regVal.set(opDst(op), i + 1);
    steps.push({ index: i, op, inShape: before[i], outShape: after[i], size, src, other, otherSize, dst });
    // Values read for the last time (or never read) free their slot once nothing else lives there.
    for (const [slot, vals] of live) {
      for (const v of vals) if (lastRead[v] <= i) vals.delete(v);
      if (vals.size === 0 && slot !== 0) {
        live.delete(slot);
        free.push(slot);
      }
    }
  });
  return { steps, capacity, outSlot: slotOf[val('x')], outShape: after[after.length - 1] };
}
