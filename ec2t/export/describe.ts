/**
 * The layer list ec2t/score.ts scores, read off the same IR packing builds, so the score counts
 * what the packed file computes.
 */
import type { SafetensorEntry } from '../../nn/safetensors.js';
import { inferShapes } from '../runtime/program.js';
import type { ScoreLayer } from '../score.js';
import { deadRows } from './dead.js';
import { Reader, isDepthwise, provisionalProgram, regsOf, type IROp } from './ir.js';
import { lowerModel } from './lower.js';
import { inputOf, makeModel, recognizeTernaryValued } from './model.js';
import { packModel } from './pack.js';
import { prunedFloatLayersOf, withoutTernarySiblings } from './siblings.js';

/**
 * The layer list ec2t/score.ts scores, built from the model (and a state dict: ternary layers
 * detected by `.assignment` siblings, dead channels from the assignments) at `inputSize`.
 * Depthwise groups that `packModel` (float32) removes with a dead input channel are given as
 * `removedGroups` (and `removedChannels` on their batch norm), so they count nothing.
 * @example scoreNetwork(describeForScore('resnet20', {}, sd, 32))
 */
export function describeForScore(modelName: string, modelOptions: Record<string, unknown>, weights: Map<string, SafetensorEntry> | null, inputSize?: number): ScoreLayer[] {
  const model = makeModel(modelName, modelOptions);
  let stateDict = weights === null ? null : recognizeTernaryValued(modelName, weights, modelOptions).stateDict;
  // ECP layers are pruned float layers: scored as such (non-zeros at 32 bits plus a bitmask).
  const prunedLayers = stateDict === null ? [] : prunedFloatLayersOf(stateDict);
  if (stateDict !== null) stateDict = withoutTernarySiblings(stateDict, prunedLayers);
  let sd = stateDict;
  if (sd === null) {
    sd = new Map();
    for (const [k, t] of model.stateDict()) sd.set(k, { dtype: 'F32', shape: [...t.shape], data: t.data });
  }
  const r = new Reader(sd, 'weights');
  const ir = lowerModel(modelName, model, r);
  const base = inputOf(modelName, model, modelOptions);
  const side = inputSize ?? base.height;
  const input = { channels: base.channels, height: side, width: side };
  // Shapes with every batch norm as a (channel-preserving) affine op.
  const shapeOps: IROp[] = ir.map((o) => (o.t === 'bn' ? { t: 'plain', op: { op: 'relu', ...regsOf(o.src, o.dst) } } : o));
  const last = ir[ir.length - 1] as Extract<IROp, { t: 'layer' }>;
  const { before, after } = inferShapes(provisionalProgram(modelName, shapeOps, input, last.L.shape[0]), [1, input.channels, side, side]);
  const layers: ScoreLayer[] = [];
  // Depthwise groups packModel removes with their input (a dead channel whose constant it folds
  // onward), read off its own report so the score counts what the packed file computes; dead
  // channels it keeps (a non-zero constant into a padded depthwise conv) leave their group counted.
  const removedBy = new Map<string, number[]>();
  const isLayer = (o: IROp): o is Extract<IROp, { t: 'layer' }> => o.t === 'layer';
  if (stateDict !== null && ir.some((o) => isLayer(o) && isDepthwise(o.L)) && ir.some((o) => isLayer(o) && o.L.ternary && deadRows(o.L).length > 0)) {
    const depthwise = new Set(ir.filter((o) => isLayer(o) && isDepthwise(o.L)).map((o) => (o as Extract<IROp, { t: 'layer' }>).L.name));
    for (const d of packModel(modelName, modelOptions, stateDict, { source: 'weights' }).dead) if (depthwise.has(d.layer) && d.removed.length > 0) removedBy.set(d.layer, d.removed);
  }
  // Dead outputs of the ternary layer feeding each register (reset by residual joins); `removed`:
  // how many of them are removed depthwise groups.
  const deadOf = new Map<string, { dead: number; perChannel: number; removed?: number; channels?: number[] }>();
  ir.forEach((o, i) => {
    const s = before[i];
    const a = after[i];
    if (o.t === 'layer') {
      const L = o.L;
      const feed = deadOf.get(o.src);
      const dw = isDepthwise(L);
      const removedGroups = dw ? (removedBy.get(L.name) ?? []) : [];
      const gone = new Set(removedGroups);
      // A depthwise conv's dead inputs are whole groups: removed ones in removedGroups, kept ones computed.
      const deadIn = feed && !dw ? feed.dead * (L.op === 'linear' ? feed.perChannel : 1) : 0;
      const dOut = L.ternary ? deadRows(L).filter((m) => !gone.has(m)).length : 0;
      const prunedNz = prunedLayers.includes(L.name) ? { pruned: { nonzeros: (sd.get(`${L.name}.weight`)?.data as Float32Array).reduce((n, v) => n + (v !== 0 ? 1 : 0), 0) } } : {};
      // Which inputs are dead (a linear after a flatten: every feature of a dead channel).
      const deadInChannels = feed?.channels !== undefined && !dw ? feed.channels.flatMap((m) => Array.from({ length: L.op === 'linear' ? feed.perChannel : 1 }, (_, k) => m * (L.op === 'linear' ? feed.perChannel : 1) + k)) : undefined;
      const ternary = { assignment: L.assign as Int8Array, deadIn, wp: L.wp, wn: L.wn, ...(deadInChannels !== undefined ? { deadInChannels } : {}) };
      const common = { name: L.name, inChannels: L.shape[1] * L.groups, outChannels: L.shape[0], bias: L.bias !== null, ...prunedNz, ...(L.ternary ? { ternary } : {}) };
      if (L.op === 'conv') layers.push({ ...common, kind: 'conv', kernel: [L.shape[2], L.shape[3]], groups: L.groups, outH: a[2], outW: a[3], ...(removedGroups.length > 0 ? { removedGroups } : {}) });
      else layers.push({ ...common, kind: 'linear' });
      if (dw && removedGroups.length + dOut > 0) deadOf.set(o.dst, { dead: removedGroups.length + dOut, perChannel: 1, removed: removedGroups.length });
      else if (!dw && L.ternary && dOut > 0) deadOf.set(o.dst, { dead: dOut, perChannel: 1, channels: deadRows(L) });
      else deadOf.delete(o.dst);
    } else if (o.t === 'bn') {
      const prev = ir[i - 1];
      const folded = prev !== undefined && prev.t === 'layer' && prev.L.ternary && prev.dst === o.src;
      const feed = deadOf.get(o.src);
      // The batch norm right after a depthwise conv loses its removed groups' channels with them.
      const removedChannels = prev !== undefined && prev.t === 'layer' && prev.dst === o.src ? (feed?.removed ?? 0) : 0;
      layers.push({
        name: o.name, kind: 'bn', inChannels: s[1], outChannels: s[1], outH: s[2], outW: s[3],
        ...(folded ? { foldedIntoTernary: true, deadChannels: (feed?.dead ?? 0) - removedChannels } : {}),
        ...(removedChannels > 0 ? { removedChannels } : {}),
      });
    } else {
      const p = o.op;
      const src = p.src ?? 'x';
      const dst = p.dst ?? 'x';
      if (p.op === 'relu' || p.op === 'relu6') layers.push({ name: `relu${i}`, kind: 'relu', inChannels: s[1], outChannels: s[1], outH: s[2] ?? 1, outW: s[3] ?? 1 });
      else if (p.op === 'swish' || p.op === 'sigmoid') layers.push({ name: `${p.op}${i}`, kind: p.op, inChannels: s[1], outChannels: s[1], outH: s[2] ?? 1, outW: s[3] ?? 1 });
      else if (p.op === 'mul') layers.push({ name: `mul${i}`, kind: 'mul', inChannels: s[1], outChannels: s[1], outH: s[2], outW: s[3] });
      else if (p.op === 'maxpool') layers.push({ name: `maxpool${i}`, kind: 'maxpool', inChannels: s[1], outChannels: s[1], kernel: p.kernel, outH: a[2], outW: a[3] });
      else if (p.op === 'avgpool') layers.push({ name: `avgpool${i}`, kind: 'avgpool', inChannels: s[1], outChannels: s[1], kernel: p.kernel, outH: a[2], outW: a[3] });
      else if (p.op === 'globalavgpool') layers.push({ name: `avgpool${i}`, kind: 'avgpool', inChannels: s[1], outChannels: s[1], kernel: [s[2], s[3]], outH: 1, outW: 1 });
      else if (p.op === 'add') layers.push({ name: `add${i}`, kind: 'add', inChannels: s[1], outChannels: s[1], outH: s[2], outW: s[3] });
      if (p.op === 'flatten') {
        const f = deadOf.get(src);
        if (f) deadOf.set(dst, { dead: f.dead, perChannel: s.slice(2).reduce((x, y) => x * y, 1), ...(f.channels !== undefined ? { channels: f.channels } : {}) });
      } else if (p.op === 'relu' || p.op === 'relu6' || p.op === 'maxpool' || p.op === 'avgpool' || p.op === 'globalavgpool') {
        // channel-wise: dead channels stay dead
      } else if (p.op === 'save') {
        deadOf.delete(dst);
      } else deadOf.delete(dst);
    }
  });
  return layers;
}
