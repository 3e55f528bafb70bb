/**
 * Code generation of the conv module: next to the GEMM micro-kernel `tiles` (kernels/wasm/gemm.ts)
 * it emits the data movers (`fill0`, `copy2d`), the tap-row walkers (im2col, col2im and the three
 * depthwise passes, generated from one template) and the `dotNT` weight-gradient kernel. The
 * dense conv (kernels/wasm/conv.ts) and the depthwise conv (kernels/wasm/depthwise.ts) call them
 * over one module memory (kernels/wasm/conv-module.ts).
 */
import { F32, I32, ModuleBuilder, V128, forRange } from './assembler.js';
import { type TilesFn, gemmModuleBytes } from './gemm.js';

/** Rows of A (output channels) per `dotNT` register tile. NOTE: 2×3 (9 accumulators) measured 15–30 % faster than 4×3, which spills the 16 xmm registers; 4×2 and 2×4 in between. */
export const DM = 2;
/** Rows of B (im2col rows) per `dotNT` register tile; 3 divides every 3×3 kernel's K. */
export const DN = 3;
/** Largest conv module memory: 1 GiB (16384 pages). */
export const MAX_PAGES = 16384;

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
 * What one generated tap-row walker does with its column row `d` and image row `s` (a tap (c, i, j)
 * of the kernel over all output pixels): `gather` d = s (im2col); `scatter` s += d (col2im);
 * depthwise, with w = the tap's weight: `dwFwd` d += w·s, `dwBwdIn` s += w·d, `dwBwdW` w += Σ d·s.
 */
type TapMode = 'gather' | 'scatter' | 'dwFwd' | 'dwBwdIn' | 'dwBwdW';

/**
 * `im2col` / `col2im` / the depthwise kernels over a zero-padded image (so no bounds checks):
 * params (xp, col, C, KH, KW, OH, OW, planeB, shRowB, swB, dhRowB, dwB, ldB[, wPtr]), strides in bytes.
 * Tap (c, i, j) pairs image row s = xp + c·planeB + (oy·sh + i·dh)·Wp + ox·sw + j·dw with
 * d = col + ((c·KH + i)·KW + j)·ldB + oy·OW + ox (im2col; the taps of one row hit distinct pixels, so
 * a row's vector read-modify-writes never overlap). Depthwise modes: one weight per tap at
 * `wPtr + ((c·KH + i)·KW + j)·4`, and every tap of channel c uses the same plane d = col + c·ldB.
 */
function emitTaps(mod: ModuleBuilder, name: string, mode: TapMode): void {
  const dw = mode === 'dwFwd' || mode === 'dwBwdIn' || mode === 'dwBwdW';
  const nParams = dw ? 14 : 13;
  const f = mod.func(name, new Array<typeof I32>(nParams).fill(I32), []);
  const [xp, col, C, KH, KW, OH, OW, planeB, shRowB, swB, dhRowB, dwB, ldB, wPtr] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13];
  const c = f.local(I32), i = f.local(I32), j = f.local(I32), oy = f.local(I32);
  const pc = f.local(I32), pi = f.local(I32), pj = f.local(I32), dRow = f.local(I32), d = f.local(I32), s = f.local(I32);
  const k = f.local(I32), sp = f.local(I32), owB = f.local(I32), vecEnd = f.local(I32), da = f.local(I32), sa = f.local(I32);
  const wp = f.local(I32), wv = f.local(V128), ws = f.local(F32), accV = f.local(V128), accS = f.local(F32);
  /** One element (vector: 16 bytes, else 4) at byte addresses da (column side) and sa (image side). */
  const elem = (vec: boolean): void => {
    const ld = (): void => { if (vec) f.v128Load(); else f.f32Load(); };
    const st = (): void => { if (vec) f.v128Store(); else f.f32Store(); };
    const add = (): void => { if (vec) f.f32x4Add(); else f.f32Add(); };
    const mul = (): void => { if (vec) f.f32x4Mul(); else f.f32Mul(); };
    switch (mode) {
      case 'gather': f.get(da).get(sa); ld(); st(); break;
      case 'scatter': f.get(sa).get(sa); ld(); f.get(da); ld(); add(); st(); break;
      case 'dwFwd': f.get(da).get(da); ld(); f.get(vec ? wv : ws).get(sa); ld(); mul(); add(); st(); break;
      case 'dwBwdIn': f.get(sa).get(sa); ld(); f.get(vec ? wv : ws).get(da); ld(); mul(); add(); st(); break;
      case 'dwBwdW': f.get(vec ? accV : accS).get(da); ld(); f.get(sa); ld(); mul(); add(); f.set(vec ? accV : accS); break;
    }
  };
  f.get(OW).i32Const(4).i32Mul().set(owB);
  f.get(OW).i32Const(-4).i32And().i32Const(4).i32Mul().set(vecEnd);
  f.get(col).set(dRow);
  f.get(xp).set(pc);
  if (dw) f.get(wPtr).set(wp);
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
        if (dw) {
          f.get(wp).f32Load().tee(ws).f32x4Splat().set(wv);
          f.f32x4Const(0).set(accV);
          f.f32Const(0).set(accS);
        }
        f.i32Const(0).set(oy);
        forRange(f, oy, OH, 1, () => {
          f.i32Const(0).set(k);
          f.get(swB).i32Const(4).i32Eq().if();
          {
            forRange(f, k, vecEnd, 16, () => {
              f.get(d).get(k).i32Add().set(da);
              f.get(s).get(k).i32Add().set(sa);
              elem(true);
            });
            forRange(f, k, owB, 4, () => {
              f.get(d).get(k).i32Add().set(da);
              f.get(s).get(k).i32Add().set(sa);
              elem(false);
            });
          }
          f.else();
          {
            f.get(s).set(sp);
            forRange(f, k, owB, 4, () => {
              f.get(d).get(k).i32Add().set(da);
              f.get(sp).set(sa);
              elem(false);
              f.get(sp).get(swB).i32Add().set(sp);
            });
          }
          f.end();
          f.get(d).get(owB).i32Add().set(d);
          f.get(s).get(shRowB).i32Add().set(s);
        });
        if (mode === 'dwBwdW') {
          // w += ((l0 + l1) + (l2 + l3)) + scalar tail: a fixed order.
          f.get(wp).get(wp).f32Load()
            .get(accV).f32x4ExtractLane(0).get(accV).f32x4ExtractLane(1).f32Add()
            .get(accV).f32x4ExtractLane(2).get(accV).f32x4ExtractLane(3).f32Add().f32Add()
            .get(accS).f32Add().f32Add().f32Store();
        }
        if (dw) f.get(wp).i32Const(4).i32Add().set(wp);
        else f.get(dRow).get(ldB).i32Add().set(dRow);
        f.get(pj).get(dwB).i32Add().set(pj);
      });
      f.get(pi).get(dhRowB).i32Add().set(pi);
    });
    if (dw) f.get(dRow).get(ldB).i32Add().set(dRow);
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

/** The module's exports as the conv kernels use them. */
export interface ConvExports {
  tiles: TilesFn;
  fill0: Fill0;
  copy2d: Copy2d;
  im2col: Im2col;
  col2im: Im2col;
  dotNT: DotNT;
  dwFwd: DwTaps;
  dwBwdIn: DwTaps;
  dwBwdW: DwTaps;
}
/** A tap walker of the depthwise passes (see `emitTaps`): the im2col parameters plus the weights' byte address. */
export type DwTaps = (xp: number, col: number, C: number, KH: number, KW: number, OH: number, OW: number, planeB: number, shRowB: number, swB: number, dhRowB: number, dwB: number, ldB: number, wPtr: number) => void;
/** `fill0(ptr, n)`. */
export type Fill0 = (ptr: number, n: number) => void;
/** `copy2d(src, dst, outer, rows, len, srcRowB, dstRowB, srcOuterB, dstOuterB)`. */
export type Copy2d = (src: number, dst: number, outer: number, rows: number, len: number, srcRowB: number, dstRowB: number, srcOuterB: number, dstOuterB: number) => void;
/** `im2col` / `col2im` (see `emitTaps`). */
export type Im2col = (xp: number, col: number, C: number, KH: number, KW: number, OH: number, OW: number, planeB: number, shRowB: number, swB: number, dhRowB: number, dwB: number, ldB: number) => void;
/** `dotNT` (see `emitDotNT`). */
export type DotNT = (a: number, b: number, c: number, mBlocks: number, nBlocks: number, kB: number, ldaB: number, ldbB: number, ldcB: number, add: number) => void;

/** The module bytes: the GEMM `tiles` plus the conv data movers and `dotNT`. */
export function convModuleBytes(fma: boolean, shared: boolean): Uint8Array {
  return gemmModuleBytes({
    shared,
    fma,
    maximumPages: shared ? MAX_PAGES : undefined,
    extra: (mod) => {
      emitFill0(mod);
      emitCopy2d(mod);
      emitTaps(mod, 'im2col', 'gather');
      emitTaps(mod, 'col2im', 'scatter');
      emitTaps(mod, 'dwFwd', 'dwFwd');
      emitTaps(mod, 'dwBwdIn', 'dwBwdIn');
      emitTaps(mod, 'dwBwdW', 'dwBwdW');
      emitDotNT(mod, fma);
    },
  });
}
