/**
 * Batch-norm folding: a batch norm right after the conv/linear that writes its input becomes that
 * layer's bias (and, for a ternary layer, a per-channel scale; a dense layer's weights are scaled);
 * any other batch norm becomes an `affine` op with its own scale and shift.
 */
import { regsOf, type IROp, type Reader } from './ir.js';

/** BN eval as per-channel scale s = γ/√(var+ε) and shift t = β − mean·s, in float64. */
function bnAffine(r: Reader, name: string, eps: number, C: number): { s: Float64Array; t: Float64Array } {
  const g = r.f32(`${name}.weight`, [C]);
  const b = r.f32(`${name}.bias`, [C]);
  const mean = r.f32(`${name}.running_mean`, [C]);
  const v = r.f32(`${name}.running_var`, [C]);
  const s = new Float64Array(C);
  const t = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    s[c] = g[c] / Math.sqrt(v[c] + eps);
    t[c] = b[c] - mean[c] * s[c];
  }
  return { s, t };
}

function channelsOf(ops: IROp[], upTo: number, reg: string, inputChannels: number): number {
  // Channels of `reg` just before op `upTo`: walk the writers (only layer outputs and shortcutA change it).
  let c = inputChannels;
  const regs = new Map<string, number>([['x', inputChannels]]);
  for (let i = 0; i < upTo; i++) {
    const o = ops[i];
    if (o.t === 'layer') regs.set(o.dst, o.L.shape[0]);
    else if (o.t === 'bn') regs.set(o.dst, regs.get(o.src) ?? c);
    else {
      const p = o.op;
      const v = regs.get(p.src ?? 'x') ?? c;
      regs.set(p.dst ?? 'x', p.op === 'shortcutA' ? v + p.padBefore + p.padAfter : v);
    }
  }
  c = regs.get(reg) ?? c;
  return c;
}

/** Scale and shift of a batch norm that stays an `affine` op, keyed by the batch norm's name. */
export type AffineParams = Map<string, { s: Float64Array; t: Float64Array }>;

/**
 * Folds every batch norm that directly follows a conv/linear writing its input; others become
 * affine ops, whose parameters come back in `affine` for the writer to store.
 * @example const { ops, affine } = foldBatchNorms(lowerModel('resnet20', model, r), r, 3)
 */
export function foldBatchNorms(ops: IROp[], r: Reader, inputChannels: number): { ops: IROp[]; affine: AffineParams } {
  const out: IROp[] = [];
  const affine: AffineParams = new Map();
  for (let i = 0; i < ops.length; i++) {
    const o = ops[i];
    if (o.t !== 'bn') {
      out.push(o);
      continue;
    }
    const prev = out[out.length - 1];
    if (prev !== undefined && prev.t === 'layer' && prev.dst === o.src && o.src === o.dst) {
      const L = prev.L;
      const M = L.shape[0];
      const { s, t } = bnAffine(r, o.name, o.eps, M);
      const bias = new Float64Array(M);
      for (let m = 0; m < M; m++) bias[m] = (L.bias ? L.bias[m] : 0) * s[m] + t[m];
      L.bias = bias;
      if (L.ternary) {
        const sc = new Float64Array(M);
        for (let m = 0; m < M; m++) sc[m] = (L.scale ? L.scale[m] : 1) * s[m];
        L.scale = sc;
      } else {
        const w = L.w as Float32Array;
        const per = w.length / M;
        for (let m = 0; m < M; m++) for (let k = m * per; k < (m + 1) * per; k++) w[k] = Math.fround(w[k] * s[m]);
      }
      continue;
    }
    const C = channelsOf(ops, i, o.src, inputChannels);
    const { s, t } = bnAffine(r, o.name, o.eps, C);
    affine.set(o.name, { s, t });
    out.push({ t: 'plain', op: { op: 'affine', name: o.name, channels: C, scale: `${o.name}.scale`, shift: `${o.name}.shift`, ...regsOf(o.src, o.dst) } });
  }
  return { ops: out, affine };
}
