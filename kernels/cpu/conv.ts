/**
 * Fast cpu 2-D convolution. Where WebAssembly SIMD runs (and unless `setConvWasm(false)` or
 * `EC2T_WASM=0`), dense convs go to kernels/wasm/conv.ts and depthwise convs with multiplier 1 to kernels/wasm/depthwise.ts
 * (im2col/col2im and the GEMM in generated WASM, batch over worker threads). The TypeScript path
 * below is the fallback and handles every other geometry. Dense and grouped convs lower to GEMM per (sample, group):
 * forward = W·im2col(x), input gradient = col2im(Wᵀ·dY), weight gradient = Σ dY·im2col(x)ᵀ;
 * a 1×1 stride-1 unpadded conv skips im2col (x already is the column matrix). Depthwise convs
 * (one input channel per group) use direct loops: their GEMMs would be 1-row products.
 * The im2col scratch is module-level and grown on demand.
 */
import { registerKernel, traceImplementation } from '../registry.js';
import { backendSettings, setBackendSettings } from '../settings.js';
import type { Conv2dGeometry } from '../types.js';
import { gemm } from './gemm.js';
import {
  wasmConv2dBackwardInput, wasmConv2dBackwardWeight, wasmConv2dForward, wasmConvAvailable, wasmConvFits, wasmConvThreads,
} from '../wasm/conv.js';
import { wasmConvFma } from '../wasm/conv-module.js';
import { wasmSimdLabel } from '../wasm/gemm.js';
import { wasmDepthwiseBackwardInput, wasmDepthwiseBackwardWeight, wasmDepthwiseForward, wasmDepthwiseFits } from '../wasm/depthwise.js';

const WASM_OK = wasmConvAvailable();

/**
 * Turns the WebAssembly SIMD conv path (kernels/wasm/conv.ts, dense convs) on or off, for tests and
 * benchmarks (the API level of the `wasmConv` backend setting); returns whether it is available
 * here. Off (or unavailable): im2col + `gemm` in TypeScript.
 * @example setConvWasm(false); // measure the TypeScript path
 */
export function setConvWasm(on: boolean): boolean {
  setBackendSettings({ wasmConv: on });
  return WASM_OK;
}

function useWasm(): boolean {
  const s = backendSettings();
  return s.wasm && s.wasmConv;
}

/** Names the implementation that runs `op` for the kernel trace (only when tracing). */
function traceConv(op: string, g: Conv2dGeometry, path: 'wasm' | 'wasm-depthwise' | 'ts' | 'ts-depthwise'): void {
  if (!backendSettings().traceKernels) return;
  if (path === 'ts' || path === 'ts-depthwise') traceImplementation(op, path === 'ts' ? 'typescript im2col+gemm' : 'typescript depthwise');
  else {
    // NOTE: the depthwise kernels run one sample at a time on the calling thread.
    const t = path === 'wasm' ? wasmConvThreads(g) : 1;
    // NOTE: the depthwise tap walkers use no FMA; the dense conv's `tiles` and `dotNT` do when the module has it.
    traceImplementation(op, `${path === 'wasm' ? wasmSimdLabel(wasmConvFma()) : 'wasm-simd depthwise'}, ${t} thread${t === 1 ? '' : 's'}`);
  }
}

/** Depthwise convs with multiplier 1 go to the WASM depthwise kernels when available and on. */
function wasmDepthwise(g: Conv2dGeometry): boolean {
  return useWasm() && WASM_OK && wasmDepthwiseFits(g);
}

/** Dense convs go to the WASM conv when it is available, on, and one sample's work fits its memory. */
function wasmDense(g: Conv2dGeometry): boolean {
  return useWasm() && WASM_OK && g.groups === 1 && wasmConvFits(g);
}

let colScratch = new Float32Array(1 << 16);

function colBuffer(size: number): Float32Array {
  if (colScratch.length < size) colScratch = new Float32Array(size);
  return colScratch;
}

/** True when x itself is the [C, H·W] column matrix of the conv. */
function isPointwise(g: Conv2dGeometry): boolean {
  return g.kernelHeight === 1 && g.kernelWidth === 1 && g.strideH === 1 && g.strideW === 1 && g.padH === 0 && g.padW === 0;
}

/** Depthwise: one input channel per group (any channel multiplier). */
function isDepthwise(g: Conv2dGeometry): boolean {
  return g.groups === g.inChannels && g.groups > 1;
}

/** First output index ≥ 0 whose input coordinate o·s − pad + t·d is ≥ 0, and the end (exclusive) below `size`. */
function validRange(outSize: number, size: number, stride: number, offset: number): [number, number] {
  // input = o·stride + offset must lie in [0, size).
  const lo = offset >= 0 ? 0 : Math.ceil(-offset / stride);
  const hi = Math.min(outSize, Math.max(0, Math.ceil((size - offset) / stride)));
  return [Math.min(lo, hi), hi];
}

/**
 * col[(c·kH + i)·kW + j][oy·oW + ox] = x[c0 + c, oy·sH − pH + i·dH, ox·sW − pW + j·dW] (0 outside),
 * for `cpg` channels starting at plane offset `xOff`.
 */
function im2col(x: Float32Array, xOff: number, cpg: number, g: Conv2dGeometry, col: Float32Array): void {
  const { inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, kernelHeight: KH, kernelWidth: KW } = g;
  const { strideH: sh, strideW: sw, padH: ph, padW: pw, dilationH: dh, dilationW: dw } = g;
  const ohw = OH * OW;
  let row = 0;
  for (let c = 0; c < cpg; c++) {
    const plane = xOff + c * H * W;
    for (let i = 0; i < KH; i++) {
      for (let j = 0; j < KW; j++, row++) {
        const base = row * ohw;
        const xo = j * dw - pw;
        const [ox0, ox1] = validRange(OW, W, sw, xo);
        for (let oy = 0; oy < OH; oy++) {
          const iy = oy * sh - ph + i * dh;
          const d = base + oy * OW;
          if (iy < 0 || iy >= H) {
            col.fill(0, d, d + OW);
            continue;
          }
          for (let ox = 0; ox < ox0; ox++) col[d + ox] = 0;
          const src = plane + iy * W + xo;
          if (sw === 1) for (let ox = ox0; ox < ox1; ox++) col[d + ox] = x[src + ox];
          else for (let ox = ox0; ox < ox1; ox++) col[d + ox] = x[src + ox * sw];
          for (let ox = ox1; ox < OW; ox++) col[d + ox] = 0;
        }
      }
    }
  }
}

/** Adjoint of {@link im2col}: adds every column entry back onto the input element it was read from. */
function col2imAdd(col: Float32Array, cpg: number, g: Conv2dGeometry, dx: Float32Array, xOff: number): void {
  const { inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, kernelHeight: KH, kernelWidth: KW } = g;
  const { strideH: sh, strideW: sw, padH: ph, padW: pw, dilationH: dh, dilationW: dw } = g;
  const ohw = OH * OW;
  let row = 0;
  for (let c = 0; c < cpg; c++) {
    const plane = xOff + c * H * W;
    for (let i = 0; i < KH; i++) {
      for (let j = 0; j < KW; j++, row++) {
        const base = row * ohw;
        const xo = j * dw - pw;
        const [ox0, ox1] = validRange(OW, W, sw, xo);
        for (let oy = 0; oy < OH; oy++) {
          const iy = oy * sh - ph + i * dh;
          if (iy < 0 || iy >= H) continue;
          const s = base + oy * OW;
          const dst = plane + iy * W + xo;
          if (sw === 1) for (let ox = ox0; ox < ox1; ox++) dx[dst + ox] += col[s + ox];
          else for (let ox = ox0; ox < ox1; ox++) dx[dst + ox * sw] += col[s + ox];
        }
      }
    }
  }
}

/**
 * Sizes shared by the three im2col + GEMM conv kernels: per-group channels (`cpg` in, `opg` out),
 * the GEMM depth `kdim`, plane sizes, and the column buffer (unused for a pointwise conv, whose
 * input already is the column matrix).
 */
function gemmPlan(g: Conv2dGeometry): { cpg: number; opg: number; kdim: number; ohw: number; hw: number; pointwise: boolean; col: Float32Array } {
  const cpg = g.inChannels / g.groups;
  const kdim = cpg * g.kernelHeight * g.kernelWidth;
  const ohw = g.outHeight * g.outWidth;
  const pointwise = isPointwise(g);
  return { cpg, opg: g.outChannels / g.groups, kdim, ohw, hw: g.inHeight * g.inWidth, pointwise, col: pointwise ? colScratch : colBuffer(kdim * ohw) };
}

/** Cpu {@link Conv2dForwardKernel}. */
export function conv2dForwardCpu(x: Float32Array, weight: Float32Array, bias: Float32Array | null, out: Float32Array, g: Conv2dGeometry): void {
  if (isDepthwise(g)) {
    if (wasmDepthwise(g)) {
      traceConv('conv2dForward', g, 'wasm-depthwise');
      wasmDepthwiseForward(x, weight, bias, out, g);
    } else {
      traceConv('conv2dForward', g, 'ts-depthwise');
      depthwiseForward(x, weight, bias, out, g);
    }
    return;
  }
  if (wasmDense(g)) {
    traceConv('conv2dForward', g, 'wasm');
    wasmConv2dForward(x, weight, bias, out, g);
    return;
  }
  traceConv('conv2dForward', g, 'ts');
  const { cpg, opg, kdim, ohw, hw, pointwise, col } = gemmPlan(g);
  for (let n = 0; n < g.batch; n++) {
    for (let grp = 0; grp < g.groups; grp++) {
      const xOff = (n * g.inChannels + grp * cpg) * hw;
      const oOff = (n * g.outChannels + grp * opg) * ohw;
      if (pointwise) {
        gemm(false, false, opg, ohw, kdim, weight, grp * opg * kdim, kdim, x, xOff, hw, out, oOff, ohw, false);
      } else {
        im2col(x, xOff, cpg, g, col);
        gemm(false, false, opg, ohw, kdim, weight, grp * opg * kdim, kdim, col, 0, ohw, out, oOff, ohw, false);
      }
    }
    if (bias !== null) {
      for (let o = 0; o < g.outChannels; o++) {
        const bv = bias[o];
        const base = (n * g.outChannels + o) * ohw;
        for (let i = 0; i < ohw; i++) out[base + i] += bv;
      }
    }
  }
}

/** Cpu {@link Conv2dBackwardInputKernel}. */
export function conv2dBackwardInputCpu(gradOut: Float32Array, weight: Float32Array, gradX: Float32Array, g: Conv2dGeometry): void {
  if (isDepthwise(g)) {
    if (wasmDepthwise(g)) {
      traceConv('conv2dBackwardInput', g, 'wasm-depthwise');
      wasmDepthwiseBackwardInput(gradOut, weight, gradX, g);
    } else {
      traceConv('conv2dBackwardInput', g, 'ts-depthwise');
      depthwiseBackwardInput(gradOut, weight, gradX, g);
    }
    return;
  }
  if (wasmDense(g)) {
    traceConv('conv2dBackwardInput', g, 'wasm');
    wasmConv2dBackwardInput(gradOut, weight, gradX, g);
    return;
  }
  traceConv('conv2dBackwardInput', g, 'ts');
  const { cpg, opg, kdim, ohw, hw, pointwise, col } = gemmPlan(g);
  if (!pointwise) gradX.fill(0);
  for (let n = 0; n < g.batch; n++) {
    for (let grp = 0; grp < g.groups; grp++) {
      const xOff = (n * g.inChannels + grp * cpg) * hw;
      const oOff = (n * g.outChannels + grp * opg) * ohw;
      // dcol[kdim, ohw] = W_gᵀ · dY_g, with W_g stored [opg, kdim].
      if (pointwise) {
        gemm(true, false, kdim, ohw, opg, weight, grp * opg * kdim, kdim, gradOut, oOff, ohw, gradX, xOff, hw, false);
      } else {
        gemm(true, false, kdim, ohw, opg, weight, grp * opg * kdim, kdim, gradOut, oOff, ohw, col, 0, ohw, false);
        col2imAdd(col, cpg, g, gradX, xOff);
      }
    }
  }
}

/** Cpu {@link Conv2dBackwardWeightKernel}. */
export function conv2dBackwardWeightCpu(x: Float32Array, gradOut: Float32Array, gradW: Float32Array, g: Conv2dGeometry): void {
  if (isDepthwise(g)) {
    if (wasmDepthwise(g)) {
      traceConv('conv2dBackwardWeight', g, 'wasm-depthwise');
      wasmDepthwiseBackwardWeight(x, gradOut, gradW, g);
    } else {
      traceConv('conv2dBackwardWeight', g, 'ts-depthwise');
      depthwiseBackwardWeight(x, gradOut, gradW, g);
    }
    return;
  }
  if (wasmDense(g)) {
    traceConv('conv2dBackwardWeight', g, 'wasm');
    wasmConv2dBackwardWeight(x, gradOut, gradW, g);
    return;
  }
  traceConv('conv2dBackwardWeight', g, 'ts');
  const { cpg, opg, kdim, ohw, hw, pointwise, col } = gemmPlan(g);
  if (g.batch === 0) gradW.fill(0);
  for (let n = 0; n < g.batch; n++) {
    for (let grp = 0; grp < g.groups; grp++) {
      const xOff = (n * g.inChannels + grp * cpg) * hw;
      const oOff = (n * g.outChannels + grp * opg) * ohw;
      // dW_g[opg, kdim] (+)= dY_g[opg, ohw] · col[kdim, ohw]ᵀ
      if (pointwise) {
        gemm(false, true, opg, kdim, ohw, gradOut, oOff, ohw, x, xOff, hw, gradW, grp * opg * kdim, kdim, n > 0);
      } else {
        im2col(x, xOff, cpg, g, col);
        gemm(false, true, opg, kdim, ohw, gradOut, oOff, ohw, col, 0, ohw, gradW, grp * opg * kdim, kdim, n > 0);
      }
    }
  }
}

// ---------------------------------------------------------------- depthwise (direct loops)
// Output channel o reads input channel floor(o / multiplier). For every kernel tap the valid output
// columns form one contiguous range, so the inner loop is a branch-free strided axpy.

function depthwiseForward(x: Float32Array, weight: Float32Array, bias: Float32Array | null, out: Float32Array, g: Conv2dGeometry): void {
  const { inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, kernelHeight: KH, kernelWidth: KW } = g;
  const { strideH: sh, strideW: sw, padH: ph, padW: pw, dilationH: dh, dilationW: dw } = g;
  const mult = g.outChannels / g.inChannels;
  for (let n = 0; n < g.batch; n++) {
    for (let o = 0; o < g.outChannels; o++) {
      const xPlane = (n * g.inChannels + Math.floor(o / mult)) * H * W;
      const oPlane = (n * g.outChannels + o) * OH * OW;
      out.fill(bias === null ? 0 : bias[o], oPlane, oPlane + OH * OW);
      for (let oy = 0; oy < OH; oy++) {
        const d = oPlane + oy * OW;
        for (let i = 0; i < KH; i++) {
          const iy = oy * sh - ph + i * dh;
          if (iy < 0 || iy >= H) continue;
          for (let j = 0; j < KW; j++) {
            const wv = weight[(o * KH + i) * KW + j];
            const xo = j * dw - pw;
            const [ox0, ox1] = validRange(OW, W, sw, xo);
            const src = xPlane + iy * W + xo;
            for (let ox = ox0; ox < ox1; ox++) out[d + ox] += wv * x[src + ox * sw];
          }
        }
      }
    }
  }
}

function depthwiseBackwardInput(gradOut: Float32Array, weight: Float32Array, gradX: Float32Array, g: Conv2dGeometry): void {
  const { inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, kernelHeight: KH, kernelWidth: KW } = g;
  const { strideH: sh, strideW: sw, padH: ph, padW: pw, dilationH: dh, dilationW: dw } = g;
  const mult = g.outChannels / g.inChannels;
  gradX.fill(0);
  for (let n = 0; n < g.batch; n++) {
    for (let o = 0; o < g.outChannels; o++) {
      const xPlane = (n * g.inChannels + Math.floor(o / mult)) * H * W;
      const oPlane = (n * g.outChannels + o) * OH * OW;
      for (let oy = 0; oy < OH; oy++) {
        const s = oPlane + oy * OW;
        for (let i = 0; i < KH; i++) {
          const iy = oy * sh - ph + i * dh;
          if (iy < 0 || iy >= H) continue;
          for (let j = 0; j < KW; j++) {
            const wv = weight[(o * KH + i) * KW + j];
            const xo = j * dw - pw;
            const [ox0, ox1] = validRange(OW, W, sw, xo);
            const dst = xPlane + iy * W + xo;
            for (let ox = ox0; ox < ox1; ox++) gradX[dst + ox * sw] += wv * gradOut[s + ox];
          }
        }
      }
    }
  }
}

function depthwiseBackwardWeight(x: Float32Array, gradOut: Float32Array, gradW: Float32Array, g: Conv2dGeometry): void {
  const { inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, kernelHeight: KH, kernelWidth: KW } = g;
  const { strideH: sh, strideW: sw, padH: ph, padW: pw, dilationH: dh, dilationW: dw } = g;
  const mult = g.outChannels / g.inChannels;
  for (let o = 0; o < g.outChannels; o++) {
    for (let i = 0; i < KH; i++) {
      for (let j = 0; j < KW; j++) {
        const xo = j * dw - pw;
        const [ox0, ox1] = validRange(OW, W, sw, xo);
        let acc = 0;
        for (let n = 0; n < g.batch; n++) {
          const xPlane = (n * g.inChannels + Math.floor(o / mult)) * H * W;
          const oPlane = (n * g.outChannels + o) * OH * OW;
          for (let oy = 0; oy < OH; oy++) {
            const iy = oy * sh - ph + i * dh;
            if (iy < 0 || iy >= H) continue;
            const s = oPlane + oy * OW;
            const src = xPlane + iy * W + xo;
            for (let ox = ox0; ox < ox1; ox++) acc += gradOut[s + ox] * x[src + ox * sw];
          }
        }
        gradW[(o * KH + i) * KW + j] = acc;
      }
    }
  }
}

registerKernel('conv2dForward', 'cpu', conv2dForwardCpu);
registerKernel('conv2dBackwardInput', 'cpu', conv2dBackwardInputCpu);
registerKernel('conv2dBackwardWeight', 'cpu', conv2dBackwardWeightCpu);
