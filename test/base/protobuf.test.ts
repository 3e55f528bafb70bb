/**
 * The protobuf writer: the wire format's documented byte examples, int64 edge values, refusals of
 * values the wire would silently change, and a round trip through an independent reader.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ValueError } from '../../base/errors.js';
import { MAX_FIELD_NUMBER, ProtoWriter, encodeVarint } from '../../base/protobuf.js';
import { asInt64, decodeMessage } from '../helpers/protobuf-read.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('varints: the protobuf encoding guide examples and int64 edges', () => {
  assert.equal(hex(encodeVarint(0)), '00');
  assert.equal(hex(encodeVarint(1)), '01');
  assert.equal(hex(encodeVarint(127)), '7f');
  assert.equal(hex(encodeVarint(128)), '8001');
  assert.equal(hex(encodeVarint(150)), '9601');
  assert.equal(hex(encodeVarint(300)), 'ac02');
  // Negative int64: 64-bit two's complement, always 10 bytes.
  assert.equal(hex(encodeVarint(-1)), 'ffffffffffffffffff01');
  assert.equal(hex(encodeVarint(2n ** 63n - 1n)), 'ffffffffffffffff7f');
  assert.equal(hex(encodeVarint(-(2n ** 63n))), '80808080808080808001');
  assert.equal(hex(encodeVarint(Number.MAX_SAFE_INTEGER)), 'ffffffffffffff0f');
});

test('fields: tags, strings, floats and embedded messages as the encoding guide writes them', () => {
  // "08 96 01": field 1, varint 150; "12 07 74 65 73 74 69 6e 67": field 2, "testing".
  assert.equal(hex(new ProtoWriter().varint(1, 150).finish()), '089601');
  assert.equal(hex(new ProtoWriter().string(2, 'testing').finish()), '120774657374696e67');
  // Field 3 holding the message above: "1a 03 08 96 01".
  assert.equal(hex(new ProtoWriter().message(3, new ProtoWriter().varint(1, 150)).finish()), '1a03089601');
  // float 1.0 as fixed32: tag (2 << 3) | 5 = 0x15, then 00 00 80 3f.
  assert.equal(hex(new ProtoWriter().float32(2, 1).finish()), '150000803f');
  // A field number above 15 takes a two-byte tag: field 20, varint → (20 << 3) = 160 → a0 01.
  assert.equal(hex(new ProtoWriter().varint(20, 2).finish()), 'a00102');
  assert.equal(new ProtoWriter().string(1, 'é').length, 4);
});

test('refuses values the wire would change: fractions, unsafe numbers, beyond int64, bad field numbers', () => {
  for (const v of [0.5, Number.MAX_SAFE_INTEGER + 1, Infinity, NaN]) assert.throws(() => encodeVarint(v), ValueError, String(v));
  for (const v of [2n ** 63n, -(2n ** 63n) - 1n]) assert.throws(() => encodeVarint(v), ValueError, String(v));
  for (const f of [0, -1, 1.5, MAX_FIELD_NUMBER + 1, 19000, 19999]) assert.throws(() => new ProtoWriter().varint(f, 1), ValueError, String(f));
  assert.doesNotThrow(() => new ProtoWriter().varint(MAX_FIELD_NUMBER, 1).varint(18999, 1).varint(20000, 1));
});

test('round trip through an independent reader (fast-check, seed 16)', () => {
  const arbField = fc.oneof(
    fc.record({ kind: fc.constant('varint' as const), field: fc.integer({ min: 1, max: 18999 }), value: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }) }),
    fc.record({ kind: fc.constant('bytes' as const), field: fc.integer({ min: 1, max: 18999 }), value: fc.uint8Array({ maxLength: 300 }) }),
    fc.record({ kind: fc.constant('float' as const), field: fc.integer({ min: 1, max: 18999 }), value: fc.float({ noNaN: true }) }),
  );
  fc.assert(
    fc.property(fc.array(arbField, { maxLength: 12 }), (fields) => {
      const w = new ProtoWriter();
      for (const f of fields) {
        if (f.kind === 'varint') w.varint(f.field, f.value);
        else if (f.kind === 'bytes') w.bytes(f.field, f.value);
        else w.float32(f.field, f.value);
      }
      const bytes = w.finish();
      assert.equal(bytes.length, w.length);
      const back = decodeMessage(bytes);
      assert.equal(back.length, fields.length);
      fields.forEach((f, k) => {
        assert.equal(back[k].field, f.field);
        if (f.kind === 'varint') assert.equal(asInt64(back[k].varint as bigint), f.value);
        else if (f.kind === 'bytes') assert.deepEqual([...(back[k].bytes as Uint8Array)], [...f.value]);
        else assert.ok(Object.is(back[k].float, f.value), `${back[k].float} vs ${f.value}`);
      });
    }),
    { seed: 16, numRuns: 300 },
  );
});
