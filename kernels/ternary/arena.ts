/**
 * Regions of the ternary kernels' WebAssembly memory that a caller keeps across calls (the packed
 * runtime's activations, ec2t/runtime): a kernel reads its input from and writes its output to such
 * a region directly instead of copying the tensors in and out. Each call's own scratch starts above
 * the highest region ({@link arenaTop}), so regions are never overwritten by a kernel.
 *
 * Offsets, not views: growing the memory replaces its buffer (and detaches it where it is not
 * shared), so a holder makes views from the current buffer when it needs them.
 */
import type { WasmMemory } from '../wasm/assembler.js';
import { MAX_PAGES, PAGE } from './simd-module.js';

/** Lowest region address: byte 0 stays free, so 0 can mean "no tensor" in a job's words. */
const BASE = 64;

interface Region { at: number; bytes: number; free: boolean }
const regions: Region[] = [];

/** First byte above every region (16-aligned): where a kernel call's scratch may begin. */
export function arenaTop(): number {
  const last = regions[regions.length - 1];
  return last === undefined ? BASE : last.at + last.bytes;
}

/**
 * Reserves `bytes` (rounded up to 64) of `memory` and returns the byte offset, or null when the
 * memory cannot hold it. A freed region that fits is reused (first fit); else the memory grows.
 * @example const at = arenaAllocate(memory, 4 * floats);
 */
export function arenaAllocate(memory: WasmMemory, bytes: number): number | null {
  const need = Math.ceil(Math.max(bytes, 1) / 64) * 64;
  for (let k = 0; k < regions.length; k++) {
    const r = regions[k];
    if (!r.free || r.bytes < need) continue;
    if (r.bytes > need) regions.splice(k + 1, 0, { at: r.at + need, bytes: r.bytes - need, free: true });
    r.bytes = need;
    r.free = false;
    return r.at;
  }
  const at = arenaTop();
  if (at + need > MAX_PAGES * PAGE) return null;
  const have = memory.buffer.byteLength;
  if (have < at + need) memory.grow(Math.ceil((at + need - have) / PAGE));
  regions.push({ at, bytes: need, free: false });
  return at;
}

/**
 * Gives back a region from {@link arenaAllocate}; neighbouring free regions merge, and free regions
 * at the top are dropped so the scratch base comes down again.
 * @example arenaRelease(at)
 */
export function arenaRelease(at: number): void {
  const k = regions.findIndex((r) => r.at === at && !r.free);
  if (k < 0) return;
  regions[k].free = true;
  for (let i = regions.length - 2; i >= 0; i--) {
    if (regions[i].free && regions[i + 1].free) {
      regions[i].bytes += regions[i + 1].bytes;
      regions.splice(i + 1, 1);
    }
  }
  while (regions.length > 0 && regions[regions.length - 1].free) regions.pop();
}
