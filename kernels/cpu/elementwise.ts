/**
 * Fast cpu elementwise kernels over Float32Array. Each op has its own loop (monomorphic, no
 * per-element dispatch); broadcast binaries run one loop per innermost collapsed row, so same-shape
 * ops are a single flat loop and scalar/row/channel broadcasts read the small operand with stride 0.
 */
import { registerKernel, traceImplementation } from '../registry.js';
import { backendSettings } from '../settings.js';
import type { BinaryOp, UnaryOp } from '../types.js';
import { collapseDims } from './strided.js';
import { wasmAdd, wasmUnary, wasmUnaryBackward } from '../wasm/elementwise.js';

/** Names the implementation of `op` for the kernel trace (only when tracing). */
function ran(op: string, wasm: boolean): void {
  if (backendSettings().traceKernels) traceImplementation(op, wasm ? 'wasm-simd' : 'typescript');
}

/** Cpu {@link UnaryKernel}. */
export function unaryCpu(op: UnaryOp, x: Float32Array, out: Float32Array): void {
  // relu/relu6: branch-free WASM SIMD masks (bit-identical); the TS ternary mispredicts on random signs.
  const wasm = (op === 'relu' || op === 'relu6') && wasmUnary(op, x, out);
  ran('unary', wasm);
  if (wasm) return;
  const n = x.length;
  switch (op) {
    case 'neg': for (let i = 0; i < n; i++) out[i] = -x[i]; return;
    case 'exp': for (let i = 0; i < n; i++) out[i] = Math.exp(x[i]); return;
    case 'log': for (let i = 0; i < n; i++) out[i] = Math.log(x[i]); return;
    case 'sqrt': for (let i = 0; i < n; i++) out[i] = Math.sqrt(x[i]); return;
    case 'abs': for (let i = 0; i < n; i++) out[i] = Math.abs(x[i]); return;
    // <= / >= so NaN passes through (PyTorch keeps NaN).
    case 'relu': for (let i = 0; i < n; i++) { const v = x[i]; out[i] = v <= 0 ? 0 : v; } return;
    case 'relu6': for (let i = 0; i < n; i++) { const v = x[i]; out[i] = v <= 0 ? 0 : v >= 6 ? 6 : v; } return;
    case 'sigmoid': for (let i = 0; i < n; i++) out[i] = 1 / (1 + Math.exp(-x[i])); return;
    case 'tanh': for (let i = 0; i < n; i++) out[i] = Math.tanh(x[i]); return;
    case 'swish': for (let i = 0; i < n; i++) { const v = x[i]; out[i] = v / (1 + Math.exp(-v)); } return;
  }
}

/** Cpu {@link UnaryBackwardKernel}. */
export function unaryBackwardCpu(op: UnaryOp, x: Float32Array, y: Float32Array, g: Float32Array, gx: Float32Array): void {
  const wasm = (op === 'relu' || op === 'relu6') && wasmUnaryBackward(op, x, g, gx);
  ran('unaryBackward', wasm);
  if (wasm) return;
  const n = x.length;
  switch (op) {
    case 'neg': for (let i = 0; i < n; i++) gx[i] = -g[i]; return;
    case 'exp': for (let i = 0; i < n; i++) gx[i] = g[i] * y[i]; return;
    case 'log': for (let i = 0; i < n; i++) gx[i] = g[i] / x[i]; return;
    case 'sqrt': for (let i = 0; i < n; i++) gx[i] = (0.5 * g[i]) / y[i]; return;
    case 'abs': for (let i = 0; i < n; i++) { const v = x[i]; gx[i] = v > 0 ? g[i] : v < 0 ? -g[i] : 0; } return;
    case 'relu': for (let i = 0; i < n; i++) gx[i] = x[i] > 0 ? g[i] : 0; return;
    case 'relu6': for (let i = 0; i < n; i++) { const v = x[i]; gx[i] = v > 0 && v < 6 ? g[i] : 0; } return;
    case 'sigmoid': for (let i = 0; i < n; i++) { const s = y[i]; gx[i] = g[i] * s * (1 - s); } return;
    case 'tanh': for (let i = 0; i < n; i++) { const t = y[i]; gx[i] = g[i] * (1 - t * t); } return;
    case 'swish':
      for (let i = 0; i < n; i++) {
        const v = x[i];
        const s = 1 / (1 + Math.exp(-v));
        gx[i] = g[i] * s * (1 + v * (1 - s));
      }
      return;
  }
}

/** One innermost row of a broadcast binary op: out[o..o+n) from a (from ia, step sa) and b (from ib, step sb). */
function binaryRow(op: BinaryOp, a: Float32Array, ia: number, sa: number, b: Float32Array, ib: number, sb: number, out: Float32Array, o: number, n: number): void {
  const end = o + n;
  switch (op) {
    case 'add': for (; o < end; o++, ia += sa, ib += sb) out[o] = a[ia] + b[ib]; return;
    case 'sub': for (; o < end; o++, ia += sa, ib += sb) out[o] = a[ia] - b[ib]; return;
    case 'mul': for (; o < end; o++, ia += sa, ib += sb) out[o] = a[ia] * b[ib]; return;
    case 'div': for (; o < end; o++, ia += sa, ib += sb) out[o] = a[ia] / b[ib]; return;
    case 'pow': for (; o < end; o++, ia += sa, ib += sb) out[o] = Math.pow(a[ia], b[ib]); return;
    case 'maximum':
      for (; o < end; o++, ia += sa, ib += sb) { const u = a[ia]; const v = b[ib]; out[o] = u > v ? u : u < v ? v : u === v ? u : NaN; }
      return;
    case 'minimum':
      for (; o < end; o++, ia += sa, ib += sb) { const u = a[ia]; const v = b[ib]; out[o] = u < v ? u : u > v ? v : u === v ? u : NaN; }
      return;
  }
}

/** Cpu {@link BinaryKernel}. */
export function binaryCpu(
  op: BinaryOp, a: Float32Array, aStrides: readonly number[], b: Float32Array, bStrides: readonly number[],
  out: Float32Array, outShape: readonly number[],
): void {
  if (out.length === 0) return;
  const { shape, strides: [sa, sb] } = collapseDims(outShape, [aStrides, bStrides]);
  const nd = shape.length;
  const inner = shape[nd - 1];
  const rows = out.length / inner;
  // Same-shape add (residual sums): one contiguous f32x4 add in WASM, bit-identical.
  const wasm = rows === 1 && op === 'add' && sa[nd - 1] === 1 && sb[nd - 1] === 1 && wasmAdd(a, b, out);
  ran('binary', wasm);
  if (wasm) return;
  if (rows === 1) return binaryRow(op, a, 0, sa[nd - 1], b, 0, sb[nd - 1], out, 0, inner);
  const idx = new Int32Array(nd);
  let ia = 0;
  let ib = 0;
  for (let r = 0; r < rows; r++) {
    binaryRow(op, a, ia, sa[nd - 1], b, ib, sb[nd - 1], out, r * inner, inner);
    for (let d = nd - 2; d >= 0; d--) {
      ia += sa[d];
      ib += sb[d];
      if (++idx[d] < shape[d]) break;
      ia -= sa[d] * shape[d];
      ib -= sb[d] * shape[d];
      idx[d] = 0;
    }
  }
}

/** One innermost row of a binary op's gradients (either output may be null). */
function binaryBackwardRow(
  op: BinaryOp, a: Float32Array, ia: number, sa: number, b: Float32Array, ib: number, sb: number,
  y: Float32Array, g: Float32Array, ga: Float32Array | null, gb: Float32Array | null, o: number, n: number,
): void {
  const end = o + n;
  const ia0 = ia;
  const ib0 = ib;
  switch (op) {
    case 'add':
      if (ga !== null) for (let i = o; i < end; i++) ga[i] = g[i];
      if (gb !== null) for (let i = o; i < end; i++) gb[i] = g[i];
      return;
    case 'sub':
      if (ga !== null) for (let i = o; i < end; i++) ga[i] = g[i];
      if (gb !== null) for (let i = o; i < end; i++) gb[i] = -g[i];
      return;
    case 'mul':
      if (ga !== null) for (let i = o, j = ib0; i < end; i++, j += sb) ga[i] = g[i] * b[j];
      if (gb !== null) for (let i = o, j = ia0; i < end; i++, j += sa) gb[i] = g[i] * a[j];
      return;
    case 'div':
      if (ga !== null) for (let i = o, j = ib0; i < end; i++, j += sb) ga[i] = g[i] / b[j];
      if (gb !== null) for (let i = o, j = ib0; i < end; i++, j += sb) gb[i] = (-g[i] * y[i]) / b[j];
      return;
    case 'pow':
      if (ga !== null) {
        for (let i = o, j = ia0, k = ib0; i < end; i++, j += sa, k += sb) {
          const p = b[k];
          ga[i] = p === 0 ? 0 : g[i] * p * Math.pow(a[j], p - 1);
        }
      }
      if (gb !== null) {
        for (let i = o, j = ia0; i < end; i++, j += sa) {
          const u = a[j];
          gb[i] = u > 0 ? g[i] * y[i] * Math.log(u) : u === 0 ? 0 : NaN;
        }
      }
      return;
    case 'maximum':
    case 'minimum': {
      const sign = op === 'maximum' ? 1 : -1;
      for (let i = o, j = ia0, k = ib0; i < end; i++, j += sa, k += sb) {
        const d = sign * (a[j] - b[k]);
        const wa = d > 0 ? 1 : d < 0 ? 0 : 0.5;
        if (ga !== null) ga[i] = g[i] * wa;
        if (gb !== null) gb[i] = g[i] * (1 - wa);
      }
      return;
    }
  }
}

/** Cpu {@link BinaryBackwardKernel}. */
export function binaryBackwardCpu(
  op: BinaryOp, a: Float32Array, aStrides: readonly number[], b: Float32Array, bStrides: readonly number[],
  y: Float32Array, g: Float32Array, ga: Float32Array | null, gb: Float32Array | null, outShape: readonly number[],
): void {
  if (g.length === 0) return;
  const { shape, strides: [sa, sb] } = collapseDims(outShape, [aStrides, bStrides]);
  const nd = shape.length;
  const inner = shape[nd - 1];
  const rows = g.length / inner;
  const idx = new Int32Array(nd);
  let ia = 0;
  let ib = 0;
  for (let r = 0; r < rows; r++) {
    binaryBackwardRow(op, a, ia, sa[nd - 1], b, ib, sb[nd - 1], y, g, ga, gb, r * inner, inner);
    for (let d = nd - 2; d >= 0; d--) {
      ia += sa[d];
      ib += sb[d];
      if (++idx[d] < shape[d]) break;
      ia -= sa[d] * shape[d];
      ib -= sb[d] * shape[d];
      idx[d] = 0;
    }
  }
}

/** Cpu {@link ExpandKernel}. */
export function expandCpu(x: Float32Array, xStrides: readonly number[], out: Float32Array, outShape: readonly number[]): void {
  if (out.length === 0) return;
  const { shape, strides: [sx] } = collapseDims(outShape, [xStrides]);
  const nd = shape.length;
  const inner = shape[nd - 1];
  const si = sx[nd - 1];
  const rows = out.length / inner;
  const idx = new Int32Array(nd);
  let ix = 0;
  for (let r = 0, o = 0; r < rows; r++) {
    if (si === 0) out.fill(x[ix], o, o + inner);
    else if (si === 1) out.set(x.subarray(ix, ix + inner), o);
    else for (let i = 0, j = ix; i < inner; i++, j += si) out[o + i] = x[j];
    o += inner;
    for (let d = nd - 2; d >= 0; d--) {
      ix += sx[d];
      if (++idx[d] < shape[d]) break;
      ix -= sx[d] * shape[d];
      idx[d] = 0;
    }
  }
}

registerKernel('unary', 'cpu', unaryCpu);
registerKernel('unaryBackward', 'cpu', unaryBackwardCpu);
registerKernel('binary', 'cpu', binaryCpu);
registerKernel('binaryBackward', 'cpu', binaryBackwardCpu);
registerKernel('expand', 'cpu', expandCpu);
