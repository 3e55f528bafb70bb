/**
 * Dead-channel removal (docs/FORMAT.md): a ternary layer's all-zero output rows produce a constant
 * channel; where the graph lets that constant fold exactly into the consumer's bias, the row and the
 * consumer's matching inputs are dropped.
 */
import { f16ToF32, f32BitsToF16 } from '../../base/float16.js';
import type { ProgramOp } from '../runtime/program.js';
import { isDepthwise, isPadded, type IRLayer, type IROp } from './ir.js';

/** Row m of a layer's current weights is all zero. */
export function deadRows(L: IRLayer): number[] {
  const M = L.shape[0];
  const data = L.ternary ? (L.assign as Int8Array) : (L.w as Float32Array);
  const per = data.length / M;
  const dead: number[] = [];
  for (let m = 0; m < M; m++) {
    let nz = false;
    for (let k = m * per; k < (m + 1) * per && !nz; k++) nz = data[k] !== 0;
    if (!nz) dead.push(m);
  }
  return dead;
}

function readsReg(op: IROp, reg: string): boolean {
  if (op.t === 'layer' || op.t === 'bn') return op.src === reg;
  return (op.op.src ?? 'x') === reg || ((op.op.op === 'add' || op.op.op === 'mul') && op.op.other === reg);
}

function writesReg(op: IROp, reg: string): boolean {
  if (op.t === 'layer' || op.t === 'bn') return op.dst === reg;
  return (op.op.dst ?? 'x') === reg;
}

/** The consumer a ternary layer's output flows into through channel-wise ops only, or why not. */
interface Chain {
  consumer: number;
  /** Channel-wise ops between (relu/relu6/pool/flatten), applied to a constant channel value. */
  between: ProgramOp[];
  /** Features per channel at the consumer (spatial size at a flatten, 1 for a conv). */
  perChannel: number;
}

function findChain(ops: IROp[], i: number, before: number[][]): Chain | string {
  const P = ops[i] as Extract<IROp, { t: 'layer' }>;
  const r = P.dst;
  const between: ProgramOp[] = [];
  let perChannel = 1;
  for (let j = i + 1; j < ops.length; j++) {
    const o = ops[j];
    if (o.t === 'layer') {
      if (o.src !== r) return 'output not consumed by the next layer';
      if (o.L.groups !== 1 && !isDepthwise(o.L)) return 'grouped (not depthwise) consumer';
      // The register must not be read again before it is rewritten.
      if (o.dst !== r) {
        for (let k = j + 1; k < ops.length; k++) {
          if (readsReg(ops[k], r)) return 'output also used elsewhere';
          if (writesReg(ops[k], r)) break;
        }
      }
      return { consumer: j, between, perChannel };
    }
    if (o.t === 'bn') return 'followed by an unfolded batch norm';
    const p = o.op;
    if ((p.op === 'save' || p.op === 'add') && ((p.src ?? 'x') === r || (p.op === 'add' && p.other === r))) return 'output feeds a residual connection';
    if ((p.src ?? 'x') !== r || (p.dst ?? 'x') !== r) return `output flows into a ${p.op} on another register`;
    if (p.op === 'relu' || p.op === 'relu6' || p.op === 'globalavgpool' || p.op === 'maxpool' || (p.op === 'avgpool' && p.padding[0] === 0 && p.padding[1] === 0)) {
      between.push(p);
      continue;
    }
    if (p.op === 'flatten') {
      const s = before[j];
      perChannel = s.slice(2).reduce((a, b) => a * b, 1);
      between.push(p);
      continue;
    }
    return p.op === 'add' || p.op === 'save' ? 'output feeds a residual connection' : `output flows into ${p.op}`;
  }
  return 'network output';
}

function constantThrough(v: number, between: ProgramOp[]): number {
  for (const p of between) {
    if (p.op === 'relu') v = v > 0 ? v : 0;
    else if (p.op === 'relu6') v = v > 0 ? (v < 6 ? v : 6) : 0;
  }
  return v;
}

/** Σ of row `j`'s effective weights over flat indices `[base, base + len)` (ternary: centroids × folded scale). */
function sliceSum(L: IRLayer, j: number, base: number, len: number): number {
  if (L.ternary) {
    const a = L.assign as Int8Array;
    let np = 0;
    let nn = 0;
    for (let k = base; k < base + len; k++) {
      if (a[k] === 1) np++;
      else if (a[k] === -1) nn++;
    }
    return (L.wp * np - L.wn * nn) * (L.scale ? L.scale[j] : 1);
  }
  const w = L.w as Float32Array;
  let acc = 0;
  for (let k = base; k < base + len; k++) acc += w[k];
  return acc;
}

/** Adds the contribution of constant input channels `{m: value}` to consumer `C`'s bias (`S` features per channel for a linear after a flatten). */
function foldConstantInputs(C: IRLayer, constants: ReadonlyArray<{ m: number; v: number }>, S: number): void {
  const Mc = C.shape[0];
  const perC = C.shape.slice(1).reduce((a, b) => a * b, 1);
  const sliceLen = C.op === 'conv' ? C.shape[2] * C.shape[3] : S;
  for (const { m, v } of constants) {
    if (v === 0) continue;
    if (C.bias === null) C.bias = new Float64Array(Mc);
    for (let j = 0; j < Mc; j++) C.bias[j] += v * sliceSum(C, j, j * perC + m * sliceLen, sliceLen);
  }
}

/** Drops output rows `rm` of a layer (weights, bias, scale, kept indices); a depthwise conv loses those groups. */
function dropRows(L: IRLayer, rm: ReadonlySet<number>): void {
  const depthwise = isDepthwise(L);
  const keepRows = Array.from({ length: L.shape[0] }, (_, m) => m).filter((m) => !rm.has(m));
  const src = (L.ternary ? L.assign : L.w) as Int8Array | Float32Array;
  const per = src.length / L.shape[0];
  const dst = L.ternary ? new Int8Array(keepRows.length * per) : new Float32Array(keepRows.length * per);
  keepRows.forEach((m, q) => dst.set(src.subarray(m * per, (m + 1) * per) as never, q * per));
  if (L.ternary) L.assign = dst as Int8Array;
  else L.w = dst as Float32Array;
  if (L.bias) L.bias = Float64Array.from(keepRows, (m) => (L.bias as Float64Array)[m]);
  if (L.scale) L.scale = Float64Array.from(keepRows, (m) => (L.scale as Float64Array)[m]);
  L.keptOut = keepRows.map((m) => L.keptOut[m]);
  L.shape[0] = keepRows.length;
  if (depthwise) L.groups = keepRows.length;
}

/** Drops input channels `rm` of a (groups = 1) consumer: channel m ↔ dim-1 entries m·S … m·S+S−1 for a linear after a flatten. */
function dropInputs(C: IRLayer, rm: ReadonlySet<number>, S: number): void {
  const Mc = C.shape[0];
  const inPer = C.op === 'conv' ? 1 : S;
  const keepIn: number[] = [];
  for (let c = 0; c < C.shape[1] / inPer; c++) if (!rm.has(c)) for (let k = 0; k < inPer; k++) keepIn.push(c * inPer + k);
  const tail = C.op === 'conv' ? C.shape[2] * C.shape[3] : 1;
  const src = (C.ternary ? C.assign : C.w) as Int8Array | Float32Array;
  const dst = C.ternary ? new Int8Array(Mc * keepIn.length * tail) : new Float32Array(Mc * keepIn.length * tail);
  for (let j = 0; j < Mc; j++) {
    keepIn.forEach((c, q) => dst.set(src.subarray((j * C.shape[1] + c) * tail, (j * C.shape[1] + c + 1) * tail) as never, (j * keepIn.length + q) * tail));
  }
  if (C.ternary) C.assign = dst as Int8Array;
  else C.w = dst as Float32Array;
  C.keptIn = keepIn.map((c) => C.keptIn[c]);
  C.shape[1] = keepIn.length;
}

/** Dead output channels of one layer: removed, and kept because removal was unsafe (with the reason). */
export interface DeadChannelReport {
  layer: string;
  removed: number[];
  kept: number[];
  reason?: string;
}

/** Removes dead output channels of ternary layers where exact (see docs/FORMAT.md). */
export function pruneDeadChannels(ops: IROp[], before: number[][], float16: boolean): DeadChannelReport[] {
  const report: DeadChannelReport[] = [];
  const round = float16 ? roundF16 : Math.fround;
  const layerAt = (j: number): IRLayer => (ops[j] as Extract<IROp, { t: 'layer' }>).L;
  for (let i = 0; i < ops.length; i++) {
    const o = ops[i];
    if (o.t !== 'layer' || !o.L.ternary) continue;
    const P = o.L;
    const dead = deadRows(P);
    if (dead.length === 0) continue;
    // A depthwise layer's output m is tied to its input m, which the layer before still produces.
    const chain = isDepthwise(P) ? 'depthwise layer (group m reads input channel m, still produced upstream)' : findChain(ops, i, before);
    if (typeof chain === 'string') {
      report.push({ layer: P.name, removed: [], kept: dead.map((m) => P.keptOut[m]), reason: chain });
      continue;
    }
    const C = layerAt(chain.consumer);
    // A depthwise consumer's group m reads channel m only: a constant channel m makes its output m
    // constant too (its bias when the constant is 0, or any constant when unpadded). Then the
    // channel goes through C — P's row, C's group — and the constant folds into the layer D after C.
    let next: { chain: Chain; D: IRLayer } | null = null;
    if (isDepthwise(C)) {
      const c2 = findChain(ops, chain.consumer, before);
      const why = typeof c2 === 'string' ? c2 : isDepthwise(layerAt(c2.consumer)) ? 'feeds another depthwise conv' : null;
      if (typeof c2 === 'string' || why !== null) {
        report.push({ layer: P.name, removed: [], kept: dead.map((m) => P.keptOut[m]), reason: `depthwise consumer ${C.name}: ${why}` });
        continue;
      }
      next = { chain: c2, D: layerAt(c2.consumer) };
    }
    const remove: number[] = [];
    const keepDead: number[] = [];
    const folds: Array<{ m: number; v: number }> = [];
    let reason = 'constant non-zero channel into a zero-padded conv';
    for (const m of dead) {
      // A dead filter outputs its (folded) bias: a constant channel.
      const v = constantThrough(P.bias ? round(P.bias[m]) : 0, chain.between);
      if (v !== 0 && isPadded(C)) {
        keepDead.push(m);
        continue;
      }
      if (next === null) {
        folds.push({ m, v });
        remove.push(m);
        continue;
      }
      const k2 = C.shape[2] * C.shape[3];
      const cb = C.bias ? round(C.bias[m]) : 0;
      const u = constantThrough(v === 0 ? cb : round(v * sliceSum(C, m, m * k2, k2) + cb), next.chain.between);
      if (u !== 0 && isPadded(next.D)) {
        keepDead.push(m);
        reason = `constant non-zero channel after depthwise ${C.name} into a zero-padded conv`;
        continue;
      }
      folds.push({ m, v: u });
      remove.push(m);
    }
    if (remove.length === P.shape[0]) {
      // A layer keeps at least one output (a register needs ≥ 1 channel); keeping is always exact.
      keepDead.push(remove.pop() as number);
      folds.pop();
    }
    const origRemoved = remove.map((m) => P.keptOut[m]);
    const origKept = keepDead.map((m) => P.keptOut[m]);
    if (remove.length > 0) {
      const rm = new Set(remove);
      if (next === null) {
        foldConstantInputs(C, folds, chain.perChannel);
        dropRows(P, rm);
        dropInputs(C, rm, chain.perChannel);
      } else {
        foldConstantInputs(next.D, folds, next.chain.perChannel);
        const cRemoved = remove.map((m) => C.keptOut[m]);
        dropRows(P, rm);
        dropRows(C, rm);
        dropInputs(next.D, rm, next.chain.perChannel);
        report.push({ layer: C.name, removed: cRemoved, kept: [], reason: `depthwise groups whose input (a dead channel of ${P.name}) was removed` });
      }
    }
    report.push({ layer: P.name, removed: origRemoved, kept: origKept, ...(keepDead.length ? { reason } : {}) });
  }
  return report;
}

const f16scratch = new Float32Array(1);
const f16bits = new Uint32Array(f16scratch.buffer);
/** Rounds to the nearest float16 value (as the file will store it). */
function roundF16(x: number): number {
  // Round through the writer's conversion so the folded constant matches the stored bias.
  f16scratch[0] = x;
  return f16ToF32(f32BitsToF16(f16bits[0]));
}
