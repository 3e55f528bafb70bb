/**
 * safetensors tests: a hand-built golden file in the reference layout, half-precision conversions
 * (exhaustive over float16), bit-exact round trips for every writable dtype, named corruption
 * cases, and fast-check properties that corrupt files either parse consistently or throw
 * FormatError — never another error, never an out-of-bounds read.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { FormatError, ValueError } from '../../base/errors.js';
import { Tensor } from '../../engine/tensor.js';
import {
  MAX_HEADER_BYTES, entryToFloat32, f16BitsToF32, f32BitsToBf16, f32BitsToF16, loadSafetensors, loadSafetensorsAsTensors, parseSafetensors, saveSafetensors,
  serializeSafetensors, type SafetensorData, type SafetensorDtype, type SafetensorEntry,
} from '../../nn/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'ec2t-st-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function bytesOf(d: SafetensorData): number[] {
  return [...new Uint8Array(d.buffer, d.byteOffset, d.byteLength)];
}

/** Header-length prefix + header text (padded with spaces to 8) + data, built by hand. */
function handFile(header: string, data: number[], pad = true): Uint8Array {
  const h = new TextEncoder().encode(header);
  const n = pad ? Math.ceil(h.length / 8) * 8 : h.length;
  const out = new Uint8Array(8 + n + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  out.set(h, 8);
  out.fill(0x20, 8 + h.length, 8 + n);
  out.set(data, 8 + n);
  return out;
}

function expectFormatError(bytes: Uint8Array, fault: RegExp): void {
  assert.throws(() => parseSafetensors(bytes, 'bad.safetensors'), (e: unknown) => {
    assert.ok(e instanceof FormatError, `expected FormatError, got ${String(e)}`);
    assert.match(e.message, /^bad\.safetensors: /);
    assert.match(e.message, fault);
    return true;
  });
}

describe('safetensors: golden layout', () => {
  // The reference writer: compact JSON, __metadata__ first, tensors by dtype (wider first) then
  // name, header padded with spaces to a multiple of 8, offsets relative to the data start.
  const header = '{"__metadata__":{"k":"v"},"b":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}';
  const data = [5, 0, 0, 0, 0, 0, 0, 0, /* 1.0f */ 0, 0, 0x80, 0x3f, /* -2.0f */ 0, 0, 0, 0xc0];
  const golden = handFile(header, data);

  it('the writer produces exactly the hand-built bytes', () => {
    const got = serializeSafetensors({ a: new Tensor(new Float32Array([1, -2]), [2]), b: { dtype: 'I64', shape: [1], data: new BigInt64Array([5n]) } }, { k: 'v' });
    assert.deepEqual([...got], [...golden]);
  });

  it('pads the header with spaces to a multiple of 8', () => {
    const got = serializeSafetensors({ x: { dtype: 'U8', shape: [3], data: new Uint8Array([7, 8, 9]) } });
    const text = '{"x":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}}';
    assert.deepEqual([...got], [...handFile(text, [7, 8, 9])]);
    assert.equal(Number(new DataView(got.buffer).getBigUint64(0, true)) % 8, 0);
  });

  it('the reader parses the hand-built bytes', () => {
    const f = parseSafetensors(golden, 'golden');
    assert.deepEqual(f.metadata, { k: 'v' });
    assert.deepEqual([...f.tensors.keys()], ['b', 'a']);
    assert.deepEqual(f.tensors.get('a'), { dtype: 'F32', shape: [2], data: new Float32Array([1, -2]) });
    assert.deepEqual(f.tensors.get('b'), { dtype: 'I64', shape: [1], data: new BigInt64Array([5n]) });
    assert.deepEqual([...entryToFloat32(f.tensors.get('b')!)], [5]);
  });

  it('reads the read-only dtypes F64, BF16 and F16 into float32, and scalars / empty tensors', () => {
    const f64 = [...new Uint8Array(new Float64Array([1.5, -0.1]).buffer)];
    const header2 = '{"d":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},"h":{"dtype":"F16","shape":[2,2],"data_offsets":[16,24]},"bf":{"dtype":"BF16","shape":[],"data_offsets":[24,26]},"e":{"dtype":"I32","shape":[0,3],"data_offsets":[26,26]}}';
    const halves = [0x3c00, 0xc000, 0x7bff, 0x0001].flatMap((h) => [h & 0xff, h >> 8]);
    const f = parseSafetensors(handFile(header2, [...f64, ...halves, 0x80, 0x3f]), 'ro');
    assert.deepEqual([...f.tensors.get('d')!.data], [1.5, Math.fround(-0.1)]);
    assert.deepEqual([...f.tensors.get('h')!.data], [1, -2, 65504, 2 ** -24]);
    assert.deepEqual(f.tensors.get('bf'), { dtype: 'BF16', shape: [], data: new Float32Array([1]) });
    assert.deepEqual(f.tensors.get('e'), { dtype: 'I32', shape: [0, 3], data: new Int32Array(0) });
  });
});

describe('half-precision conversions', () => {
  it('float16 → float32 → float16 is the identity on all 65536 bit patterns (NaN payloads included)', () => {
    for (let h = 0; h < 65536; h++) if (f32BitsToF16(f16BitsToF32(h)) !== h) assert.fail(`0x${h.toString(16)} → 0x${f32BitsToF16(f16BitsToF32(h)).toString(16)}`);
  });
  it('float32 → float16 rounds to nearest, ties to even, overflows to inf', () => {
    const enc = (x: number): number => f32BitsToF16(new Uint32Array(new Float32Array([x]).buffer)[0]);
    assert.equal(enc(65504), 0x7bff);
    assert.equal(enc(65519), 0x7bff);
    assert.equal(enc(65520), 0x7c00);
    assert.equal(enc(1e6), 0x7c00);
    assert.equal(enc(-Infinity), 0xfc00);
    assert.equal(enc(1 + 2 ** -11), 0x3c00); // tie → even (1.0)
    assert.equal(enc(1 + 3 * 2 ** -11), 0x3c02); // tie → even (up)
    assert.equal(enc(2 ** -25), 0); // tie at the smallest subnormal → 0
    assert.equal(enc(1.5 * 2 ** -25), 1);
    assert.equal(enc(-(2 ** -14)), 0x8400);
    assert.equal(enc(2 ** -14 - 2 ** -25), 0x0400); // subnormal rounding carries into the first normal
    assert.equal(enc(NaN) & 0x7c00, 0x7c00);
    assert.notEqual(enc(NaN) & 0x3ff, 0);
  });
  it('float32 → float16 is the nearest float16 (property)', () => {
    fc.assert(
      fc.property(fc.float({ min: Math.fround(-70000), max: Math.fround(70000), noNaN: true }), (x) => {
        const h = f32BitsToF16(new Uint32Array(new Float32Array([x]).buffer)[0]);
        const back = new Float32Array(new Uint32Array([f16BitsToF32(h)]).buffer)[0];
        if (!Number.isFinite(back)) return Math.abs(x) >= 65520;
        // No float16 neighbour is strictly closer.
        for (const n of [h - 1, h + 1]) {
          if ((n & 0x7fff) >= 0x7c00 || n < 0 || n > 0xffff || (n & 0x8000) !== (h & 0x8000)) continue;
          const v = new Float32Array(new Uint32Array([f16BitsToF32(n)]).buffer)[0];
          if (Math.abs(v - x) < Math.abs(back - x)) return false;
        }
        return true;
      }),
      { seed: 7, numRuns: 2000 },
    );
  });
  it('float32 → bfloat16 rounds to nearest even and keeps NaN', () => {
    assert.equal(f32BitsToBf16(0x3f800000), 0x3f80);
    assert.equal(f32BitsToBf16(0x3f808000), 0x3f80); // tie → even
    assert.equal(f32BitsToBf16(0x3f818000), 0x3f82); // tie → even (up)
    assert.equal(f32BitsToBf16(0x3f808001), 0x3f81);
    assert.equal(f32BitsToBf16(0x7f7fffff), 0x7f80); // max float rounds to inf
    assert.equal(f32BitsToBf16(0x7f800001) & 0x7f80, 0x7f80);
    assert.notEqual(f32BitsToBf16(0x7f800001) & 0x7f, 0);
  });
});

// ---------------------------------------------------------------- round trips

const DTYPES: SafetensorDtype[] = ['F32', 'F16', 'BF16', 'I64', 'U64', 'I32', 'U32', 'I16', 'U16', 'I8', 'U8', 'BOOL'];

/** Random entry of a dtype whose bytes survive a round trip exactly (for F16/BF16: values from half bits). */
function randomEntry(dtype: SafetensorDtype, shape: number[], seedBytes: Uint8Array): SafetensorEntry {
  const n = shape.reduce((a, b) => a * b, 1);
  const raw = (k: number): Uint8Array => {
    const out = new Uint8Array(n * k);
    for (let i = 0; i < out.length; i++) out[i] = seedBytes[i % seedBytes.length] ^ (i * 37);
    return out;
  };
  switch (dtype) {
    case 'F32': return { dtype, shape, data: new Float32Array(raw(4).buffer) };
    case 'F16': case 'BF16': {
      const halves = new Uint16Array(raw(2).buffer);
      const f = new Float32Array(n);
      const bits = new Uint32Array(f.buffer);
      for (let i = 0; i < n; i++) bits[i] = dtype === 'F16' ? f16BitsToF32(halves[i]) : (halves[i] << 16) >>> 0;
      return { dtype, shape, data: f };
    }
    case 'I64': return { dtype, shape, data: new BigInt64Array(raw(8).buffer) };
    case 'U64': return { dtype, shape, data: new BigUint64Array(raw(8).buffer) };
    case 'I32': return { dtype, shape, data: new Int32Array(raw(4).buffer) };
    case 'U32': return { dtype, shape, data: new Uint32Array(raw(4).buffer) };
    case 'I16': return { dtype, shape, data: new Int16Array(raw(2).buffer) };
    case 'U16': return { dtype, shape, data: new Uint16Array(raw(2).buffer) };
    case 'I8': return { dtype, shape, data: new Int8Array(raw(1).buffer) };
    case 'U8': case 'BOOL': return { dtype, shape, data: raw(1) };
    default: throw new Error(dtype);
  }
}

const arbShape = fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 3 });
const arbName = fc.oneof(fc.string({ minLength: 1, maxLength: 12 }), fc.constant('__proto__')).filter((s) => s !== '__metadata__');
const arbEntries = fc.uniqueArray(
  fc.tuple(arbName, fc.constantFrom(...DTYPES), arbShape, fc.uint8Array({ minLength: 1, maxLength: 16 })),
  { selector: (t) => t[0], maxLength: 6 },
);
const arbMeta = fc.dictionary(fc.oneof(fc.string({ maxLength: 8 }), fc.constant('__proto__')), fc.string({ maxLength: 12 }), { maxKeys: 3 }).map((m) => ({ ...m }));

function buildValid(entries: Array<[string, SafetensorDtype, number[], Uint8Array]>, meta: Record<string, string>): { bytes: Uint8Array; map: Map<string, SafetensorEntry> } {
  const map = new Map<string, SafetensorEntry>();
  for (const [name, dtype, shape, seed] of entries) map.set(name, randomEntry(dtype, shape, seed));
  return { bytes: serializeSafetensors(map, Object.keys(meta).length > 0 ? meta : undefined), map };
}

describe('safetensors: round trips', () => {
  it('every writable dtype round-trips bit-exactly through a file', () => {
    for (const dtype of DTYPES) {
      const e = randomEntry(dtype, [3, 5], new Uint8Array([1, 200, 77, 5, 255, 0, 128, 9, 64, 33]));
      const path = join(dir, `rt-${dtype}.safetensors`);
      saveSafetensors(path, { [`t.${dtype}`]: e }, { dtype });
      const f = loadSafetensors(path);
      const got = f.tensors.get(`t.${dtype}`)!;
      assert.equal(got.dtype, dtype);
      assert.deepEqual(got.shape, [3, 5]);
      assert.equal(got.data.constructor, e.data.constructor);
      assert.deepEqual(bytesOf(got.data), bytesOf(e.data), dtype);
      assert.deepEqual(f.metadata, { dtype });
      // Writing what was read gives the same file bytes.
      assert.deepEqual([...serializeSafetensors(f.tensors, f.metadata)], [...readFileSync(path)]);
    }
  });

  it('random collections round-trip (property)', () => {
    fc.assert(
      fc.property(arbEntries, arbMeta, (entries, meta) => {
        const { bytes, map } = buildValid(entries, meta);
        const f = parseSafetensors(bytes, 'mem');
        assert.equal(f.tensors.size, map.size);
        for (const [k, e] of map) {
          const g = f.tensors.get(k)!;
          assert.equal(g.dtype, e.dtype);
          assert.deepEqual(g.shape, e.shape);
          assert.deepEqual(bytesOf(g.data), bytesOf(e.data));
        }
        assert.deepEqual(f.metadata, meta);
        assert.equal(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8, 0);
      }),
      { seed: 11, numRuns: 200 },
    );
  });

  it('Tensors are written as F32 by default and F16/BF16 on request; loadSafetensorsAsTensors gives float32 Tensors', () => {
    const t = new Tensor(new Float32Array([0.1, -3, 65504, 1e-8]), [2, 2]);
    const p32 = join(dir, 'f32.safetensors');
    const p16 = join(dir, 'f16.safetensors');
    saveSafetensors(p32, new Map([['w', t]]));
    saveSafetensors(p16, new Map([['w', t]]), undefined, { floatDtype: 'F16' });
    assert.equal(loadSafetensors(p32).tensors.get('w')!.dtype, 'F32');
    const h = loadSafetensorsAsTensors(p16).tensors.get('w')!;
    assert.ok(h instanceof Tensor);
    assert.deepEqual(h.shape, [2, 2]);
    assert.deepEqual([...h.data], [Math.fround(0.0999755859375), -3, 65504, 0]);
    assert.deepEqual([...loadSafetensorsAsTensors(p32).tensors.get('w')!.data], [...t.data]);
  });

  it('writer rejects inconsistent input with ValueError', () => {
    assert.throws(() => serializeSafetensors({ a: { dtype: 'I32', shape: [2], data: new Int32Array(3) } }), ValueError);
    assert.throws(() => serializeSafetensors({ a: { dtype: 'I32', shape: [2], data: new Float32Array(2) } }), ValueError);
    assert.throws(() => serializeSafetensors({ a: { dtype: 'F64', shape: [1], data: new Float32Array(1) } }), ValueError);
    assert.throws(() => serializeSafetensors({ __metadata__: new Tensor(new Float32Array(1), [1]) }), ValueError);
    assert.throws(() => serializeSafetensors({}, { n: 3 as unknown as string }), ValueError);
  });
});

describe('safetensors: atomic writes', () => {
  it('leaves no temp file behind, and replaces an existing file whole', () => {
    const sub = join(dir, 'atomic');
    mkdirSync(sub);
    const path = join(sub, 'w.safetensors');
    saveSafetensors(path, { a: new Tensor(new Float32Array([1]), [1]) });
    saveSafetensors(path, { a: new Tensor(new Float32Array([2, 3]), [2]) });
    assert.deepEqual(readdirSync(sub), ['w.safetensors']);
    assert.deepEqual([...loadSafetensors(path).tensors.get('a')!.data], [2, 3]);
  });
  it('removes the temp file when the final rename fails, and keeps what was there', () => {
    const sub = join(dir, 'atomic-fail');
    mkdirSync(join(sub, 'target.safetensors'), { recursive: true }); // a directory: rename over it fails
    writeFileSync(join(sub, 'target.safetensors', 'keep'), 'x');
    assert.throws(() => saveSafetensors(join(sub, 'target.safetensors'), { a: new Tensor(new Float32Array([1]), [1]) }));
    assert.deepEqual(readdirSync(sub), ['target.safetensors']);
    assert.deepEqual(readdirSync(join(sub, 'target.safetensors')), ['keep']);
  });
  it('a missing directory is an error and creates nothing', () => {
    const path = join(dir, 'no-such-dir', 'w.safetensors');
    assert.throws(() => saveSafetensors(path, { a: new Tensor(new Float32Array([1]), [1]) }));
    assert.equal(existsSync(join(dir, 'no-such-dir')), false);
  });
});

// ---------------------------------------------------------------- corruption

describe('safetensors: corrupt input is a FormatError naming the file and the fault', () => {
  const ok = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  const eight = [0, 0, 128, 63, 0, 0, 0, 64];
  it('accepts the base case, also with leading whitespace and no padding (as the reference reader does)', () => {
    assert.deepEqual([...parseSafetensors(handFile(ok, eight)).tensors.get('a')!.data], [1, 2]);
    assert.deepEqual([...parseSafetensors(handFile(` ${ok}`, eight, false)).tensors.get('a')!.data], [1, 2]);
  });
  const cases: Array<[string, () => Uint8Array, RegExp]> = [
    ['empty file', () => new Uint8Array(0), /truncated.*8-byte/],
    ['7 bytes', () => new Uint8Array(7), /truncated/],
    ['header length past the end', () => handFile(ok, eight).subarray(0, 20), /runs past the end/],
    ['absurd header length (2^40)', () => { const b = new Uint8Array(16); new DataView(b.buffer).setBigUint64(0, 2n ** 40n, true); return b; }, /exceeds/],
    ['header length just over the limit', () => { const b = new Uint8Array(16); new DataView(b.buffer).setBigUint64(0, BigInt(MAX_HEADER_BYTES + 1), true); return b; }, /exceeds/],
    ['bad JSON', () => handFile('{"a":', []), /not valid JSON/],
    ['invalid UTF-8', () => { const b = handFile('{"a":1}', []); b[10] = 0xff; return b; }, /UTF-8/],
    ['non-object header (array)', () => handFile('[1,2]   ', []), /must be a JSON object/],
    ['header is null', () => handFile('null', []), /must be a JSON object/],
    ['header all spaces', () => handFile('{}', []).fill(0x20, 8, 10), /not valid JSON/],
    ['entry not an object', () => handFile('{"a":3}', []), /entry must be an object/],
    ['unknown dtype', () => handFile('{"a":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}', new Array(16).fill(0)), /unknown dtype "F128"/],
    ['negative dim', () => handFile('{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}}', []), /invalid dim/],
    ['fractional dim', () => handFile('{"a":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}}', [0]), /invalid dim/],
    ['huge shape', () => handFile('{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}', new Array(8).fill(0)), /too many elements|needs/],
    ['shape/bytes disagree', () => handFile('{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', eight), /needs 12 bytes but data_offsets \[0, 8\] span 8/],
    ['offsets reversed', () => handFile('{"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}', [1, 2, 3, 4]), /0 <= begin <= end/],
    ['offsets not a pair', () => handFile('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0]}}', [1]), /\[begin, end\]/],
    ['offsets out of range', () => handFile('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', [1, 2, 3, 4]), /run past the data buffer/],
    ['overlapping tensors', () => handFile('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}', [1, 2, 3]), /overlap/],
    ['gap between tensors', () => handFile('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}}', [1, 2, 3]), /gap/],
    ['trailing bytes not covered', () => handFile(ok, [...eight, 9, 9]), /do not cover the buffer/],
    ['non-string metadata', () => handFile('{"__metadata__":{"epoch":3}}', []), /"__metadata__"\."epoch" must be a string/],
    ['metadata not an object', () => handFile('{"__metadata__":"x"}', []), /must be an object/],
  ];
  for (const [name, make, fault] of cases) it(name, () => expectFormatError(make(), fault));

  it('loadSafetensors names the path, and rejects an absurd header before reading on', () => {
    const path = join(dir, 'absurd.safetensors');
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, 2n ** 62n, true);
    writeFileSync(path, b);
    assert.throws(() => loadSafetensors(path), (e: unknown) => e instanceof FormatError && e.message.startsWith(path) && /exceeds/.test(e.message));
    const trunc = join(dir, 'trunc.safetensors');
    writeFileSync(trunc, handFile(ok, eight).subarray(0, 8 + 56 + 5));
    assert.throws(() => loadSafetensors(trunc), (e: unknown) => e instanceof FormatError && /run past the data buffer/.test(e.message));
  });
});

/** The reader's contract on arbitrary bytes: a consistent result or FormatError, nothing else. */
function parsesConsistentlyOrFormatError(bytes: Uint8Array): boolean {
  let f;
  try {
    f = parseSafetensors(bytes, 'fuzz');
  } catch (e) {
    if (e instanceof FormatError) return true;
    throw e;
  }
  let total = 0;
  for (const e of f.tensors.values()) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    if (e.data.length !== n) return false;
    total += e.data.length;
  }
  for (const v of Object.values(f.metadata)) if (typeof v !== 'string') return false;
  return total <= bytes.length;
}

describe('safetensors: corruption properties (fast-check)', () => {
  it('random truncations of valid files always fail with FormatError', () => {
    fc.assert(
      fc.property(arbEntries, arbMeta, fc.double({ min: 0, max: 1, noNaN: true }), (entries, meta, frac) => {
        const { bytes } = buildValid(entries, meta);
        const cut = Math.floor(frac * bytes.length);
        if (cut === bytes.length) return true;
        assert.throws(() => parseSafetensors(bytes.subarray(0, cut), 'cut'), FormatError);
        return true;
      }),
      { seed: 21, numRuns: 300 },
    );
  });

  it('byte flips anywhere (mostly in the header) parse consistently or fail with FormatError', () => {
    fc.assert(
      fc.property(arbEntries, arbMeta, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }), (entries, meta, flips) => {
        const { bytes } = buildValid(entries, meta);
        const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
        const b = bytes.slice();
        // Mostly the prefix and header, where the parser has decisions to make.
        for (const [pos, x] of flips) b[pos % (8 + n + 1 > b.length ? b.length : 8 + n + 1)] ^= x;
        return parsesConsistentlyOrFormatError(b);
      }),
      { seed: 22, numRuns: 600 },
    );
  });

  it('random headers (arbitrary JSON, plausible entries) parse consistently or fail with FormatError', () => {
    const arbOffsets = fc.tuple(fc.integer({ min: -2, max: 40 }), fc.integer({ min: -2, max: 40 }));
    const arbPlausible = fc.dictionary(
      fc.oneof(fc.constant('__metadata__'), fc.string({ maxLength: 4 })),
      fc.oneof(
        fc.record({ dtype: fc.constantFrom<unknown>('F32', 'U8', 'I64', 'F16', 'X', 3), shape: fc.array(fc.integer({ min: -1, max: 5 }), { maxLength: 3 }), data_offsets: arbOffsets }),
        fc.dictionary(fc.string({ maxLength: 3 }), fc.oneof(fc.string({ maxLength: 3 }), fc.integer())),
        fc.jsonValue(),
      ),
      { maxKeys: 4 },
    );
    fc.assert(
      fc.property(fc.oneof(arbPlausible, fc.jsonValue()), fc.uint8Array({ maxLength: 48 }), fc.boolean(), (header, data, pad) => {
        return parsesConsistentlyOrFormatError(handFile(JSON.stringify(header) ?? 'undefined', [...data], pad));
      }),
      { seed: 23, numRuns: 1500 },
    );
  });

  it('random bytes parse consistently or fail with FormatError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat({ max: 80 }), (tail, n) => {
        const b = new Uint8Array(8 + tail.length);
        new DataView(b.buffer).setUint32(0, n, true);
        b.set(tail, 8);
        return parsesConsistentlyOrFormatError(b);
      }),
      { seed: 24, numRuns: 1000 },
    );
  });
});
