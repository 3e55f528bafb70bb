/**
 * The ternary sibling keys of a state dict (`.assignment`, `.w_p`, `.w_n` next to a layer's
 * `weight`, docs/FORMAT.md): which layers carry them, which of those are really pruned float layers
 * (ECP), and the state dict without them.
 */
import type { SafetensorEntry } from '../../nn/safetensors.js';

/** The keys a ternary layer adds next to its `weight`. */
export const SIBLINGS = ['w_p', 'w_n', 'assignment'];

/** True when `key` is a ternary sibling of one of the `ternary` layers. */
export function isSibling(key: string, ternary: Set<string>): boolean {
  const dot = key.lastIndexOf('.');
  return ternary.has(key.slice(0, dot)) && SIBLINGS.includes(key.slice(dot + 1));
}

/**
 * Layers that carry ternary siblings (`.assignment`, `.w_p`, `.w_n`) but whose `weight` is not the
 * ternary weight those siblings describe (w_p where A = +1, −w_n where A = −1, 0 where A = 0): ECP
 * runs keep their full-precision weights where A ≠ 0 (pruning, not ternarization). Packing or
 * scoring them as ternary would silently replace the weights by two centroids.
 * @example prunedFloatLayersOf(loadSafetensors('runs/ecp/ternary.safetensors').tensors) // ['conv2', 'fc1', ...]
 */
export function prunedFloatLayersOf(sd: Map<string, SafetensorEntry>): string[] {
  const out: string[] = [];
  for (const name of ternaryLayersOf(sd)) {
    const a = sd.get(`${name}.assignment`)?.data;
    const w = sd.get(`${name}.weight`)?.data;
    const wp = sd.get(`${name}.w_p`)?.data;
    const wn = sd.get(`${name}.w_n`)?.data;
    // Malformed siblings are the reader's to report; only well-formed layers are judged here.
    if (!(a instanceof Int8Array) || !(w instanceof Float32Array) || a.length !== w.length || !(wp instanceof Float32Array) || !(wn instanceof Float32Array) || wp.length !== 1 || wn.length !== 1) continue;
    const pos = wp[0];
    const neg = Math.fround(-wn[0]);
    for (let i = 0; i < a.length; i++) {
      const want = a[i] === 1 ? pos : a[i] === -1 ? neg : 0;
      if (w[i] !== want) {
        out.push(name);
        break;
      }
    }
  }
  return out;
}

/** `sd` without the ternary siblings of `layers` (they then read as plain float layers). */
export function withoutTernarySiblings(sd: Map<string, SafetensorEntry>, layers: readonly string[]): Map<string, SafetensorEntry> {
  if (layers.length === 0) return sd;
  const drop = new Set(layers.flatMap((n) => SIBLINGS.map((s) => `${n}.${s}`)));
  return new Map([...sd].filter(([k]) => !drop.has(k)));
}

/** Layer names that a state dict marks ternary (those with a `.assignment` sibling). */
export function ternaryLayersOf(sd: Map<string, SafetensorEntry>): Set<string> {
  return new Set([...sd.keys()].filter((k) => k.endsWith('.assignment')).map((k) => k.slice(0, -'.assignment'.length)));
}
