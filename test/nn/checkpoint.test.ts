/** Checkpoint tests: full training-state round trip (bit-exact continuation), key prefixes, bad files. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FormatError } from '../../base/errors.js';
import { Rng } from '../../base/rng.js';
import { Tensor, randn } from '../../engine/tensor.js';
import { CHECKPOINT_FORMAT, checkpointModelTensors, loadCheckpoint, saveCheckpoint } from '../../nn/checkpoint.js';
import { AdamW, SGD } from '../../nn/optim.js';
import { loadSafetensors, saveSafetensors } from '../../nn/safetensors.js';
import { LrScheduler, cosineAnnealing, linearWarmup } from '../../nn/schedule.js';

const dir = mkdtempSync(join(tmpdir(), 'ec2t-ckpt-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const bits = (a: Float32Array): number[] => [...new Uint32Array(a.buffer, a.byteOffset, a.length)];

/** A toy "training run": gradients drawn from the run's own Rng, so resuming needs the Rng state too. */
interface Run {
  params: Tensor[];
  opt: SGD | AdamW;
  sched: LrScheduler;
  rng: Rng;
}

function makeRun(kind: 'sgd' | 'adamw'): Run {
  const init = new Rng(5);
  const params = [randn([3, 4], init, true), randn([4], init, true)];
  const opt = kind === 'sgd'
    ? new SGD({ groups: [{ params: [params[0]] }, { params: [params[1]], weightDecay: 0 }], lr: 0.1, momentum: 0.9, weightDecay: 5e-4, nesterov: true })
    : new AdamW({ params, lr: 3e-3 });
  const sched = new LrScheduler(opt, linearWarmup({ warmupSteps: 2, after: cosineAnnealing({ tMax: 6 }) }), { interval: 'iteration' });
  return { params, opt, sched, rng: new Rng(99) };
}

function trainSteps(r: Run, n: number): void {
  for (let s = 0; s < n; s++) {
    for (const p of r.params) p.grad = randn([...p.shape], r.rng);
    r.opt.step();
    r.sched.step();
  }
}

describe('checkpoint', () => {
  for (const kind of ['sgd', 'adamw'] as const) {
    it(`${kind}: save at step 3 → load into a fresh run → continue equals uninterrupted (bit-exact)`, () => {
      const a = makeRun(kind);
      trainSteps(a, 3);
      a.rng.normal(); // leave a Box–Muller spare pending: it must survive the round trip
      const path = join(dir, `${kind}.safetensors`);
      saveCheckpoint(path, {
        model: new Map<string, Tensor | { dtype: 'I64'; shape: number[]; data: BigInt64Array }>([['fc.weight', a.params[0]], ['fc.bias', a.params[1]], ['bn.num_batches_tracked', { dtype: 'I64', shape: [], data: new BigInt64Array([3n]) }]]),
        optimizer: a.opt,
        scheduler: a.sched,
        epoch: 1,
        step: 3,
        rng: a.rng,
        extra: { config: { lr: 0.1, tags: ['x'] }, best: 0.5 },
      });
      trainSteps(a, 4); // the uninterrupted run

      const c = makeRun(kind);
      const ck = loadCheckpoint(path);
      assert.equal(ck.epoch, 1);
      assert.equal(ck.step, 3);
      assert.deepEqual(ck.extra, { config: { lr: 0.1, tags: ['x'] }, best: 0.5 });
      assert.deepEqual(ck.model.get('bn.num_batches_tracked'), { dtype: 'I64', shape: [], data: new BigInt64Array([3n]) });
      const weights = checkpointModelTensors(ck);
      c.params[0].data.set(weights.get('fc.weight')!.data);
      c.params[1].data.set(weights.get('fc.bias')!.data);
      c.opt.loadStateDict(ck.optimizer!);
      c.sched.loadStateDict(ck.scheduler!);
      c.rng.setState(ck.rng!);
      trainSteps(c, 4);
      for (let i = 0; i < 2; i++) assert.deepEqual(bits(c.params[i].data), bits(a.params[i].data), `param ${i}`);
      assert.deepEqual(c.opt.stateDict(), a.opt.stateDict());
      assert.deepEqual(c.sched.stateDict(), a.sched.stateDict());
      assert.deepEqual(c.rng.getState(), a.rng.getState());
    });
  }

  it('stores model./optim. prefixed tensors and the JSON parts in metadata', () => {
    const r = makeRun('adamw');
    trainSteps(r, 1);
    const path = join(dir, 'layout.safetensors');
    saveCheckpoint(path, { model: { w: r.params[0] }, optimizer: r.opt, epoch: 0, step: 1 });
    const f = loadSafetensors(path);
    assert.deepEqual([...f.tensors.keys()].sort(), ['model.w', 'optim.state.0.exp_avg', 'optim.state.0.exp_avg_sq', 'optim.state.1.exp_avg', 'optim.state.1.exp_avg_sq']);
    assert.equal(f.metadata.format, CHECKPOINT_FORMAT);
    assert.equal(JSON.parse(f.metadata.optimizer).type, 'AdamW');
    const ck = loadCheckpoint(path);
    assert.equal(ck.scheduler, null);
    assert.equal(ck.rng, null);
    assert.equal(ck.extra, null);
  });

  it('an Rng state with and without a pending spare round-trips', () => {
    for (const pending of [false, true]) {
      const rng = new Rng(1);
      rng.normal();
      if (pending) rng.normal();
      rng.normal();
      const path = join(dir, `rng-${pending}.safetensors`);
      saveCheckpoint(path, { model: {}, epoch: 0, step: 0, rng });
      const back = new Rng(2);
      back.setState(loadCheckpoint(path).rng!);
      assert.deepEqual([back.normal(), back.normal(), back.uniform()], [rng.normal(), rng.normal(), rng.uniform()]);
    }
  });

  it('rejects plain weight files and corrupt metadata with FormatError', () => {
    const plain = join(dir, 'plain.safetensors');
    saveSafetensors(plain, { w: new Tensor(new Float32Array(1), [1]) });
    assert.throws(() => loadCheckpoint(plain), (e: unknown) => e instanceof FormatError && /not an ec2t checkpoint/.test(e.message));
    const bad = (meta: Record<string, string>, tensors: Record<string, Tensor> = {}): void => {
      const p = join(dir, 'bad.safetensors');
      saveSafetensors(p, tensors, { format: CHECKPOINT_FORMAT, epoch: '0', step: '0', ...meta });
      assert.throws(() => loadCheckpoint(p), FormatError, JSON.stringify(meta));
    };
    bad({ epoch: '-1' });
    bad({ step: 'x' });
    bad({ rng: '[1,2]' });
    bad({ extra: '{' });
    bad({ scheduler: '{"t":0,"schedule":{"kind":"nope"}}' });
    bad({ optimizer: '{"type":"SGD","groups":[],"steps":{"0":1},"buffers":{"0":["momentum_buffer"]}}' });
    bad({}, { 'other.w': new Tensor(new Float32Array(1), [1]) });
  });
});
