/**
 * Per-layer generated code of the ternary conv: a module built once per (layer, geometry without
 * batch) with every tap offset baked in, its band gather for strided layers, and the per-thread work
 * that runs it (self-contained: the pool's workers evaluate its source).
 */
import type { TernaryLayer } from '../types.js';
import { I32, ModuleBuilder, V128, uleb, webAssembly, type WasmMemory, forRange } from '../wasm/assembler.js';
import { type PoolFamily, registerPoolFamily, releasePoolFamily } from '../wasm/worker-pool.js';
import { MAX_PAGES, SHARED_MEMORY, emitGather } from './simd-module.js';
import { emitQuantGather } from './int-gather.js';

/**
 * Output channels per generated block. Each channel keeps a `+` and a `−` f32x4 accumulator in
 * registers, and a tap's input vector is loaded once per block and added into every accumulator
 * that uses it. NOTE: 4 channels (8 accumulators) with groups of 6–7 taps (the loaded vectors of a
 * group stay live until their last addition: 14–15 of x64's 15 allocatable xmm registers) measured
 * fastest single-thread on the ResNet-20 shapes; 5×5 and 3×9 were 5–30 % slower, 6×3 up to 2×
 * slower (many more `br_table` cases).
 */
export const CHANNELS_PER_BLOCK = 4;
/**
 * Distinct tap offsets per group (one case of the block's tap switch; see {@link emitBlock}): 6 when
 * a loaded vector feeds more than two accumulators on average (dense layers: more adds per case),
 * else 7 (sparser layers: fewer `br_table` dispatches; 64→64 @8×8 at 70 %: 1.1 vs 1.3 ms).
 */
function tapsPerGroup(adds: number, offsets: number): number {
  return adds > 2 * offsets ? 6 : 7;
}
/** Layers with more non-zero weights than this use the generic tap-table kernel (generated code grows with the non-zeros). */
export const JIT_MAX_NONZEROS = 1 << 18;

/** Where a layer's generated code reads its taps: byte offsets from a grid point's input address. */
export interface JitGeometry {
  /** Grid row length (floats) and output size. */
  readonly Wq: number;
  readonly OH: number;
  readonly OW: number;
  /** Byte offset of tap t of output channel m, relative to the grid point (may be negative). */
  readonly tapOffset: (m: number, t: number) => number;
  /** Output channels per group (channels of one group read the same input planes). */
  readonly outPerGroup: number;
  /** Each work unit gathers its own band of the (phase) planes (see {@link emitBandGather}). */
  readonly band: BandSpec;
  /** Input element and accumulator lanes (default f32): see {@link JitLanes}. */
  readonly lanes?: JitLanes;
  /** Integer lanes: output channel m's coefficients `[scale·w_p, scale·w_n]` (float lanes use the layer's centroids). */
  readonly coefficients?: (m: number) => readonly [number, number];
  /** Integer lanes: the band gather quantizes with this float32 `1/scale` and clamp (./int.ts). */
  readonly quantize?: { readonly inv: number; readonly qmax: number };
  /** Work fused into the output stores (see {@link JitPost}); absent: the plain layer output. */
  readonly post?: JitPost;
  /**
   * A dense conv (float lanes only): the weight of each `+` tap, aligned with `posTaps` (the layer
   * lists every non-zero weight as a `+` tap and no `−` taps). One accumulator per output channel
   * sums `x·w` tap by tap, and the output is `acc + b`.
   */
  readonly tapWeights?: Float32Array;
}

/**
 * What the generated code does to each output before storing it, in this order and with the
 * arithmetic of the separate passes it replaces (kernels/wasm/elementwise.ts), so fused and unfused
 * runs give the same bits:
 * 1. `residual`: `y + r` (float32), r read at the same NCHW position of the residual tensor, or
 *    through `residualMap`;
 * 2. `act`: ReLU (`y <= 0 ? 0 : y`, NaN kept) or ReLU6.
 * (A folded batch-norm scale is per-channel centroids of the layer, see TernaryLayer.channelWp.)
 */
export interface JitPost {
  readonly residual: boolean;
  /**
   * The residual is an option-A shortcut of the tensor given (ResNet's
   * `pad(x[:, :, ::stride, ::stride])`, `padBefore` zero channels first), read straight from that
   * tensor `[N, channels, height, width]` (stride 1 or 2): output channel m adds
   * `x[m − padBefore, stride·y, stride·x]`, or +0 outside the copied channels.
   */
  readonly residualMap?: ResidualMap;
  readonly act: 'none' | 'relu' | 'relu6';
}

/** See {@link JitPost.residualMap}. */
export interface ResidualMap {
  readonly stride: 1 | 2;
  readonly padBefore: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

/**
 * Cache key part of a {@link JitPost}.
 * @example const key = `${plan.key};${postKey(post)}`;
 */
export function postKey(post: JitPost | undefined): string {
  if (post === undefined) return '';
  const map = post.residualMap;
  return `${post.residual ? 'r' : ''}${map === undefined ? '' : `${map.stride},${map.padBefore},${map.channels},${map.height},${map.width}`},${post.act}`;
}

/** Floats 0 and 2 of each operand: every other value of a stride-2 row. */
const EVEN_FLOATS = [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27];

/**
 * Applies `post` to the f32x4 in local `y` for output channel `m`, the residual vector read at
 * `resAddr + offset` (see {@link JitPost}); leaves the result in `y`.
 */
function emitPost(f: ReturnType<ModuleBuilder['func']>, post: JitPost, m: number, y: number, resAddr: number, offset: number, half: number): void {
  const map = post.residualMap;
  if (post.residual && map === undefined) f.get(y).get(resAddr).v128Load(offset).f32x4Add().set(y);
  else if (post.residual && map !== undefined) {
    // resAddr: the row's first source pixel (+ the vector's); channel and half are immediates.
    const c = m - map.padBefore;
    f.get(y);
    if (c < 0 || c >= map.channels) f.f32x4Const(0);
    else {
      const at = (c * map.height * map.width + half * 4 * map.stride) * 4;
      f.get(resAddr).v128Load(at);
      if (map.stride === 2) f.get(resAddr).v128Load(at + 16).i8x16Shuffle(EVEN_FLOATS);
    }
    f.f32x4Add().set(y);
  }
  if (post.act === 'relu6') f.f32x4Const(6).get(y).get(y).f32x4Const(6).f32x4Ge().v128Bitselect().set(y);
  // y & ~(y <= 0): a NaN lane compares false and is kept.
  if (post.act !== 'none') f.get(y).get(y).f32x4Const(0).f32x4Le().v128Andnot().set(y);
}

/**
 * What the generated code adds: `f32` float32 inputs in f32x4 accumulators (the float path);
 * `i16to32` int16 inputs widened into i32x4 accumulators (int16 activations, 4 pixels a vector);
 * `i16` int16 inputs in i16x8 accumulators (int8 activations, 8 pixels a vector). Integer
 * accumulators become float32 only in the output expression.
 */
export type JitLanes = 'f32' | 'i16to32' | 'i16';

/**
 * A strided layer's band gather (geometry constants, batch aside): per work unit, the phase planes'
 * rows [u0, u0 + R) of one sample (R = band rows + kernel halo), `R·Wq` floats a plane, into the
 * thread's band buffer — the rows the unit's output rows read, gathered by the thread that reads
 * them while they are in its cache, instead of a separate pass writing (and the kernels re-reading)
 * every plane of the batch.
 */
export interface BandSpec {
  readonly C: number;
  readonly phases: number;
  /** Output rows per band at most, and grid rows per band plane (rows + halo). */
  readonly rows: number;
  readonly R: number;
  readonly Wq: number;
  /** Bytes of a band element: 4 (float32 planes), 2 (int16 planes of the integer path). */
  readonly elemBytes: number;
  readonly hwB: number;
  readonly rowStepB: number;
  readonly colStepB: number;
  /** Per phase: valid grid rows [uLo, uHi) and columns [vLo, vHi) of the full plane, and the source byte offset of (uLo, vLo). */
  readonly uLo: readonly number[];
  readonly uHi: readonly number[];
  readonly vLo: readonly number[];
  readonly vHi: readonly number[];
  readonly off: readonly number[];
}

/**
 * `g(src, dst, u0, nr)`: grid rows [u0, u0 + nr) (nr ≤ R) of every phase plane of one sample
 * (NCHW source at `src`) into `dst` (plane k of channel c at `(c·phases + k)·R·Wq` floats), through
 * `gather` (function 0 of the module); rows outside the input are zeros: the same values as the
 * whole-plane gather, so the generated kernels sum the same numbers in the same order.
 */
function emitBandGather(mod: ModuleBuilder, b: BandSpec): void {
  const f = mod.func('g', [I32, I32, I32, I32], []);
  const [src, dst, u0, nr] = [0, 1, 2, 3];
  const c = f.local(I32), lo = f.local(I32), cEnd = f.local(I32), planeB = b.R * b.Wq * b.elemBytes;
  f.i32Const(0).set(c);
  f.i32Const(b.C).set(cEnd);
  forRange(f, c, cEnd, 1, () => {
    for (let k = 0; k < b.phases; k++) {
      // lo = max(uLo − u0, 0): band row of the first valid grid row; its source row is u0 + lo.
      f.i32Const(b.uLo[k]).get(u0).i32Sub().set(lo);
      f.get(lo).i32Const(0).get(lo).i32Const(0).i32GtS().raw(0x1b).set(lo); // select
      f.i32Const(0);
      f.get(dst).i32Const(k * planeB).i32Add();
      f.get(lo);
      f.i32Const(b.uHi[k]).get(u0).i32Sub();
      f.i32Const(b.vLo[k]).i32Const(b.vHi[k]).get(nr).i32Const(b.Wq);
      f.get(src).i32Const(b.off[k]).i32Add().get(u0).get(lo).i32Add().i32Const(b.uLo[k]).i32Sub().i32Const(b.rowStepB).i32Mul().i32Add();
      f.i32Const(b.rowStepB).i32Const(b.colStepB);
      f.raw(0x10, 0); // call gather
    }
    f.get(src).i32Const(b.hwB).i32Add().set(src);
    f.get(dst).i32Const(b.phases * planeB).i32Add().set(dst);
  });
}

/**
 * `b{k}(xs, outS, oy0, oy1, bias, scratch)`: output channels [m0, m1) of one sample, output rows
 * [oy0, oy1). Per output vector (4 grid points of one row): every `+` and `−` tap of the block's
 * channels summed into registers (each distinct input vector loaded once, at a constant offset
 * from `xs`; groups of {@link tapsPerGroup} offsets are the cases of a `br_table` loop), then
 * `w_p·P − w_n·N + b` stored into the NCHW output at `outS`. Every output is summed in ascending
 * tap-offset order whichever thread runs it. A row's last partial
 * vector (OW mod 4 ≠ 0) goes through `scratch` so it never writes past its row.
 */
function emitBlock(mod: ModuleBuilder, name: string, layer: TernaryLayer, m0: number, m1: number, geo: JitGeometry, minOff: number): void {
  const f = mod.func(name, [I32, I32, I32, I32, I32, I32, I32], []);
  const [xs, outS, oy0, oy1, bias, scratch, resS] = [0, 1, 2, 3, 4, 5, 6];
  const oy = f.local(I32), v = f.local(I32), vEnd = f.local(I32), xr = f.local(I32), xa = f.local(I32), orow = f.local(I32), dst = f.local(I32), grp = f.local(I32);
  const rrow = f.local(I32), ra = f.local(I32);
  const k = m1 - m0;
  const dense = geo.tapWeights;
  const acc = Array.from({ length: dense === undefined ? 2 * k : k }, () => f.local(V128));
  const tmp = f.local(V128);
  const post = geo.post;
  const y = f.local(V128);
  // Distinct (group, tap) inputs of the block, in ascending (group, tap) order, each with its offset
  // and the accumulators it feeds. NOTE: tap order, not offset order: every accumulator then sums
  // its taps in the order the generic kernel's tables list them, so the two kernels round alike.
  const per = layer.inPerGroup * layer.kernelHeight * layer.kernelWidth;
  const users = new Map<number, number[]>();
  // Dense convs: the weight of each use, aligned with `users`.
  const weightsOf = new Map<number, number[]>();
  const offsetOf = new Map<number, number>();
  const add = (m: number, tap: number, a: number, w: number): void => {
    const key = Math.floor(m / geo.outPerGroup) * per + tap;
    const u = users.get(key);
    if (u === undefined) {
      users.set(key, [a]);
      weightsOf.set(key, [w]);
      offsetOf.set(key, geo.tapOffset(m, tap) - minOff);
    } else {
      u.push(a);
      (weightsOf.get(key) as number[]).push(w);
    }
  };
  for (let j = 0; j < k; j++) {
    const m = m0 + j;
    for (let t = layer.posStart[m]; t < layer.posStart[m + 1]; t++) add(m, layer.posTaps[t], dense === undefined ? 2 * j : j, dense === undefined ? 1 : dense[t]);
    for (let t = layer.negStart[m]; t < layer.negStart[m + 1]; t++) add(m, layer.negTaps[t], 2 * j + 1, 1);
  }
  const offsets = [...users.keys()].sort((a, b) => a - b);
  let adds = 0;
  for (const us of users.values()) adds += us.length;
  const perGroup = tapsPerGroup(adds, offsets.length);
  const groups: number[][] = [];
  for (let g0 = 0; g0 < offsets.length; g0 += perGroup) groups.push(offsets.slice(g0, g0 + perGroup));
  const G = groups.length;
  const ohwB = geo.OH * geo.OW * 4;
  const lanes = geo.lanes ?? 'f32';
  // Pixels per vector, output bytes per vector (v counts output bytes), input bytes per element.
  const px = lanes === 'i16' ? 8 : 4;
  const outB = px * 4;
  const elemB = lanes === 'f32' ? 4 : 2;
  const nFull = Math.floor(geo.OW / px);
  const rem = geo.OW % px;
  const nVec = Math.ceil(geo.OW / px);
  f.i32Const(nVec * outB).set(vEnd);
  f.get(oy0).set(oy);
  forRange(f, oy, oy1, 1, () => {
    f.get(xs).get(oy).i32Const(geo.Wq * elemB).i32Mul().i32Add().set(xr);
    f.get(outS).get(oy).i32Const(geo.OW * 4).i32Mul().i32Add().i32Const(m0 * ohwB).i32Add().set(orow);
    const map = post?.residualMap;
    if (post?.residual && map === undefined) f.get(resS).get(oy).i32Const(geo.OW * 4).i32Mul().i32Add().i32Const(m0 * ohwB).i32Add().set(rrow);
    else if (post?.residual && map !== undefined) f.get(resS).get(oy).i32Const(map.stride * map.width * 4).i32Mul().i32Add().set(rrow);
    f.i32Const(0).set(v);
    forRange(f, v, vEnd, outB, () => {
      // Input bytes of output byte v: v·elemB/4 (int16 elements: v/2).
      if (elemB === 4) f.get(xr).get(v).i32Add().set(xa);
      else f.get(xr).get(v).i32Const(1).i32ShrU().i32Add().set(xa);
      for (const a of acc) f.f32x4Const(0).set(a);
      // NOTE: the taps run as the cases of a loop over groups (a `br_table` switch): accumulators
      // carried round a loop must be complete at each back-edge, so the optimiser finishes one
      // group's additions before the next group's loads. As straight-line code it hoisted every
      // load to the top and sank every addition to the bottom, spilling nearly every value.
      const load = (off: number): void => {
        if (lanes === 'i16to32') f.raw(0xfd, ...uleb(0x03), 1, ...uleb(off)); // v128.load16x4_s (align hint: 2 bytes)
        else f.v128Load(off);
      };
      const add = (): void => {
        if (lanes === 'f32') f.f32x4Add();
        else f.raw(0xfd, ...uleb(lanes === 'i16' ? 0x8e : 0xae)); // i16x8.add / i32x4.add
      };
      // Dense: acc + x·w (multiply, then add: two roundings, the same on every engine).
      const addUse = (ws: number[], i: number): void => {
        if (dense !== undefined) f.f32x4Const(ws[i]).f32x4Mul();
        add();
      };
      const emitGroup = (grpOffsets: number[]): void => {
        for (const key of grpOffsets) {
          const us = users.get(key) as number[];
          const ws = weightsOf.get(key) as number[];
          const off = offsetOf.get(key) as number;
          if (us.length === 1) {
            f.get(acc[us[0]]).get(xa);
            load(off);
            addUse(ws, 0);
            f.set(acc[us[0]]);
            continue;
          }
          f.get(xa);
          load(off);
          f.set(tmp);
          us.forEach((a, i) => { f.get(acc[a]).get(tmp); addUse(ws, i); f.set(acc[a]); });
        }
      };
      if (G > 0) {
        f.i32Const(0).set(grp);
        f.loop();
        f.block(); // exit
        for (let i = G - 1; i >= 0; i--) f.block();
        f.get(grp);
        f.raw(0x0e, ...uleb(G), ...Array.from({ length: G }, (_, i) => uleb(i)).flat(), ...uleb(G)); // br_table 0..G−1, default: exit
        for (let i = 0; i < G; i++) {
          f.end();
          emitGroup(groups[i]);
          f.get(grp).i32Const(1).i32Add().set(grp);
          f.br(G - i);
        }
        f.end(); // exit
        f.end(); // loop
      }
      if (rem === 0) {
        f.get(orow).get(v).i32Add().set(dst);
      } else {
        f.get(v).i32Const(nFull * outB).i32LtU();
        f.if(); f.get(orow).get(v).i32Add().set(dst); f.else(); f.get(scratch).set(dst); f.end();
      }
      // The residual vector of the same outputs (a row's last partial vector reads past the row;
      // those lanes are dropped with the scratch copy below).
      if (post?.residual) {
        // Output byte v is source byte v·stride of the shortcut's row (v·1 for a plain residual).
        f.get(rrow).get(v);
        if (post.residualMap?.stride === 2) f.i32Const(1).i32Shl();
        f.i32Add().set(ra);
      }
      const store = (m: number, offset: number, half = 0): void => {
        if (post === undefined) { f.v128Store(offset); return; }
        f.set(y);
        emitPost(f, post, m, y, ra, offset, half);
        f.get(y).v128Store(offset);
      };
      if (dense !== undefined) {
        for (let j = 0; j < k; j++) {
          f.get(dst).get(acc[j]);
          f.get(bias).f32Load((m0 + j) * 4).f32x4Splat().f32x4Add();
          store(m0 + j, j * ohwB);
        }
      } else if (lanes === 'f32') {
        for (let j = 0; j < k; j++) {
          // Same order as the generic kernel's `rows`: (w_p·P − w_n·N) + b (per-channel centroids if any).
          f.get(dst);
          f.f32x4Const(layer.channelWp?.[m0 + j] ?? layer.wp).get(acc[2 * j]).f32x4Mul();
          f.f32x4Const(layer.channelWn?.[m0 + j] ?? layer.wn).get(acc[2 * j + 1]).f32x4Mul().f32x4Sub();
          f.get(bias).f32Load((m0 + j) * 4).f32x4Splat().f32x4Add();
          store(m0 + j, j * ohwB);
        }
      } else {
        // Integer sums to float32 (f32x4.convert_i32x4_s; i16 lanes widened first, low then high
        // half), then (a·P − c·N) + b as ./int.ts writes it.
        const coef = geo.coefficients ?? ((m: number): readonly [number, number] => [layer.channelWp?.[m] ?? layer.wp, layer.channelWn?.[m] ?? layer.wn]);
        const toF32 = (a: number, half: number): void => {
          f.get(a);
          if (lanes === 'i16') f.raw(0xfd, ...uleb(half === 0 ? 0xa7 : 0xa8)); // i32x4.extend_{low,high}_i16x8_s
          f.raw(0xfd, ...uleb(0xfa));
        };
        for (let j = 0; j < k; j++) {
          const [ca, cc] = coef(m0 + j);
          for (let half = 0; half < px / 4; half++) {
            f.get(dst);
            f.f32x4Const(ca);
            toF32(acc[2 * j], half);
            f.f32x4Mul();
            f.f32x4Const(cc);
            toF32(acc[2 * j + 1], half);
            f.f32x4Mul().f32x4Sub();
            f.get(bias).f32Load((m0 + j) * 4).f32x4Splat().f32x4Add();
            store(m0 + j, j * ohwB + half * 16, half);
          }
        }
      }
      if (rem !== 0) {
        f.get(v).i32Const(nFull * outB).i32Eq();
        f.if();
        for (let j = 0; j < k; j++) {
          for (let l = 0; l < rem; l++) f.get(orow).get(v).i32Add().get(scratch).f32Load(j * ohwB + l * 4).f32Store(j * ohwB + l * 4);
        }
        f.end();
      }
    });
  });
}

/** A layer's generated module for one input geometry (batch aside) and its pool registration. */
export interface Jit {
  readonly family: PoolFamily;
  readonly blocks: number;
  /** Channels in the largest block (the tail scratch holds that many output planes). */
  readonly maxBlock: number;
  /** Byte shift added to the sample base so every tap offset is a non-negative immediate. */
  readonly minOff: number;
  /** The band gather's layout (units gather their own input rows). */
  readonly band: BandSpec;
  /** The output work fused into the stores, if any. */
  readonly post?: JitPost;
}

/**
 * Generates (and registers with the pool) a layer's module for one geometry, batch aside.
 * @example const jit = buildJit(layer, { Wq, OH, OW, tapOffset, outPerGroup: M }, memory);
 */
export function buildJit(layer: TernaryLayer, geo: JitGeometry, memory: WasmMemory): Jit {
  const M = layer.outChannels;
  const blocks = Math.ceil(M / CHANNELS_PER_BLOCK);
  let minOff = 0;
  for (let m = 0; m < M; m++) {
    for (let t = layer.posStart[m]; t < layer.posStart[m + 1]; t++) minOff = Math.min(minOff, geo.tapOffset(m, layer.posTaps[t]));
    for (let t = layer.negStart[m]; t < layer.negStart[m + 1]; t++) minOff = Math.min(minOff, geo.tapOffset(m, layer.negTaps[t]));
  }
  const mod = new ModuleBuilder({ initialPages: 1, maximumPages: MAX_PAGES, shared: SHARED_MEMORY });
  // Function 0, which `g` calls: the float gather, or the integer path's quantizing one.
  if (geo.quantize !== undefined) emitQuantGather(mod, geo.quantize.inv, geo.quantize.qmax);
  else emitGather(mod);
  emitBandGather(mod, geo.band);
  let maxBlock = 0;
  for (let b = 0; b < blocks; b++) {
    // Balanced blocks: sizes differ by at most one.
    const m0 = Math.floor((M * b) / blocks), m1 = Math.floor((M * (b + 1)) / blocks);
    maxBlock = Math.max(maxBlock, m1 - m0);
    emitBlock(mod, `b${b}`, layer, m0, m1, geo, minOff);
  }
  const wa = webAssembly as NonNullable<typeof webAssembly>;
  const module = new wa.Module(mod.bytes());
  return { family: registerPoolFamily('ternaryConv2d (generated)', module, memory, `${jitWork.toString()}\nreturn jitWork;`), blocks, maxBlock, minOff, band: geo.band, post: geo.post };
}

/** Main-thread instances of the generated modules. */
const jitExports = new WeakMap<PoolFamily, Record<string, unknown>>();

/**
 * The calling thread's instance of a layer's generated module over `memory` (instantiated once).
 * @example const E = jitInstance(jit.family, I.memory);
 */
export function jitInstance(family: PoolFamily, memory: WasmMemory): Record<string, unknown> {
  let E = jitExports.get(family);
  if (E === undefined) {
    E = new (webAssembly as NonNullable<typeof webAssembly>).Instance(family.module, { env: { memory } }).exports;
    jitExports.set(family, E);
  }
  return E;
}
/** Releases a layer's generated modules from the pool once the layer is garbage-collected. */
export const jitRelease = new FinalizationRegistry<PoolFamily>((family) => releasePoolFamily(family));

// Parameter words of a generated-kernel job.
// (Word 6 is unused: it held the sample stride of whole-batch planes, before every layer band-gathered.)
export const J_N = 0, J_CPS = 1, J_ROWS = 2, J_OH = 3, J_BLOCKS = 4, J_XS = 5, J_OUT = 7, J_OUT_SAMPLE_B = 8, J_BIAS = 9, J_SCRATCH = 10, J_SCRATCH_B = 11;
// Band gather: band buffers, per-thread stride, staged input and its sample stride, grid row bytes.
// J_READY: byte address of the count of samples staged so far (the main thread stages them during the job).
export const J_BAND = 12, J_BAND_B = 13, J_SRC = 14, J_SRC_SAMPLE_B = 15, J_ROW_B = 16, J_HALO = 17, J_READY = 18;
// J_RES: byte address of the residual tensor of a fused residual join (else 0), J_RES_SAMPLE_B its sample stride.
export const J_RES = 19, J_RES_SAMPLE_B = 20;
export const J_WORDS = 21;

/**
 * Cuts a generated-kernel job into work units (sample, band of at most `bandRows` output rows), at
 * least one per thread, and writes the cut into its words. NOTE: not more: a band gathers its kernel
 * halo again, and a batch-1 call cut into 16 two-row bands (the old minimum) gathered every input
 * row twice (1 thread: float ResNet-20 809 → 1032 images/s, int8 1117 → 1723). The cut may depend on
 * the thread count: every output is summed by the same code in the same order whichever band holds it.
 * @example setWorkUnits(w, N, g.outHeight, band.rows, threads)
 */
export function setWorkUnits(w: Int32Array, N: number, OH: number, bandRows: number, threads: number): void {
  const cps = Math.min(OH, Math.max(Math.ceil(OH / bandRows), Math.ceil(threads / N)));
  const rows = Math.ceil(OH / cps);
  w[J_N] = N; w[J_CPS] = Math.ceil(OH / rows); w[J_ROWS] = rows; w[J_OH] = OH;
}

/**
 * One thread's part of a generated-kernel job: work units (sample n, band of `rows` output rows)
 * from the job's shared counter, each through every channel block; `index` picks the thread's tail
 * scratch. A unit's outputs are computed the same whichever thread takes it. Self-contained (the
 * pool's workers evaluate its source); word indices are literals for that reason.
 */
export function jitWork(E: Record<string, unknown>, _memory: unknown, P: Int32Array, _op: number, index: number, _threads: number, next: () => number): void {
  const N = P[0], cps = P[1], rows = P[2], OH = P[3], nb = P[4], xs0 = P[5], out = P[7], outSampleB = P[8], bias = P[9];
  const scratch = P[10] + index * P[11];
  const units = N * cps;
  const fns: ((xs: number, outS: number, oy0: number, oy1: number, bias: number, scratch: number, resS: number) => void)[] = [];
  for (let b = 0; b < nb; b++) fns.push(E[`b${b}`] as (typeof fns)[number]);
  // The unit first gathers its band of every (phase) plane into the thread's band buffer.
  const band = P[12] + index * P[13], src0 = P[14], srcSampleB = P[15], rowB = P[16];
  const gather = E.g as (src: number, dst: number, u0: number, nr: number) => void;
  const halo = P[17];
  const ready = P[18] >> 2, staged = new Int32Array((_memory as { buffer: SharedArrayBuffer }).buffer);
  const res = P[19], resSampleB = P[20];
  for (let u = next(); u < units; u = next()) {
    const n = Math.floor(u / cps);
    const oy0 = (u - n * cps) * rows;
    const oy1 = Math.min(OH, oy0 + rows);
    // Wait (briefly: a sample's copy is µs) until the main thread has staged sample n.
    while (Atomics.load(staged, ready) <= n);
    gather(src0 + n * srcSampleB, band, oy0, oy1 - oy0 + halo);
    const xs = band + xs0 - oy0 * rowB;
    const os = out + n * outSampleB, rs = res === 0 ? 0 : res + n * resSampleB;
    for (let b = 0; b < nb; b++) fns[b](xs, os, oy0, oy1, bias, scratch, rs);
  }
}
