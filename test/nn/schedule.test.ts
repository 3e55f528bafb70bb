/** Schedule tests: closed forms of PyTorch's schedulers, warm-up wrapping, optimizer lr updates, state round trip. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ValueError } from '../../base/errors.js';
import { Tensor } from '../../engine/tensor.js';
import { SGD } from '../../nn/optim.js';
import { LrScheduler, constantSchedule, cosineAnnealing, exponentialDecay, linearWarmup, multiStep, scheduleFromSpec, stepDecay } from '../../nn/schedule.js';

const param = (): Tensor => new Tensor(new Float32Array(1), [1], true);

function near(a: number, b: number, what: string): void {
  assert.ok(Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b)), `${what}: got ${a}, want ${b}`);
}

describe('schedules: closed forms', () => {
  it('cosine annealing: base at 0, etaMin at tMax, midpoint halfway, periodic after', () => {
    const s = cosineAnnealing({ tMax: 10, etaMin: 0.001 });
    near(s.lr(0, 0.1), 0.1, 't=0');
    near(s.lr(5, 0.1), 0.001 + (0.1 - 0.001) / 2, 't=5');
    near(s.lr(10, 0.1), 0.001, 't=10');
    near(s.lr(3, 0.1), 0.001 + ((0.1 - 0.001) * (1 + Math.cos((Math.PI * 3) / 10))) / 2, 't=3');
    near(s.lr(15, 0.1), s.lr(5, 0.1), 't=15');
  });
  it('step: base · gamma^floor(t/stepSize)', () => {
    const s = stepDecay({ stepSize: 3, gamma: 0.5 });
    assert.deepEqual([0, 1, 2, 3, 5, 6, 9].map((t) => s.lr(t, 0.8)), [0.8, 0.8, 0.8, 0.4, 0.4, 0.2, 0.1]);
  });
  it('multi-step: base · gamma^(milestones passed)', () => {
    const s = multiStep({ milestones: [2, 5], gamma: 0.1 });
    const got = [0, 1, 2, 4, 5, 100].map((t) => s.lr(t, 1));
    [1, 1, 0.1, 0.1, 0.1 ** 2, 0.1 ** 2].forEach((w, i) => near(got[i], w, `t=${i}`));
  });
  it('exponential and constant', () => {
    near(exponentialDecay({ gamma: 0.9 }).lr(3, 2), 2 * 0.9 ** 3, 'exp');
    assert.equal(constantSchedule().lr(7, 0.3), 0.3);
  });
  it('linear warm-up, then the wrapped schedule shifted by the warm-up length', () => {
    const s = linearWarmup({ warmupSteps: 4, startFactor: 0.2, after: cosineAnnealing({ tMax: 6 }) });
    const want = [0.2, 0.4, 0.6, 0.8].map((f) => f * 0.5);
    for (let t = 0; t < 4; t++) near(s.lr(t, 0.5), want[t], `warm t=${t}`);
    for (let t = 4; t < 12; t++) near(s.lr(t, 0.5), (0.5 * (1 + Math.cos((Math.PI * (t - 4)) / 6))) / 2, `after t=${t}`);
  });
  it('specs round-trip and bad arguments are ValueErrors', () => {
    const s = linearWarmup({ warmupSteps: 2, after: multiStep({ milestones: [3], gamma: 0.5 }) });
    const back = scheduleFromSpec(JSON.parse(JSON.stringify(s.spec)));
    for (let t = 0; t < 8; t++) assert.equal(back.lr(t, 0.1), s.lr(t, 0.1));
    assert.throws(() => cosineAnnealing({ tMax: 0 }), ValueError);
    assert.throws(() => stepDecay({ stepSize: 1.5 }), ValueError);
    assert.throws(() => multiStep({ milestones: [5, 2] }), ValueError);
    assert.throws(() => linearWarmup({ warmupSteps: 2, startFactor: 2 }), ValueError);
    assert.throws(() => scheduleFromSpec({ kind: 'nope' } as never), ValueError);
  });
});

describe('LrScheduler', () => {
  it('sets every group lr from its own base rate on each step', () => {
    const opt = new SGD({ groups: [{ params: [param()] }, { params: [param()], lr: 0.01 }], lr: 0.1 });
    const sched = new LrScheduler(opt, stepDecay({ stepSize: 2, gamma: 0.1 }), { interval: 'iteration' });
    const seen: number[][] = [];
    for (let i = 0; i < 5; i++) {
      seen.push(opt.groups.map((g) => g.lr));
      sched.step();
    }
    const want = [[0.1, 0.01], [0.1, 0.01], [0.1 * 0.1, 0.01 * 0.1], [0.1 * 0.1, 0.01 * 0.1], [0.1 * 0.1 ** 2, 0.01 * 0.1 ** 2]];
    seen.forEach((row, t) => row.forEach((lr, g) => near(lr, want[t][g], `t=${t} g=${g}`)));
    assert.equal(sched.interval, 'iteration');
  });

  it('construction applies lr(0) (warm-up starts low)', () => {
    const opt = new SGD({ params: [param()], lr: 0.4 });
    new LrScheduler(opt, linearWarmup({ warmupSteps: 4, startFactor: 0.25 }));
    near(opt.groups[0].lr, 0.1, 'lr(0)');
  });

  it('state save → load → continue equals uninterrupted', () => {
    const make = (): [SGD, LrScheduler] => {
      const opt = new SGD({ params: [param()], lr: 0.2 });
      return [opt, new LrScheduler(opt, linearWarmup({ warmupSteps: 3, after: cosineAnnealing({ tMax: 10, etaMin: 1e-4 }) }))];
    };
    const [oa, sa] = make();
    const lrsA: number[] = [];
    for (let i = 0; i < 9; i++) {
      sa.step();
      lrsA.push(oa.groups[0].lr);
    }
    const [, sb] = make();
    for (let i = 0; i < 4; i++) sb.step();
    const state = JSON.parse(JSON.stringify(sb.stateDict()));
    const opt = new SGD({ params: [param()], lr: 0.9 });
    const sc = new LrScheduler(opt, constantSchedule());
    sc.loadStateDict(state);
    assert.equal(opt.groups[0].lr, lrsA[3]);
    const rest: number[] = [];
    for (let i = 4; i < 9; i++) {
      sc.step();
      rest.push(opt.groups[0].lr);
    }
    assert.deepEqual(rest, lrsA.slice(4));
    assert.throws(() => sc.loadStateDict({ ...state, baseLrs: [0.1, 0.2] }), ValueError);
  });
});
