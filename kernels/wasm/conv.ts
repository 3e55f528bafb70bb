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
 * Threads: the shared kernel pool's workers (kernels/wasm/worker-pool.ts) instantiate the module over its
 * shared memory and take chunks from the job's shared counter (each with
 * its own scratch slot); every chunk's result, including its weight-gradient partial (the partials
 * are added in chunk order), is the same whoever computes it, so all results are bit-identical for
 * any thread count and scheduling.
 * Depthwise convs (multiplier 1) run the same tap walkers with a weight per tap, one sample at a time.
 * Other grouped convs are not handled here (kernels/cpu/conv.ts keeps them).
 */
import { KernelError } from '../../base/errors.js';
import { backendSettings, setBackendSettings } from '../settings.js';
import type { Conv2dGeometry } from '../types.js';
import { F32, I32, ModuleBuilder, V128, type WasmMemory, type WasmModule, forRange } from './assembler.js';
import { KC, MC_STRIPS, MR, NC_STRIPS, NR, PAGE, type TilesFn, gemmModuleBytes, packA, requireWasm, runTiles, useFma, wasmSimdAvailable } from './gemm.js';
import { MAX_POOL_THREADS, type PoolFamily, checkThreadCount, registerPoolFamily, runJob, shutdownPool, withWorkerRecovery } from './worker-pool.js';
import { gemmThreads } from './threaded-gemm.js';

/** Rows of A (output channels) per `dotNT` register tile. NOTE: 2×3 (9 accumulators) measured 15–30 % faster than 4×3, which spills the 16 xmm registers; 4×2 and 2×4 in between. */
const DM = 2;
/** Rows of B (im2col rows) per `dotNT` register tile; 3 divides every 3×3 kernel's K. */
const DN = 3;
/** Target floats of the column matrix per chunk (1 MiB): big enough to amortise calls, small enough for L2. */
const CHUNK_FLOATS = 1 << 18;
/** Chunks per batch at least (when the batch has that many samples), for load balance over threads. */
const MIN_CHUNKS = 8;

// ---------------------------------------------------------------- code generation

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

// ---------------------------------------------------------------- per-thread work

/** The module's exports as the work function uses them. */
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
type DwTaps = (xp: number, col: number, C: number, KH: number, KW: number, OH: number, OW: number, planeB: number, shRowB: number, swB: number, dhRowB: number, dwB: number, ldB: number, wPtr: number) => void;
type Fill0 = (ptr: number, n: number) => void;
type Copy2d = (src: number, dst: number, outer: number, rows: number, len: number, srcRowB: number, dstRowB: number, srcOuterB: number, dstOuterB: number) => void;
type Im2col = (xp: number, col: number, C: number, KH: number, KW: number, OH: number, OW: number, planeB: number, shRowB: number, swB: number, dhRowB: number, dwB: number, ldB: number) => void;
type DotNT = (a: number, b: number, c: number, mBlocks: number, nBlocks: number, kB: number, ldaB: number, ldbB: number, ldcB: number, add: number) => void;

/**
 * Everything one thread needs, as integers (they travel to the workers through an Int32Array):
 * the geometry, the chunk size S and count, padded sizes, the byte offsets of the shared regions
 * (packed A, whole-batch input XIN and gradOut DYIN, whole-batch result YOUT, per-chunk weight-gradient
 * partials CWP, `cwBytes` apart) and of slot 0's scratch regions (XP, COL, DY, C; slot t's are
 * `slotBytes·t` further), and the GEMM blocking constants.
 */
const PARAM_KEYS = [
  'batch', 'cin', 'H', 'W', 'cout', 'KH', 'KW', 'sh', 'sw', 'ph', 'pw', 'dh', 'dw', 'OH', 'OW',
  'S', 'K', 'kRows', 'coutPad', 'kPad4', 'Hp', 'Wp', 'padded',
  'nChunks', 'A', 'XIN', 'DYIN', 'YOUT', 'CWP', 'cwBytes', 'XP', 'COL', 'DY', 'C', 'slotBytes', 'bytes',
  'MR', 'NR', 'KC', 'MC', 'NC', 'DM', 'DN',
] as const;
/** Integer parameters of one geometry's work: see {@link PARAM_KEYS}. */
export type ConvParams = Record<(typeof PARAM_KEYS)[number], number>;

/** Operation codes of {@link convWork}. */
const FORWARD = 0;
const BACKWARD_INPUT = 1;
const BACKWARD_WEIGHT = 2;

/**
 * One thread's part of a conv op: it takes chunk indices from `next()` (samples [ci·S, ci·S + S))
 * until they run out, using slot `slot`'s scratch. FORWARD writes YOUT (NCHW) from XIN with the
 * packed weights at A; BACKWARD_INPUT writes YOUT (as dX, NCHW) from DYIN with packed Wᵀ at A;
 * BACKWARD_WEIGHT sets chunk ci's partial at CWP + ci·cwBytes ([coutPad × kRows]) to Σ dY·colᵀ over
 * its samples. Every chunk's result is the same whichever thread computes it.
 * NOTE: self-contained (no closure over module scope): kernels/wasm/conv.ts ships its source text
 * to the worker threads.
 */
export function convWork(E: ConvExports, runTilesFn: typeof runTiles, P: ConvParams, op: number, slot: number, next: () => number): void {
  const sb = slot * P.slotBytes;
  const XP = P.XP + sb, COL = P.COL + sb, DY = P.DY + sb, C = P.C + sb;
  const ohw = P.OH * P.OW, chw = P.cin * P.H * P.W, plane = P.Hp * P.Wp;
  for (let ci = next(); ci < P.nChunks; ci = next()) {
    const c0 = ci * P.S;
    const s = Math.min(P.S, P.batch - c0);
    const used = s * ohw;
    const nPad = Math.ceil(used / P.NR) * P.NR;
    if (op !== 1) {
      // Input chunk → (zero-bordered copy when padded) → col [K × nPad].
      let xb = P.XIN + c0 * chw * 4;
      if (P.padded === 1) {
        E.fill0(XP, s * P.cin * plane);
        E.copy2d(xb, XP + (P.ph * P.Wp + P.pw) * 4, s * P.cin, P.H, P.W, P.W * 4, P.Wp * 4, P.H * P.W * 4, plane * 4);
        xb = XP;
      }
      for (let q = 0; q < s; q++) {
        E.im2col(xb + q * P.cin * plane * 4, COL + q * ohw * 4, P.cin, P.KH, P.KW, P.OH, P.OW,
          plane * 4, P.sh * P.Wp * 4, P.sw * 4, P.dh * P.Wp * 4, P.dw * 4, nPad * 4);
      }
    }
    if (op === 0) {
      runTilesFn(E.tiles, P.A, COL, C, P.coutPad, nPad, P.K, 0, P.coutPad / P.MR, 0, nPad / P.NR, false, true, P.MR, P.NR, P.KC, P.MC, P.NC);
      E.copy2d(C, P.YOUT + c0 * P.cout * ohw * 4, s, P.cout, ohw, nPad * 4, ohw * 4, ohw * 4, P.cout * ohw * 4);
      continue;
    }
    // gradOut chunk → DY [Cout × nPad], zero past the used columns (they enter dotNT's sums).
    E.copy2d(P.DYIN + c0 * P.cout * ohw * 4, DY, s, P.cout, ohw, ohw * 4, nPad * 4, P.cout * ohw * 4, ohw * 4);
    if (nPad > used) for (let r = 0; r < P.cout; r++) E.fill0(DY + (r * nPad + used) * 4, nPad - used);
    if (op === 1) {
      runTilesFn(E.tiles, P.A, DY, C, P.kPad4, nPad, P.cout, 0, P.kPad4 / P.MR, 0, nPad / P.NR, false, true, P.MR, P.NR, P.KC, P.MC, P.NC);
      const gx = P.YOUT + c0 * chw * 4;
      const dst = P.padded === 1 ? XP : gx;
      E.fill0(dst, s * P.cin * plane);
      for (let q = 0; q < s; q++) {
        E.col2im(dst + q * P.cin * plane * 4, C + q * ohw * 4, P.cin, P.KH, P.KW, P.OH, P.OW,
          plane * 4, P.sh * P.Wp * 4, P.sw * 4, P.dh * P.Wp * 4, P.dw * 4, nPad * 4);
      }
      if (P.padded === 1) E.copy2d(XP + (P.ph * P.Wp + P.pw) * 4, gx, s * P.cin, P.H, P.W, P.Wp * 4, P.W * 4, plane * 4, P.H * P.W * 4);
    } else {
      if (nPad > used) for (let r = 0; r < P.K; r++) E.fill0(COL + (r * nPad + used) * 4, nPad - used);
      E.dotNT(DY, COL, P.CWP + ci * P.cwBytes, P.coutPad / P.DM, P.kRows / P.DN, nPad * 4, nPad * 4, nPad * 4, P.kRows * 4, 0);
    }
  }
}

// ---------------------------------------------------------------- instance, layout, threads

/** Largest memory: 1 GiB (16384 pages). */
const MAX_PAGES = 16384;

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

const SHARED = typeof SharedArrayBuffer !== 'undefined';

interface Inst {
  module: WasmModule;
  memory: WasmMemory;
  view: Float32Array;
  E: ConvExports;
  /** The pool registration (shared memory only). */
  family: PoolFamily | undefined;
}
let inst: Inst | undefined;

function instance(bytes: number): Inst {
  if (inst === undefined) {
    const wa = requireWasm();
    const memory = new wa.Memory(SHARED ? { initial: 1, maximum: MAX_PAGES, shared: true } : { initial: 1 });
    const module = new wa.Module(convModuleBytes(useFma(), SHARED));
    const e = new wa.Instance(module, { env: { memory } }).exports;
    const E: ConvExports = {
      tiles: e.tiles as TilesFn, fill0: e.fill0 as Fill0, copy2d: e.copy2d as Copy2d, im2col: e.im2col as Im2col, col2im: e.col2im as Im2col, dotNT: e.dotNT as DotNT,
      dwFwd: e.dwFwd as DwTaps, dwBwdIn: e.dwBwdIn as DwTaps, dwBwdW: e.dwBwdW as DwTaps,
    };
    const family = SHARED ? registerPoolFamily('wasm conv', module, memory, convRunnerFactory()) : undefined;
    inst = { module, memory, view: new Float32Array(memory.buffer), E, family };
  }
  const have = inst.memory.buffer.byteLength;
  if (have < bytes) {
    if (SHARED && bytes > MAX_PAGES * PAGE) throw new KernelError(`wasm conv: needs ${bytes} bytes of WebAssembly memory, more than the ${MAX_PAGES * PAGE} allowed; use a smaller batch`);
    inst.memory.grow(Math.ceil((bytes - have) / PAGE));
  }
  if (inst.view.buffer !== inst.memory.buffer || inst.view.length * 4 !== inst.memory.buffer.byteLength) inst.view = new Float32Array(inst.memory.buffer);
  return inst;
}

const up = (v: number, m: number): number => Math.ceil(v / m) * m;
const layouts = new Map<string, ConvParams>();

/** The parameters (and memory layout) of geometry `g` run on `slots` threads. */
function params(g: Conv2dGeometry, slots: number): ConvParams {
  const key = `${slots}:${g.batch},${g.inChannels},${g.inHeight},${g.inWidth},${g.outChannels},${g.kernelHeight},${g.kernelWidth},${g.strideH},${g.strideW},${g.padH},${g.padW},${g.dilationH},${g.dilationW},${g.outHeight},${g.outWidth}`;
  const hit = layouts.get(key);
  if (hit !== undefined) return hit;
  const K = g.inChannels * g.kernelHeight * g.kernelWidth;
  const ohw = g.outHeight * g.outWidth;
  // At least MIN_CHUNKS chunks where the batch allows, so threads taking chunks dynamically balance.
  const S = Math.max(1, Math.min(Math.ceil(g.batch / MIN_CHUNKS), Math.floor(CHUNK_FLOATS / (K * ohw))));
  const nChunks = Math.ceil(g.batch / S);
  const nPadMax = up(S * ohw, NR);
  const kRows = up(K, DN);
  const coutPad = up(g.outChannels, Math.max(MR, DM));
  const kPad4 = up(K, MR);
  const Hp = g.inHeight + 2 * g.padH;
  const Wp = g.inWidth + 2 * g.padW;
  const chw = g.inChannels * g.inHeight * g.inWidth;
  let at = 0;
  const region = (floats: number): number => {
    const o = at;
    at += up(floats, 16) * 4 + 64;
    return o;
  };
  const A = region(Math.max(coutPad * K, kPad4 * g.outChannels));
  const XIN = region(g.batch * chw);
  const DYIN = region(g.batch * g.outChannels * ohw);
  const YOUT = region(g.batch * Math.max(chw, g.outChannels * ohw));
  const cwFloats = up(coutPad * kRows, 16) + 16;
  const CWP = region(nChunks * cwFloats);
  const slot0 = at;
  const XP = region(S * g.inChannels * Hp * Wp);
  const COL = region(kRows * nPadMax);
  const DY = region(coutPad * nPadMax);
  const C = region(Math.max(coutPad, kPad4) * nPadMax);
  const slotBytes = at - slot0;
  const P: ConvParams = {
    batch: g.batch, cin: g.inChannels, H: g.inHeight, W: g.inWidth, cout: g.outChannels, KH: g.kernelHeight, KW: g.kernelWidth,
    sh: g.strideH, sw: g.strideW, ph: g.padH, pw: g.padW, dh: g.dilationH, dw: g.dilationW, OH: g.outHeight, OW: g.outWidth,
    S, K, kRows, coutPad, kPad4, Hp, Wp, padded: g.padH > 0 || g.padW > 0 ? 1 : 0,
    nChunks, A, XIN, DYIN, YOUT, CWP, cwBytes: cwFloats * 4, XP, COL, DY, C, slotBytes, bytes: slot0 + slots * slotBytes,
    MR, NR, KC, MC: MC_STRIPS, NC: NC_STRIPS, DM, DN,
  };
  if (layouts.size > 64) layouts.clear();
  layouts.set(key, P);
  return P;
}

const MAX_THREADS = MAX_POOL_THREADS;

/** The conv job runner's source for the shared pool (kernels/wasm/worker-pool.ts). */
function convRunnerFactory(): string {
  return `const keys = ${JSON.stringify(PARAM_KEYS)};
${runTiles.toString()}
${convWork.toString()}
return function (E, memory, params, op, index, threads, next) {
  const P = {};
  for (let i = 0; i < keys.length; i++) P[keys[i]] = params[i];
  convWork(E, runTiles, P, op, index, next);
};`;
}

/**
 * Sets the conv's thread count, the API level of the `convThreads` backend setting (undefined: the
 * `threads` setting, i.e. `setGemmThreads`, `--threads`, `EC2T_THREADS` or available parallelism).
 * Results are deterministic for a given count; the weight gradient's summation order depends on it.
 * @example setConvThreads(1)
 */
export function setConvThreads(threads: number | undefined): void {
  checkThreadCount('setConvThreads', threads);
  setBackendSettings({ convThreads: threads });
}

/** Below this many forward FLOPs a conv runs on one thread (waking workers costs ~0.1 ms). */
const THREAD_MIN_FLOPS = 1 << 23;

/**
 * Threads the WASM conv uses for geometry `g` (1 without shared memory or below the work worth
 * waking workers for, unless `convThreads` is set); the kernel trace reports it.
 * @example wasmConvThreads(g) // 2
 */
export function wasmConvThreads(g: Conv2dGeometry): number {
  return threadsFor(g);
}

function threadsFor(g: Conv2dGeometry): number {
  if (!SHARED) return 1;
  const threadOverride = backendSettings().convThreads;
  const want = Math.min(threadOverride ?? gemmThreads(), MAX_THREADS, g.batch);
  if (want <= 1) return 1;
  const flops = 2 * g.batch * g.outChannels * g.outHeight * g.outWidth * g.inChannels * g.kernelHeight * g.kernelWidth;
  return threadOverride === undefined && flops < THREAD_MIN_FLOPS ? 1 : want;
}

/**
 * Runs `op` over the batch's chunks on `threads` threads of the shared pool (the main thread is
 * slot 0), each taking the next chunk from the job's shared counter: load-balanced, and since every
 * chunk's result is the same whoever computes it, the results do not depend on the thread count or
 * the scheduling.
 */
function runOp(I: Inst, P: ConvParams, op: number, threads: number): void {
  if (threads <= 1 || I.family === undefined) {
    let ci = 0;
    convWork(I.E, runTiles, P, op, 0, () => ci++);
    return;
  }
  const words = new Int32Array(PARAM_KEYS.length);
  for (let i = 0; i < PARAM_KEYS.length; i++) words[i] = P[PARAM_KEYS[i]];
  runJob(I.family, op, words, threads, (next) => convWork(I.E, runTiles, P, op, 0, next));
}

/**
 * Stops the shared kernel worker pool (kernels/wasm/worker-pool.ts; a later threaded conv starts it
 * again). Workers are `unref()`'d, so a process exits without this; tests call it to release
 * threads promptly.
 * @example await shutdownConvThreads();
 */
export async function shutdownConvThreads(): Promise<void> {
  await shutdownPool();
}

// ---------------------------------------------------------------- kernels

/** Can the WASM conv run here (WebAssembly SIMD available)? */
export function wasmConvAvailable(): boolean {
  return wasmSimdAvailable().available;
}

/** {@link wasmConv2dForward} over the whole batch in one layout. */
function forwardAll(x: Float32Array, w: Float32Array, bias: Float32Array | null, out: Float32Array, g: Conv2dGeometry): void {
  withWorkerRecovery(() => forwardAllOnce(x, w, bias, out, g));
}

function forwardAllOnce(x: Float32Array, w: Float32Array, bias: Float32Array | null, out: Float32Array, g: Conv2dGeometry): void {
  const T = threadsFor(g);
  const P = params(g, T);
  const I = instance(P.bytes);
  packA(false, P.cout, P.K, w, 0, P.K, I.view, P.A / 4, P.coutPad, 0, P.coutPad / MR);
  I.view.set(x.subarray(0, P.batch * P.cin * P.H * P.W), P.XIN / 4);
  runOp(I, P, FORWARD, T);
  const ohw = P.OH * P.OW;
  out.set(I.view.subarray(P.YOUT / 4, P.YOUT / 4 + P.batch * P.cout * ohw));
  if (bias !== null) {
    for (let i = 0, o = 0; i < P.batch * P.cout; i++, o = i % P.cout) {
      const bv = bias[o];
      for (let j = i * ohw; j < (i + 1) * ohw; j++) out[j] += bv;
    }
  }
}

/** {@link wasmConv2dBackwardInput} over the whole batch in one layout. */
function backwardInputAll(gradOut: Float32Array, w: Float32Array, gradX: Float32Array, g: Conv2dGeometry): void {
  withWorkerRecovery(() => backwardInputAllOnce(gradOut, w, gradX, g));
}

function backwardInputAllOnce(gradOut: Float32Array, w: Float32Array, gradX: Float32Array, g: Conv2dGeometry): void {
  const T = threadsFor(g);
  const P = params(g, T);
  const I = instance(P.bytes);
  // op(A) = Wᵀ: K × Cout, stored Cout × K.
  packA(true, P.K, P.cout, w, 0, P.K, I.view, P.A / 4, P.kPad4, 0, P.kPad4 / MR);
  I.view.set(gradOut.subarray(0, P.batch * P.cout * P.OH * P.OW), P.DYIN / 4);
  runOp(I, P, BACKWARD_INPUT, T);
  gradX.set(I.view.subarray(P.YOUT / 4, P.YOUT / 4 + P.batch * P.cin * P.H * P.W));
}

/** {@link wasmConv2dBackwardWeight} over the whole batch in one layout (batch ≥ 1). */
function backwardWeightAll(x: Float32Array, gradOut: Float32Array, gradW: Float32Array, g: Conv2dGeometry): void {
  withWorkerRecovery(() => backwardWeightAllOnce(x, gradOut, gradW, g));
}

function backwardWeightAllOnce(x: Float32Array, gradOut: Float32Array, gradW: Float32Array, g: Conv2dGeometry): void {
  const T = threadsFor(g);
  const P = params(g, T);
  const I = instance(P.bytes);
  I.view.set(x.subarray(0, P.batch * P.cin * P.H * P.W), P.XIN / 4);
  I.view.set(gradOut.subarray(0, P.batch * P.cout * P.OH * P.OW), P.DYIN / 4);
  runOp(I, P, BACKWARD_WEIGHT, T);
  // Chunk partials added in chunk order: independent of the thread count.
  const v = I.view;
  const step = P.cwBytes / 4;
  for (let o = 0; o < P.cout; o++) {
    const base = P.CWP / 4 + o * P.kRows;
    for (let j = 0; j < P.K; j++) {
      let acc = v[base + j];
      for (let ci = 1; ci < P.nChunks; ci++) acc = Math.fround(acc + v[base + ci * step + j]);
      gradW[o * P.K + j] = acc;
    }
  }
}

// ---------------------------------------------------------------- public kernels (batch split to bound memory)

/** Cap on the module memory one call lays out; bigger batches run in sub-batches of samples. */
let MEMORY_CAP = 512 * 1024 * 1024;

/**
 * Sets the memory cap in bytes (undefined: 512 MiB); for tests of the sub-batch path.
 * @example setConvMemoryCap(1 << 20)
 */
export function setConvMemoryCap(bytes: number | undefined): void {
  MEMORY_CAP = bytes ?? 512 * 1024 * 1024;
}

/** Samples per call so the layout fits {@link MEMORY_CAP} (halving from the batch); 0 when not even one sample fits. */
function samplesPerCall(g: Conv2dGeometry): number {
  const bytes = (nb: number): number => {
    const sub = nb === g.batch ? g : { ...g, batch: nb };
    return params(sub, threadsFor(sub)).bytes;
  };
  let nb = g.batch;
  while (nb > 1 && bytes(nb) > MEMORY_CAP) nb = Math.ceil(nb / 2);
  return bytes(nb) <= MEMORY_CAP ? nb : 0;
}

/**
 * Whether the WASM conv can take this geometry: dense (the caller checks groups), and at least one
 * sample's work fits the memory cap.
 */
export function wasmConvFits(g: Conv2dGeometry): boolean {
  return g.batch === 0 || samplesPerCall(g) >= 1;
}

/**
 * Dense (groups = 1) conv forward: out = conv(x, w) + bias, NCHW/OIHW; overwrites out.
 * @example wasmConv2dForward(x, w, null, out, conv2dGeometry([1, 3, 8, 8], [4, 3, 3, 3], { padding: 1 }))
 */
export function wasmConv2dForward(x: Float32Array, w: Float32Array, bias: Float32Array | null, out: Float32Array, g: Conv2dGeometry): void {
  if (g.batch === 0) return;
  const nb = samplesPerCall(g);
  if (nb >= g.batch) return forwardAll(x, w, bias, out, g);
  const xs = g.inChannels * g.inHeight * g.inWidth, ys = g.outChannels * g.outHeight * g.outWidth;
  for (let n0 = 0; n0 < g.batch; n0 += nb) {
    const b = Math.min(nb, g.batch - n0);
    forwardAll(x.subarray(n0 * xs, (n0 + b) * xs), w, bias, out.subarray(n0 * ys, (n0 + b) * ys), { ...g, batch: b });
  }
}

/**
 * Dense conv input gradient: gradX = conv_transpose(gradOut, w); overwrites gradX.
 * @example wasmConv2dBackwardInput(dy, w, dx, g)
 */
export function wasmConv2dBackwardInput(gradOut: Float32Array, w: Float32Array, gradX: Float32Array, g: Conv2dGeometry): void {
  if (g.batch === 0) return;
  const nb = samplesPerCall(g);
  if (nb >= g.batch) return backwardInputAll(gradOut, w, gradX, g);
  const xs = g.inChannels * g.inHeight * g.inWidth, ys = g.outChannels * g.outHeight * g.outWidth;
  for (let n0 = 0; n0 < g.batch; n0 += nb) {
    const b = Math.min(nb, g.batch - n0);
    backwardInputAll(gradOut.subarray(n0 * ys, (n0 + b) * ys), w, gradX.subarray(n0 * xs, (n0 + b) * xs), { ...g, batch: b });
  }
}

/**
 * Dense conv weight gradient: gradW = correlate(x, gradOut) summed over the batch; overwrites gradW.
 * With T threads each sums its samples, then the T partial sums are added in thread order; sub-batches
 * (huge inputs only) are added in order too.
 * @example wasmConv2dBackwardWeight(x, dy, dw, g)
 */
export function wasmConv2dBackwardWeight(x: Float32Array, gradOut: Float32Array, gradW: Float32Array, g: Conv2dGeometry): void {
  if (g.batch === 0) {
    gradW.fill(0);
    return;
  }
  const nb = samplesPerCall(g);
  if (nb >= g.batch) return backwardWeightAll(x, gradOut, gradW, g);
  const xs = g.inChannels * g.inHeight * g.inWidth, ys = g.outChannels * g.outHeight * g.outWidth;
  const part = new Float32Array(gradW.length);
  for (let n0 = 0; n0 < g.batch; n0 += nb) {
    const b = Math.min(nb, g.batch - n0);
    backwardWeightAll(x.subarray(n0 * xs, (n0 + b) * xs), gradOut.subarray(n0 * ys, (n0 + b) * ys), n0 === 0 ? gradW : part, { ...g, batch: b });
    if (n0 > 0) for (let i = 0; i < gradW.length; i++) gradW[i] += part[i];
  }
}

// ---------------------------------------------------------------- depthwise (one input channel per group, multiplier 1)

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
  return g.groups === g.inChannels && g.outChannels === g.inChannels && dwLayout(g).bytes <= MEMORY_CAP;
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
