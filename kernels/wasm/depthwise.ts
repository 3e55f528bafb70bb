/**
 * Depthwise 2-D convolution (one input channel per group, multiplier 1) in generated WebAssembly
 * SIMD: the conv module's tap walkers (kernels/wasm/conv-codegen.ts) with one weight per tap, one
 * sample at a time on one thread. Other grouped convs stay in kernels/cpu/conv.ts.
 */
import type { Conv2dGeometry } from '../types.js';
import type { DwTaps } from './conv-codegen.js';
import { type Inst, convMemoryCap, instance, up } from './conv-module.js';

/** Byte offsets of the depthwise work (one sample at a time, single thread) from byte 0. */
function dwLayout(g: Conv2dGeometry): { W: number; XIN: number; XP: number; OUT: number; DW: number; bytes: number; Hp: number; Wp: number } {
  const C = g.inChannels, kk = g.kernelHeight * g.kernelWidth;
  const Hp = g.inHeight + 2 * g.padH, Wp = g.inWidth + 2 * g.padW;
  let at = 0;
  const region = (floats: number): number => {
    const o = at;
    at += up(floats, 16) * 4 + 64;
    return o;
  };
  const W = region(C * kk), XIN = region(C * g.inHeight * g.inWidth), XP = region(C * Hp * Wp), OUT = region(C * g.outHeight * g.outWidth), DW = region(C * kk);
  return { W, XIN, XP, OUT, DW, bytes: at, Hp, Wp };
}

/** Whether the WASM depthwise kernels take `g`: groups = inChannels = outChannels and one sample fits the cap. */
export function wasmDepthwiseFits(g: Conv2dGeometry): boolean {
  return g.groups === g.inChannels && g.outChannels === g.inChannels && dwLayout(g).bytes <= convMemoryCap();
}

/** Calls tap walker `fn` for one sample: image at `xb`, planes at `col`, weights at `wPtr`. */
function dwCall(fn: DwTaps, g: Conv2dGeometry, Wp: number, Hp: number, xb: number, col: number, wPtr: number): void {
  fn(xb, col, g.inChannels, g.kernelHeight, g.kernelWidth, g.outHeight, g.outWidth, Hp * Wp * 4, g.strideH * Wp * 4, g.strideW * 4,
    g.dilationH * Wp * 4, g.dilationW * 4, g.outHeight * g.outWidth * 4, wPtr);
}

/** Sample n of x into XIN and (when padded) the zero-bordered XP; returns the image base. */
function dwLoad(I: Inst, g: Conv2dGeometry, L: ReturnType<typeof dwLayout>, x: Float32Array, n: number): number {
  const chw = g.inChannels * g.inHeight * g.inWidth;
  I.view.set(x.subarray(n * chw, (n + 1) * chw), L.XIN / 4);
  if (g.padH === 0 && g.padW === 0) return L.XIN;
  I.E.fill0(L.XP, g.inChannels * L.Hp * L.Wp);
  I.E.copy2d(L.XIN, L.XP + (g.padH * L.Wp + g.padW) * 4, g.inChannels, g.inHeight, g.inWidth, g.inWidth * 4, L.Wp * 4, g.inHeight * g.inWidth * 4, L.Hp * L.Wp * 4);
  return L.XP;
}

/**
 * Depthwise conv forward (multiplier 1): per channel, Σ over taps of w·shifted plane, SIMD over output rows.
 * @example wasmDepthwiseForward(x, w, null, out, conv2dGeometry([1, 8, 7, 7], [8, 1, 3, 3], { groups: 8, padding: 1 }))
 */
export function wasmDepthwiseForward(x: Float32Array, w: Float32Array, bias: Float32Array | null, out: Float32Array, g: Conv2dGeometry): void {
  const L = dwLayout(g);
  const I = instance(L.bytes);
  const C = g.inChannels, ohw = g.outHeight * g.outWidth;
  I.view.set(w.subarray(0, C * g.kernelHeight * g.kernelWidth), L.W / 4);
  for (let n = 0; n < g.batch; n++) {
    const xb = dwLoad(I, g, L, x, n);
    I.E.fill0(L.OUT, C * ohw);
    dwCall(I.E.dwFwd, g, L.Wp, L.Hp, xb, L.OUT, L.W);
    out.set(I.view.subarray(L.OUT / 4, L.OUT / 4 + C * ohw), n * C * ohw);
    if (bias !== null) {
      for (let c = 0; c < C; c++) {
        const bv = bias[c], b0 = (n * C + c) * ohw;
        for (let i = b0; i < b0 + ohw; i++) out[i] += bv;
      }
    }
  }
}

/**
 * Depthwise conv input gradient (multiplier 1); overwrites gradX.
 * @example wasmDepthwiseBackwardInput(dy, w, dx, g)
 */
export function wasmDepthwiseBackwardInput(gradOut: Float32Array, w: Float32Array, gradX: Float32Array, g: Conv2dGeometry): void {
  const L = dwLayout(g);
  const I = instance(L.bytes);
  const C = g.inChannels, ohw = g.outHeight * g.outWidth, chw = C * g.inHeight * g.inWidth;
  const padded = g.padH > 0 || g.padW > 0;
  const dst = padded ? L.XP : L.XIN;
  I.view.set(w.subarray(0, C * g.kernelHeight * g.kernelWidth), L.W / 4);
  for (let n = 0; n < g.batch; n++) {
    I.view.set(gradOut.subarray(n * C * ohw, (n + 1) * C * ohw), L.OUT / 4);
    I.E.fill0(dst, C * L.Hp * L.Wp);
    dwCall(I.E.dwBwdIn, g, L.Wp, L.Hp, dst, L.OUT, L.W);
    if (padded) I.E.copy2d(L.XP + (g.padH * L.Wp + g.padW) * 4, L.XIN, C, g.inHeight, g.inWidth, L.Wp * 4, g.inWidth * 4, L.Hp * L.Wp * 4, g.inHeight * g.inWidth * 4);
    gradX.set(I.view.subarray(L.XIN / 4, L.XIN / 4 + chw), n * chw);
  }
}

/**
 * Depthwise conv weight gradient (multiplier 1), summed over the batch in sample order; overwrites gradW.
 * @example wasmDepthwiseBackwardWeight(x, dy, dw, g)
 */
export function wasmDepthwiseBackwardWeight(x: Float32Array, gradOut: Float32Array, gradW: Float32Array, g: Conv2dGeometry): void {
  const L = dwLayout(g);
  const I = instance(L.bytes);
  const C = g.inChannels, ohw = g.outHeight * g.outWidth, nw = C * g.kernelHeight * g.kernelWidth;
  I.E.fill0(L.DW, nw);
  for (let n = 0; n < g.batch; n++) {
    const xb = dwLoad(I, g, L, x, n);
    I.view.set(gradOut.subarray(n * C * ohw, (n + 1) * C * ohw), L.OUT / 4);
    dwCall(I.E.dwBwdW, g, L.Wp, L.Hp, xb, L.OUT, L.DW);
  }
  gradW.set(I.view.subarray(L.DW / 4, L.DW / 4 + nw));
}
