/**
 * Dense 2-D convolution in generated WebAssembly SIMD: the data movement that dominated the cpu
 * conv (TypeScript im2col, GEMM B packing, col2im) runs in WASM over one module memory, next to the
 * GEMM micro-kernel (`tiles`, kernels/wasm/gemm.ts) that does the arithmetic.
 *
 * Per chunk of S samples (S chosen so the column matrix stays cache-sized; a pure function of the
 * geometry, so results are deterministic):
 * - forward: x → zero-padded image xp (border-free im2col) → col [K × S·OH·OW] row-major
 *   (K = Cin·KH·KW) → C = W·col with the packed-A / row-major-B `tiles` kernel → scattered to NCHW;
 * - input gradient: dY gathered to [Cout × S·OH·OW] → dcol = Wᵀ·dY (`tiles`) → col2im (SIMD
 *   scatter-add into padded dxp) → un-padded into dX;
 * - weight gradient: dW (+)= dY·colᵀ with a dot-product kernel (`dotNT`) reading both operands
 *   along the contiguous pixel axis, so neither needs a transposing pack.
 * Groups other than 1 are not handled here (kernels/cpu/conv.ts keeps them).
 */
import { F32, I32, ModuleBuilder, V128, type FuncBuilder, type WasmMemory } from './assembler.js';
import { KC, MC_STRIPS, MR, NC_STRIPS, NR, PAGE, type TilesFn, gemmModuleBytes, packA, requireWasm, runTiles, useFma, wasmSimdAvailable } from './gemm.js';
import type { Conv2dGeometry } from '../types.js';

/** Rows of A (output channels) per `dotNT` register tile. NOTE: 2×3 (9 accumulators) measured 15–30 % faster than 4×3, which spills the 16 xmm registers; 4×2 and 2×4 in between. */
const DM = 2;
/** Rows of B (im2col rows) per `dotNT` register tile; 3 divides every 3×3 kernel's K. */
const DN = 3;
/** Target floats of the column matrix per chunk (1 MiB): big enough to amortise calls, small enough for L2. */
const CHUNK_FLOATS = 1 << 18;

// ---------------------------------------------------------------- code generation

/** Emits `while (get(i) < get(end)) { body; i += step }` with unsigned compares and a skip when empty. */
function forRange(f: FuncBuilder, i: number, end: number, step: number, body: () => void): void {
  f.block();
  f.get(i).get(end).i32LtU().i32Eqz().brIf(0);
  f.loop();
  body();
  f.get(i).i32Const(step).i32Add().tee(i).get(end).i32LtU().brIf(0);
  f.end();
  f.end();
}

/** `fill0(ptr, n)`: n floats at byte ptr become 0. */
function emitFill0(mod: ModuleBuilder): void {
  const f = mod.func('fill0', [I32, I32], []);
  const [ptr, n] = [0, 1];
  const i = f.local(I32), vecEnd = f.local(I32), end = f.local(I32), a = f.local(I32);
  f.get(n).i32Const(4).i32Mul().set(end);
  f.get(n).i32Const(-4).i32And().i32Const(4).i32Mul().set(vecEnd);
  f.i32Const(0).set(i);
  forRange(f, i, vecEnd, 16, () => { f.get(ptr).get(i).i32Add().set(a); f.get(a).f32x4Const(0).v128Store(); });
  forRange(f, i, end, 4, () => { f.get(ptr).get(i).i32Add().set(a); f.get(a).f32Const(0).f32Store(); });
}

/**
 * `copy2d(src, dst, outer, rows, len, srcRowB, dstRowB, srcOuterB, dstOuterB)`: outer × rows rows of
 * `len` floats; strides in bytes.
 */
function emitCopy2d(mod: ModuleBuilder): void {
  const f = mod.func('copy2d', [I32, I32, I32, I32, I32, I32, I32, I32, I32], []);
  const [src, dst, outer, rows, len, srcRowB, dstRowB, srcOuterB, dstOuterB] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const o = f.local(I32), r = f.local(I32), sO = f.local(I32), dO = f.local(I32), sR = f.local(I32), dR = f.local(I32);
  const i = f.local(I32), vecEnd = f.local(I32), end = f.local(I32);
  f.get(len).i32Const(4).i32Mul().set(end);
  f.get(len).i32Const(-4).i32And().i32Const(4).i32Mul().set(vecEnd);
  f.get(src).set(sO);
  f.get(dst).set(dO);
  f.i32Const(0).set(o);
  forRange(f, o, outer, 1, () => {
    f.get(sO).set(sR);
    f.get(dO).set(dR);
    f.i32Const(0).set(r);
    forRange(f, r, rows, 1, () => {
      f.i32Const(0).set(i);
      forRange(f, i, vecEnd, 16, () => {
        f.get(dR).get(i).i32Add().get(sR).get(i).i32Add().v128Load().v128Store();
      });
      forRange(f, i, end, 4, () => {
        f.get(dR).get(i).i32Add().get(sR).get(i).i32Add().f32Load().f32Store();
      });
      f.get(sR).get(srcRowB).i32Add().set(sR);
      f.get(dR).get(dstRowB).i32Add().set(dR);
    });
    f.get(sO).get(srcOuterB).i32Add().set(sO);
    f.get(dO).get(dstOuterB).i32Add().set(dO);
  });
}

/**
 * `im2col` / `col2im` over a zero-padded image (so no bounds checks):
 * params (xp, col, C, KH, KW, OH, OW, planeB, shRowB, swB, dhRowB, dwB, ldB), bytes for strides.
 * Row (c, i, j) of col, at `col + ((c·KH + i)·KW + j)·ldB`, holds OH·OW floats:
 * col[oy·OW + ox] = xp[c·plane + (oy·sh + i·dh)·Wp + ox·sw + j·dw].
 * `scatter`: the adjoint, xp[...] += col[...] (the taps of one row hit distinct pixels, so a row's
 * vector read-modify-writes never overlap).
 */
function emitIm2col(mod: ModuleBuilder, name: string, scatter: boolean): void {
  const f = mod.func(name, [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32], []);
  const [xp, col, C, KH, KW, OH, OW, planeB, shRowB, swB, dhRowB, dwB, ldB] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  const c = f.local(I32), i = f.local(I32), j = f.local(I32), oy = f.local(I32);
  const pc = f.local(I32), pi = f.local(I32), pj = f.local(I32), dRow = f.local(I32), d = f.local(I32), s = f.local(I32);
  const k = f.local(I32), sp = f.local(I32), owB = f.local(I32), vecEnd = f.local(I32), da = f.local(I32), sa = f.local(I32);
  f.get(OW).i32Const(4).i32Mul().set(owB);
  f.get(OW).i32Const(-4).i32And().i32Const(4).i32Mul().set(vecEnd);
  f.get(col).set(dRow);
  f.get(xp).set(pc);
  f.i32Const(0).set(c);
  forRange(f, c, C, 1, () => {
    f.get(pc).set(pi);
    f.i32Const(0).set(i);
    forRange(f, i, KH, 1, () => {
      f.get(pi).set(pj);
      f.i32Const(0).set(j);
      forRange(f, j, KW, 1, () => {
        f.get(dRow).set(d);
        f.get(pj).set(s);
        f.i32Const(0).set(oy);
        forRange(f, oy, OH, 1, () => {
          f.i32Const(0).set(k);
          f.get(swB).i32Const(4).i32Eq().if();
          {
            forRange(f, k, vecEnd, 16, () => {
              f.get(d).get(k).i32Add().set(da);
              f.get(s).get(k).i32Add().set(sa);
              if (scatter) f.get(sa).get(sa).v128Load().get(da).v128Load().f32x4Add().v128Store();
              else f.get(da).get(sa).v128Load().v128Store();
            });
            forRange(f, k, owB, 4, () => {
              f.get(d).get(k).i32Add().set(da);
              f.get(s).get(k).i32Add().set(sa);
              if (scatter) f.get(sa).get(sa).f32Load().get(da).f32Load().f32Add().f32Store();
              else f.get(da).get(sa).f32Load().f32Store();
            });
          }
          f.else();
          {
            f.get(s).set(sp);
            forRange(f, k, owB, 4, () => {
              f.get(d).get(k).i32Add().set(da);
              if (scatter) f.get(sp).get(sp).f32Load().get(da).f32Load().f32Add().f32Store();
              else f.get(da).get(sp).f32Load().f32Store();
              f.get(sp).get(swB).i32Add().set(sp);
            });
          }
          f.end();
          f.get(d).get(owB).i32Add().set(d);
          f.get(s).get(shRowB).i32Add().set(s);
        });
        f.get(dRow).get(ldB).i32Add().set(dRow);
        f.get(pj).get(dwB).i32Add().set(pj);
      });
      f.get(pi).get(dhRowB).i32Add().set(pi);
    });
    f.get(pc).get(planeB).i32Add().set(pc);
  });
}

/**
 * `dotNT(a, b, c, mBlocks, nBlocks, kB, ldaB, ldbB, ldcB, add)`: C[i][j] (+)= Σ_p A[i][p]·B[j][p]
 * for i < mBlocks·DM, j < nBlocks·DN, with A and B row-major along p (kB bytes, a multiple of 16).
 * Each of the DM×DN sums is kept as 4 lane partials over p ≡ 0..3 (mod 4), added as
 * (l0 + l1) + (l2 + l3) at the end: a fixed order, so results are deterministic.
 */
function emitDotNT(mod: ModuleBuilder, fma: boolean): void {
  const f = mod.func('dotNT', [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32], []);
  const [a, b, c, mBlocks, nBlocks, kB, ldaB, ldbB, ldcB, add] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const ib = f.local(I32), jb = f.local(I32), p = f.local(I32);
  const aRow = f.local(I32), bRow = f.local(I32), cBlk = f.local(I32), cT = f.local(I32);
  const ar: number[] = [];
  for (let r = 0; r < DM; r++) ar.push(f.local(I32));
  const br: number[] = [];
  for (let q = 0; q < DN; q++) br.push(f.local(I32));
  const acc: number[] = [];
  for (let t = 0; t < DM * DN; t++) acc.push(f.local(V128));
  const bv: number[] = [];
  for (let q = 0; q < DN; q++) bv.push(f.local(V128));
  const av = f.local(V128);
  const v = f.local(F32);
  const addr = f.local(I32);
  f.get(a).set(aRow);
  f.get(c).set(cBlk);
  f.i32Const(0).set(ib);
  forRange(f, ib, mBlocks, 1, () => {
    for (let r = 0; r < DM; r++) f.get(aRow).get(ldaB).i32Const(r).i32Mul().i32Add().set(ar[r]);
    f.get(b).set(bRow);
    f.get(cBlk).set(cT);
    f.i32Const(0).set(jb);
    forRange(f, jb, nBlocks, 1, () => {
      for (let q = 0; q < DN; q++) f.get(bRow).get(ldbB).i32Const(q).i32Mul().i32Add().set(br[q]);
      for (const x of acc) f.f32x4Const(0).set(x);
      f.i32Const(0).set(p);
      forRange(f, p, kB, 16, () => {
        for (let q = 0; q < DN; q++) f.get(br[q]).get(p).i32Add().v128Load().set(bv[q]);
        for (let r = 0; r < DM; r++) {
          f.get(ar[r]).get(p).i32Add().v128Load().set(av);
          for (let q = 0; q < DN; q++) {
            const x = acc[r * DN + q];
            if (fma) f.get(av).get(bv[q]).get(x).f32x4RelaxedMadd().set(x);
            else f.get(x).get(av).get(bv[q]).f32x4Mul().f32x4Add().set(x);
          }
        }
      });
      for (let r = 0; r < DM; r++) {
        for (let q = 0; q < DN; q++) {
          const x = acc[r * DN + q];
          f.get(x).f32x4ExtractLane(0).get(x).f32x4ExtractLane(1).f32Add()
            .get(x).f32x4ExtractLane(2).get(x).f32x4ExtractLane(3).f32Add().f32Add().set(v);
          f.get(cT).get(ldcB).i32Const(r).i32Mul().i32Add().i32Const(4 * q).i32Add().set(addr);
          f.get(add).if().get(v).get(addr).f32Load().f32Add().set(v).end();
          f.get(addr).get(v).f32Store();
        }
      }
      f.get(bRow).get(ldbB).i32Const(DN).i32Mul().i32Add().set(bRow);
      f.get(cT).i32Const(4 * DN).i32Add().set(cT);
    });
    f.get(aRow).get(ldaB).i32Const(DM).i32Mul().i32Add().set(aRow);
    f.get(cBlk).get(ldcB).i32Const(DM).i32Mul().i32Add().set(cBlk);
  });
}

// ---------------------------------------------------------------- instance and layout

type Fill0 = (ptr: number, n: number) => void;
type Copy2d = (src: number, dst: number, outer: number, rows: number, len: number, srcRowB: number, dstRowB: number, srcOuterB: number, dstOuterB: number) => void;
type Im2col = (xp: number, col: number, C: number, KH: number, KW: number, OH: number, OW: number, planeB: number, shRowB: number, swB: number, dhRowB: number, dwB: number, ldB: number) => void;
type DotNT = (a: number, b: number, c: number, mBlocks: number, nBlocks: number, kB: number, ldaB: number, ldbB: number, ldcB: number, add: number) => void;

interface Inst {
  memory: WasmMemory;
  view: Float32Array;
  tiles: TilesFn;
  fill0: Fill0;
  copy2d: Copy2d;
  im2col: Im2col;
  col2im: Im2col;
  dotNT: DotNT;
}

let inst: Inst | undefined;

/** The module bytes: the GEMM `tiles` plus the conv data movers and `dotNT`. */
export function convModuleBytes(fma: boolean): Uint8Array {
  return gemmModuleBytes({
    shared: false,
    fma,
    extra: (mod) => {
      emitFill0(mod);
      emitCopy2d(mod);
      emitIm2col(mod, 'im2col', false);
      emitIm2col(mod, 'col2im', true);
      emitDotNT(mod, fma);
    },
  });
}

function instance(bytes: number): Inst {
  if (inst === undefined) {
    const wa = requireWasm();
    const memory = new wa.Memory({ initial: 1 });
    const module = new wa.Module(convModuleBytes(useFma()));
    const e = new wa.Instance(module, { env: { memory } }).exports;
    inst = {
      memory, view: new Float32Array(memory.buffer), tiles: e.tiles as TilesFn, fill0: e.fill0 as Fill0, copy2d: e.copy2d as Copy2d,
      im2col: e.im2col as Im2col, col2im: e.col2im as Im2col, dotNT: e.dotNT as DotNT,
    };
  }
  const have = inst.memory.buffer.byteLength;
  if (have < bytes) inst.memory.grow(Math.ceil((bytes - have) / PAGE));
  if (inst.view.buffer !== inst.memory.buffer) inst.view = new Float32Array(inst.memory.buffer);
  return inst;
}

const up = (v: number, m: number): number => Math.ceil(v / m) * m;

/** Region offsets (bytes) and sizes of one geometry's work, from byte 0 of the module memory. */
interface Layout {
  S: number; K: number; kRows: number; coutPad: number; kPad4: number; ohw: number; chw: number; Hp: number; Wp: number; padded: boolean;
  A: number; XR: number; XP: number; COL: number; DY: number; C: number; OUT: number; CW: number; bytes: number;
}

const layouts = new Map<string, Layout>();

function layout(g: Conv2dGeometry): Layout {
  const key = `${g.batch},${g.inChannels},${g.inHeight},${g.inWidth},${g.outChannels},${g.kernelHeight},${g.kernelWidth},${g.strideH},${g.strideW},${g.padH},${g.padW},${g.dilationH},${g.dilationW},${g.outHeight},${g.outWidth}`;
  const hit = layouts.get(key);
  if (hit !== undefined) return hit;
  const K = g.inChannels * g.kernelHeight * g.kernelWidth;
  const ohw = g.outHeight * g.outWidth;
  const S = Math.max(1, Math.min(g.batch, Math.floor(CHUNK_FLOATS / (K * ohw))));
  const nPadMax = up(S * ohw, NR);
  const kRows = up(K, DN);
  const coutPad = up(g.outChannels, Math.max(MR, DM));
  const kPad4 = up(K, MR);
  const Hp = g.inHeight + 2 * g.padH;
  const Wp = g.inWidth + 2 * g.padW;
  const chw = g.inChannels * g.inHeight * g.inWidth;
  const sizes = {
    A: Math.max(coutPad * K, kPad4 * g.outChannels),
    XR: S * chw,
    XP: S * g.inChannels * Hp * Wp,
    COL: kRows * nPadMax,
    DY: coutPad * nPadMax,
    C: Math.max(coutPad, kPad4) * nPadMax,
    OUT: S * g.outChannels * ohw,
    CW: coutPad * kRows,
  };
  let at = 0;
  const off: Record<string, number> = {};
  for (const [name, n] of Object.entries(sizes)) {
    off[name] = at;
    at += up(n, 4) * 4 + 64;
  }
  const L: Layout = {
    S, K, kRows, coutPad, kPad4, ohw, chw, Hp, Wp, padded: g.padH > 0 || g.padW > 0,
    A: off.A, XR: off.XR, XP: off.XP, COL: off.COL, DY: off.DY, C: off.C, OUT: off.OUT, CW: off.CW, bytes: at,
  };
  if (layouts.size > 64) layouts.clear();
  layouts.set(key, L);
  return L;
}

/** Copies samples [n0, n0+s) of x into XR and, when padded, into the zero-bordered XP; returns the image base used by im2col. */
function loadInput(I: Inst, L: Layout, g: Conv2dGeometry, x: Float32Array, n0: number, s: number): number {
  I.view.set(x.subarray(n0 * L.chw, (n0 + s) * L.chw), L.XR / 4);
  if (!L.padded) return L.XR;
  const H = g.inHeight, W = g.inWidth;
  I.fill0(L.XP, s * g.inChannels * L.Hp * L.Wp);
  I.copy2d(L.XR, L.XP + (g.padH * L.Wp + g.padW) * 4, s * g.inChannels, H, W, W * 4, L.Wp * 4, H * W * 4, L.Hp * L.Wp * 4);
  return L.XP;
}

/** im2col of s samples from image base `xb` into COL (row-major, leading dimension nPad). */
function im2colChunk(I: Inst, L: Layout, g: Conv2dGeometry, xb: number, s: number, nPad: number): void {
  const plane = L.Hp * L.Wp;
  for (let q = 0; q < s; q++) {
    I.im2col(xb + q * g.inChannels * plane * 4, L.COL + q * L.ohw * 4, g.inChannels, g.kernelHeight, g.kernelWidth, g.outHeight, g.outWidth,
      plane * 4, g.strideH * L.Wp * 4, g.strideW * 4, g.dilationH * L.Wp * 4, g.dilationW * 4, nPad * 4);
  }
}

/** Copies samples [n0, n0+s) of dY into DY as [Cout × nPad] (pixel columns of sample q at q·OH·OW), zero past s·OH·OW. */
function loadGradOut(I: Inst, L: Layout, g: Conv2dGeometry, dy: Float32Array, n0: number, s: number, nPad: number): void {
  const co = g.outChannels, ohw = L.ohw;
  I.view.set(dy.subarray(n0 * co * ohw, (n0 + s) * co * ohw), L.OUT / 4);
  I.copy2d(L.OUT, L.DY, s, co, ohw, ohw * 4, nPad * 4, co * ohw * 4, ohw * 4);
  const used = s * ohw;
  if (nPad > used) for (let r = 0; r < co; r++) I.fill0(L.DY + (r * nPad + used) * 4, nPad - used);
}

// ---------------------------------------------------------------- kernels

/** Can the WASM conv run here (WebAssembly SIMD available)? */
export function wasmConvAvailable(): boolean {
  return wasmSimdAvailable().available;
}

/**
 * Dense (groups = 1) conv forward: out = conv(x, w) + bias, NCHW/OIHW; overwrites out.
 * @example wasmConv2dForward(x, w, null, out, conv2dGeometry([1, 3, 8, 8], [4, 3, 3, 3], { padding: 1 }))
 */
export function wasmConv2dForward(x: Float32Array, w: Float32Array, bias: Float32Array | null, out: Float32Array, g: Conv2dGeometry): void {
  const L = layout(g);
  const I = instance(L.bytes);
  const co = g.outChannels, ohw = L.ohw;
  packA(false, co, L.K, w, 0, L.K, I.view, L.A / 4, L.coutPad, 0, L.coutPad / MR);
  for (let n0 = 0; n0 < g.batch; n0 += L.S) {
    const s = Math.min(L.S, g.batch - n0);
    const nPad = up(s * ohw, NR);
    const xb = loadInput(I, L, g, x, n0, s);
    im2colChunk(I, L, g, xb, s, nPad);
    runTiles(I.tiles, L.A, L.COL, L.C, L.coutPad, nPad, L.K, 0, L.coutPad / MR, 0, nPad / NR, false, true, MR, NR, KC, MC_STRIPS, NC_STRIPS);
    I.copy2d(L.C, L.OUT, s, co, ohw, nPad * 4, ohw * 4, ohw * 4, co * ohw * 4);
    const base = n0 * co * ohw;
    out.set(I.view.subarray(L.OUT / 4, L.OUT / 4 + s * co * ohw), base);
    if (bias !== null) {
      for (let q = 0; q < s; q++) {
        for (let o = 0; o < co; o++) {
          const bv = bias[o];
          const b0 = base + (q * co + o) * ohw;
          for (let i = b0; i < b0 + ohw; i++) out[i] += bv;
        }
      }
    }
  }
}

/**
 * Dense conv input gradient: gradX = conv_transpose(gradOut, w); overwrites gradX.
 * @example wasmConv2dBackwardInput(dy, w, dx, g)
 */
export function wasmConv2dBackwardInput(gradOut: Float32Array, w: Float32Array, gradX: Float32Array, g: Conv2dGeometry): void {
  const L = layout(g);
  const I = instance(L.bytes);
  const ohw = L.ohw, plane = L.Hp * L.Wp;
  // op(A) = Wᵀ: K × Cout, stored Cout × K.
  packA(true, L.K, g.outChannels, w, 0, L.K, I.view, L.A / 4, L.kPad4, 0, L.kPad4 / MR);
  const dst = L.padded ? L.XP : L.XR;
  for (let n0 = 0; n0 < g.batch; n0 += L.S) {
    const s = Math.min(L.S, g.batch - n0);
    const nPad = up(s * ohw, NR);
    loadGradOut(I, L, g, gradOut, n0, s, nPad);
    runTiles(I.tiles, L.A, L.DY, L.C, L.kPad4, nPad, g.outChannels, 0, L.kPad4 / MR, 0, nPad / NR, false, true, MR, NR, KC, MC_STRIPS, NC_STRIPS);
    I.fill0(dst, s * g.inChannels * plane);
    for (let q = 0; q < s; q++) {
      I.col2im(dst + q * g.inChannels * plane * 4, L.C + q * ohw * 4, g.inChannels, g.kernelHeight, g.kernelWidth, g.outHeight, g.outWidth,
        plane * 4, g.strideH * L.Wp * 4, g.strideW * 4, g.dilationH * L.Wp * 4, g.dilationW * 4, nPad * 4);
    }
    if (L.padded) {
      const H = g.inHeight, W = g.inWidth;
      I.copy2d(L.XP + (g.padH * L.Wp + g.padW) * 4, L.XR, s * g.inChannels, H, W, L.Wp * 4, W * 4, plane * 4, H * W * 4);
    }
    gradX.set(I.view.subarray(L.XR / 4, L.XR / 4 + s * L.chw), n0 * L.chw);
  }
}

/**
 * Dense conv weight gradient: gradW = correlate(x, gradOut) summed over the batch; overwrites gradW.
 * @example wasmConv2dBackwardWeight(x, dy, dw, g)
 */
export function wasmConv2dBackwardWeight(x: Float32Array, gradOut: Float32Array, gradW: Float32Array, g: Conv2dGeometry): void {
  if (g.batch === 0) {
    gradW.fill(0);
    return;
  }
  const L = layout(g);
  const I = instance(L.bytes);
  const ohw = L.ohw;
  for (let n0 = 0; n0 < g.batch; n0 += L.S) {
    const s = Math.min(L.S, g.batch - n0);
    const nPad = up(s * ohw, NR);
    const xb = loadInput(I, L, g, x, n0, s);
    im2colChunk(I, L, g, xb, s, nPad);
    const used = s * ohw;
    if (nPad > used) for (let r = 0; r < L.K; r++) I.fill0(L.COL + (r * nPad + used) * 4, nPad - used);
    loadGradOut(I, L, g, gradOut, n0, s, nPad);
    I.dotNT(L.DY, L.COL, L.CW, L.coutPad / DM, L.kRows / DN, nPad * 4, nPad * 4, nPad * 4, L.kRows * 4, n0 > 0 ? 1 : 0);
  }
  for (let o = 0; o < g.outChannels; o++) gradW.set(I.view.subarray(L.CW / 4 + o * L.kRows, L.CW / 4 + o * L.kRows + L.K), o * L.K);
}
