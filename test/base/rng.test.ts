import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Rng } from '../../base/rng.js';

const draws = (rng: Rng, n: number): number[] => Array.from({ length: n }, () => rng.nextUint32());

test('equal seeds give equal streams, different seeds different ones', () => {
  fc.assert(
    fc.property(fc.integer(), (seed) => {
      assert.deepEqual(draws(new Rng(seed), 20), draws(new Rng(seed), 20));
      assert.notDeepEqual(draws(new Rng(seed), 20), draws(new Rng(seed + 1), 20));
    }),
    { seed: 11, numRuns: 50 },
  );
});

test('uniform in [0, 1), int in [0, n), normal has mean 0 and variance 1', () => {
  const rng = new Rng(3);
  let s = 0;
  let s2 = 0;
  const n = 20000;
  for (let i = 0; i < n; i++) {
    const u = rng.uniform();
    assert.ok(u >= 0 && u < 1);
    const k = rng.int(7);
    assert.ok(Number.isInteger(k) && k >= 0 && k < 7);
    const z = rng.normal();
    s += z;
    s2 += z * z;
  }
  assert.ok(Math.abs(s / n) < 0.03);
  assert.ok(Math.abs(s2 / n - 1) < 0.05);
  assert.throws(() => rng.int(0), RangeError);
  assert.throws(() => rng.int(2.5), RangeError);
  const r = rng.uniformRange(-2, -1);
  assert.ok(r >= -2 && r < -1);
});

test('state save/restore reproduces the stream, including a cached normal', () => {
  const rng = new Rng(99);
  rng.normal(); // leaves the Box–Muller spare cached
  const state = rng.getState();
  const a = [rng.normal(), rng.normal(), rng.uniform(), rng.nextUint32()];
  const other = new Rng(1);
  other.setState(JSON.parse(JSON.stringify(state.map((v) => (Number.isNaN(v) ? null : v)))));
  const b = [other.normal(), other.normal(), other.uniform(), other.nextUint32()];
  assert.deepEqual(b, a);
  const fresh = new Rng(5);
  const st = fresh.getState();
  assert.ok(Number.isNaN(st[4]));
  const x = fresh.normal();
  fresh.setState(st);
  assert.equal(fresh.normal(), x);
  assert.throws(() => fresh.setState([1, 2, 3]), RangeError);
});

test('shuffle/permutation are permutations and deterministic; fork is reproducible', () => {
  const p = new Rng(4).permutation(50);
  assert.deepEqual([...p].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
  assert.deepEqual(new Rng(4).permutation(50), p);
  const items = ['a', 'b', 'c', 'd'];
  assert.deepEqual(new Rng(8).shuffle([...items]), new Rng(8).shuffle([...items]));
  assert.deepEqual(draws(new Rng(6).fork(), 5), draws(new Rng(6).fork(), 5));
});
