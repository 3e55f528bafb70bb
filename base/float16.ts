/**
 * Half-precision conversions shared by the safetensors writer/reader, the packed-model exporter and
 * the inference runtime. No imports, so the runtime can use it without pulling in the engine.
 */

/** float32 bits → float16 bits, round to nearest even; NaN payloads keep their top bits (stays NaN). */
export function f32BitsToF16(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) {
    if (mant === 0) return sign | 0x7c00;
    let m = mant >>> 13;
    if (m === 0) m = 0x200;
    return sign | 0x7c00 | m;
  }
  const e = exp - 112; // rebias 127 → 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half: value = m · 2^-24 with m = full · 2^(exp-126).
    const s = 126 - exp;
    if (s > 24) return sign;
    const full = mant | 0x800000;
    let m = full >>> s;
    const rem = full & ((1 << s) - 1);
    const half = 1 << (s - 1);
    if (rem > half || (rem === half && (m & 1) === 1)) m++;
    return sign | m;
  }
  let h = (e << 10) | (mant >>> 13);
  const rb = mant & 0x1fff;
  if (rb > 0x1000 || (rb === 0x1000 && (h & 1) === 1)) h++; // a carry into the exponent is correct (up to inf)
  return sign | h;
}

/** float16 bits → float32 bits (exact). */
export function f16BitsToF32(h: number): number {
  const sign = (h & 0x8000) << 16;
  let e = (h >>> 10) & 0x1f;
  let m = h & 0x3ff;
  if (e === 0) {
    if (m === 0) return sign >>> 0;
    e = 1;
    while ((m & 0x400) === 0) {
      m <<= 1;
      e--;
    }
    m &= 0x3ff;
    return (sign | ((e + 112) << 23) | (m << 13)) >>> 0;
  }
  if (e === 0x1f) return (sign | 0x7f800000 | (m << 13)) >>> 0;
  return (sign | ((e + 112) << 23) | (m << 13)) >>> 0;
}

/** float32 bits → bfloat16 bits, round to nearest even; NaN stays NaN. */
export function f32BitsToBf16(x: number): number {
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) {
    const top = x >>> 16;
    return (top & 0x7f) !== 0 ? top : top | 0x40;
  }
  return ((x >>> 0) + 0x7fff + ((x >>> 16) & 1)) >>> 16;
}

/** float16 bits → float32 value (exact). */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 0x1f) return m === 0 ? sign * Infinity : NaN;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}
