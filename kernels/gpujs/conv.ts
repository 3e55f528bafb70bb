/**
 * gpu.js 2-D convolution kernels (NCHW / OIHW; stride, padding, dilation, groups, depthwise), all
 * gather-style so each output cell is one gpu.js thread: forward over `[N·Cout, OH, OW]`, input
 * gradient over `[N·Cin, IH, IW]`, weight gradient over `[Cout·Cin/groups, KH, KW]`.
 *
 * The geometry is baked into each compiled kernel as constants (gpu.js turns them into literals:
 * GLSL consts, wasm i32 immediates), so a kernel compiles once per (mode, geometry) and is cached.
 */
import type { Conv2dBackwardInputKernel, Conv2dBackwardWeightKernel, Conv2dForwardKernel, Conv2dGeometry } from '../types.js';
import { type GpujsLaunch, type GpujsMode, type KernelSpec, runCached } from './runtime.js';

/** What gpu.js gives a kernel as `this`: the thread (output cell) and the baked constants. */
interface ConvThis {
  thread: { x: number; y: number; z: number };
  constants: {
    N: number; Cin: number; IH: number; IW: number; Cout: number; KH: number; KW: number;
    sH: number; sW: number; pH: number; pW: number; dH: number; dW: number;
    OH: number; OW: number; Cipg: number; Copg: number;
  };
}

// NOTE: the kernel bodies below are handed to gpu.js as source text and translated to GLSL / wasm /
// JS; they must stay in gpu.js's JavaScript subset (no closures, no early return inside loops).
// Integer division is floor((i + 0.5) / d): exact in wasm/JS and robust to GLSL's approximate
// float division, because the true quotient is at least 0.5/d away from an integer.

function forwardSource(this: ConvThis, x: number[], w: number[], b: number[]): number {
  const ow = this.thread.x;
  const oh = this.thread.y;
  const z = this.thread.z;
  const n = Math.floor((z + 0.5) / this.constants.Cout);
  const co = z - n * this.constants.Cout;
  const grp = Math.floor((co + 0.5) / this.constants.Copg);
  let s = b[co];
  for (let c = 0; c < this.constants.Cipg; c++) {
    const xPlane = (n * this.constants.Cin + grp * this.constants.Cipg + c) * this.constants.IH;
    const wPlane = (co * this.constants.Cipg + c) * this.constants.KH;
    for (let i = 0; i < this.constants.KH; i++) {
      const iy = oh * this.constants.sH - this.constants.pH + i * this.constants.dH;
      if (iy >= 0 && iy < this.constants.IH) {
        for (let j = 0; j < this.constants.KW; j++) {
          const ix = ow * this.constants.sW - this.constants.pW + j * this.constants.dW;
          if (ix >= 0 && ix < this.constants.IW) {
            s += x[(xPlane + iy) * this.constants.IW + ix] * w[(wPlane + i) * this.constants.KW + j];
          }
        }
      }
    }
  }
  return s;
}

function backwardInputSource(this: ConvThis, gradOut: number[], w: number[]): number {
  const ix = this.thread.x;
  const iy = this.thread.y;
  const z = this.thread.z;
  const n = Math.floor((z + 0.5) / this.constants.Cin);
  const c = z - n * this.constants.Cin;
  const grp = Math.floor((c + 0.5) / this.constants.Cipg);
  const cl = c - grp * this.constants.Cipg;
  let s = 0;
  for (let o = 0; o < this.constants.Copg; o++) {
    const co = grp * this.constants.Copg + o;
    const gPlane = (n * this.constants.Cout + co) * this.constants.OH;
    const wPlane = (co * this.constants.Cipg + cl) * this.constants.KH;
    for (let i = 0; i < this.constants.KH; i++) {
      // output row oy read this input row iff oy·sH = iy + pH − i·dH
      const ty = iy + this.constants.pH - i * this.constants.dH;
      const oy = Math.floor((ty + 0.5) / this.constants.sH);
      if (ty >= 0 && oy * this.constants.sH === ty && oy < this.constants.OH) {
        for (let j = 0; j < this.constants.KW; j++) {
          const tx = ix + this.constants.pW - j * this.constants.dW;
          const ox = Math.floor((tx + 0.5) / this.constants.sW);
          if (tx >= 0 && ox * this.constants.sW === tx && ox < this.constants.OW) {
            s += gradOut[(gPlane + oy) * this.constants.OW + ox] * w[(wPlane + i) * this.constants.KW + j];
          }
        }
      }
    }
  }
  return s;
}

function backwardWeightSource(this: ConvThis, x: number[], gradOut: number[]): number {
  const j = this.thread.x;
  const i = this.thread.y;
  const z = this.thread.z;
  const co = Math.floor((z + 0.5) / this.constants.Cipg);
  const cl = z - co * this.constants.Cipg;
  const grp = Math.floor((co + 0.5) / this.constants.Copg);
  const c = grp * this.constants.Cipg + cl;
  let s = 0;
  for (let n = 0; n < this.constants.N; n++) {
    const xPlane = (n * this.constants.Cin + c) * this.constants.IH;
    const gPlane = (n * this.constants.Cout + co) * this.constants.OH;
    for (let oy = 0; oy < this.constants.OH; oy++) {
      const iy = oy * this.constants.sH - this.constants.pH + i * this.constants.dH;
      if (iy >= 0 && iy < this.constants.IH) {
        for (let ox = 0; ox < this.constants.OW; ox++) {
          const ix = ox * this.constants.sW - this.constants.pW + j * this.constants.dW;
          if (ix >= 0 && ix < this.constants.IW) {
            s += x[(xPlane + iy) * this.constants.IW + ix] * gradOut[(gPlane + oy) * this.constants.OW + ox];
          }
        }
      }
    }
  }
  return s;
}

const FORWARD = forwardSource.toString();
const BACKWARD_INPUT = backwardInputSource.toString();
const BACKWARD_WEIGHT = backwardWeightSource.toString();

function constantsOf(g: Conv2dGeometry): ConvThis['constants'] {
  return {
    N: g.batch, Cin: g.inChannels, IH: g.inHeight, IW: g.inWidth, Cout: g.outChannels, KH: g.kernelHeight, KW: g.kernelWidth,
    sH: g.strideH, sW: g.strideW, pH: g.padH, pW: g.padW, dH: g.dilationH, dW: g.dilationW,
    OH: g.outHeight, OW: g.outWidth, Cipg: g.inChannels / g.groups, Copg: g.outChannels / g.groups,
  };
}

function geometryKey(g: Conv2dGeometry): string {
  return [
    g.batch, g.inChannels, g.inHeight, g.inWidth, g.outChannels, g.kernelHeight, g.kernelWidth,
    g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW, g.groups, g.outHeight, g.outWidth,
  ].join(',');
}

const zeroBias = new Map<number, Float32Array>();
function zeros(n: number): Float32Array {
  let z = zeroBias.get(n);
  if (z === undefined) {
    z = new Float32Array(n);
    zeroBias.set(n, z);
  }
  return z;
}

/**
 * The gpu.js conv2d forward launch for `g` (null when `out` is empty): the kernel to compile and its arguments.
 * @example const l = conv2dForwardLaunch(x, w, null, out, g); if (l) runCached('webasm', l, out);
 */
export function conv2dForwardLaunch(x: Float32Array, weight: Float32Array, bias: Float32Array | null, out: Float32Array, g: Conv2dGeometry): GpujsLaunch | null {
  if (out.length === 0) return null;
  const spec = (): KernelSpec => ({
    source: FORWARD,
    output: [g.outWidth, g.outHeight, g.batch * g.outChannels],
    constants: constantsOf(g),
    maxLoop: Math.max(g.inChannels / g.groups, g.kernelHeight, g.kernelWidth),
  });
  // NOTE: a null bias runs the same compiled kernel with zeros (one add per cell) rather than a second variant.
  return { op: 'conv2dForward', key: geometryKey(g), spec, args: [x, weight, bias ?? zeros(g.outChannels)] };
}

/** The gpu.js conv2d input-gradient launch (a gather over the output cells that read each input cell); null when nothing is left to run. */
export function conv2dBackwardInputLaunch(gradOut: Float32Array, weight: Float32Array, gradX: Float32Array, g: Conv2dGeometry): GpujsLaunch | null {
  if (gradX.length === 0) return null;
  if (gradOut.length === 0) {
    gradX.fill(0);
    return null;
  }
  const spec = (): KernelSpec => ({
    source: BACKWARD_INPUT,
    output: [g.inWidth, g.inHeight, g.batch * g.inChannels],
    constants: constantsOf(g),
    maxLoop: Math.max(g.outChannels / g.groups, g.kernelHeight, g.kernelWidth),
  });
  return { op: 'conv2dBackwardInput', key: geometryKey(g), spec, args: [gradOut, weight] };
}

/** The gpu.js conv2d weight-gradient launch (one thread per weight, looping over batch and output positions); null when nothing is left to run. */
export function conv2dBackwardWeightLaunch(x: Float32Array, gradOut: Float32Array, gradW: Float32Array, g: Conv2dGeometry): GpujsLaunch | null {
  if (gradW.length === 0) return null;
  if (gradOut.length === 0) {
    gradW.fill(0);
    return null;
  }
  const spec = (): KernelSpec => ({
    source: BACKWARD_WEIGHT,
    output: [g.kernelWidth, g.kernelHeight, g.outChannels * (g.inChannels / g.groups)],
    constants: constantsOf(g),
    maxLoop: Math.max(g.batch, g.outHeight, g.outWidth),
  });
  return { op: 'conv2dBackwardWeight', key: geometryKey(g), spec, args: [x, gradOut] };
}

/**
 * gpu.js {@link Conv2dForwardKernel} for `mode`.
 * @example makeConv2dForward('webasm')(x, w, null, out, conv2dGeometry([1, 3, 8, 8], [4, 3, 3, 3], { padding: 1 }))
 */
export function makeConv2dForward(mode: GpujsMode): Conv2dForwardKernel {
  return (x, weight, bias, out, g) => {
    const launch = conv2dForwardLaunch(x, weight, bias, out, g);
    if (launch !== null) runCached(mode, launch, out);
  };
}

/** gpu.js {@link Conv2dBackwardInputKernel} for `mode`. */
export function makeConv2dBackwardInput(mode: GpujsMode): Conv2dBackwardInputKernel {
  return (gradOut, weight, gradX, g) => {
    const launch = conv2dBackwardInputLaunch(gradOut, weight, gradX, g);
    if (launch !== null) runCached(mode, launch, gradX);
  };
}

/** gpu.js {@link Conv2dBackwardWeightKernel} for `mode`. */
export function makeConv2dBackwardWeight(mode: GpujsMode): Conv2dBackwardWeightKernel {
  return (x, gradOut, gradW, g) => {
    const launch = conv2dBackwardWeightLaunch(x, gradOut, gradW, g);
    if (launch !== null) runCached(mode, launch, gradW);
  };
}
