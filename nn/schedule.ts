/**
 * Learning-rate schedules. A {@link Schedule} is a pure closed form `lr(t, baseLr)` (PyTorch's
 * `_get_closed_form_lr`), serialisable as a {@link ScheduleSpec}; an {@link LrScheduler} counts
 * steps (per epoch or per iteration — the caller decides when to call `step()`) and writes the
 * scheduled value into every optimizer group's `lr`.
 */
import { ValueError } from '../base/errors.js';

/** A serialisable description of a schedule. */
export type ScheduleSpec =
  | { kind: 'constant' }
  | { kind: 'cosine'; tMax: number; etaMin: number }
  | { kind: 'step'; stepSize: number; gamma: number }
  | { kind: 'multistep'; milestones: number[]; gamma: number }
  | { kind: 'exponential'; gamma: number }
  | { kind: 'warmup'; warmupSteps: number; startFactor: number; after: ScheduleSpec };

/** A closed-form schedule: the learning rate after `t` scheduler steps for a group whose base rate is `baseLr`. */
export interface Schedule {
  lr(t: number, baseLr: number): number;
  readonly spec: ScheduleSpec;
}

function positiveInt(op: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new ValueError(op, `${name} = ${JSON.stringify(v)}; it must be an integer > 0`);
  return v;
}

function finite(op: string, name: string, v: unknown, ok: (x: number) => boolean = () => true, rule = 'a finite number'): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw new ValueError(op, `${name} = ${JSON.stringify(v)}; it must be ${rule}`);
  return v;
}

/** Constant learning rate (the base rate). */
export function constantSchedule(): Schedule {
  return { spec: { kind: 'constant' }, lr: (_t, base) => base };
}

/**
 * PyTorch CosineAnnealingLR closed form: `etaMin + (base − etaMin)·(1 + cos(π·t/tMax))/2`
 * (periodic beyond tMax, as PyTorch's closed form).
 * @example new LrScheduler(opt, cosineAnnealing({ tMax: 200 }))
 */
export function cosineAnnealing(o: { tMax: number; etaMin?: number }): Schedule {
  const tMax = positiveInt('cosineAnnealing', 'tMax', o.tMax);
  const etaMin = finite('cosineAnnealing', 'etaMin', o.etaMin ?? 0);
  return { spec: { kind: 'cosine', tMax, etaMin }, lr: (t, base) => etaMin + ((base - etaMin) * (1 + Math.cos((Math.PI * t) / tMax))) / 2 };
}

/**
 * PyTorch StepLR: `base · gamma^floor(t / stepSize)`.
 * @example stepDecay({ stepSize: 30, gamma: 0.1 })
 */
export function stepDecay(o: { stepSize: number; gamma?: number }): Schedule {
  const stepSize = positiveInt('stepDecay', 'stepSize', o.stepSize);
  const gamma = finite('stepDecay', 'gamma', o.gamma ?? 0.1);
  return { spec: { kind: 'step', stepSize, gamma }, lr: (t, base) => base * gamma ** Math.floor(t / stepSize) };
}

/**
 * PyTorch MultiStepLR: `base · gamma^(number of milestones ≤ t)`.
 * @example multiStep({ milestones: [100, 150], gamma: 0.1 })
 */
export function multiStep(o: { milestones: number[]; gamma?: number }): Schedule {
  const gamma = finite('multiStep', 'gamma', o.gamma ?? 0.1);
  if (!Array.isArray(o.milestones)) throw new ValueError('multiStep', 'milestones must be an array of integers');
  const milestones = o.milestones.map((m) => finite('multiStep', 'milestone', m, (x) => Number.isInteger(x) && x >= 0, 'an integer >= 0'));
  for (let i = 1; i < milestones.length; i++) if (milestones[i] < milestones[i - 1]) throw new ValueError('multiStep', `milestones ${JSON.stringify(milestones)} must be non-decreasing`);
  return {
    spec: { kind: 'multistep', milestones, gamma },
    lr: (t, base) => {
      let passed = 0;
      for (const m of milestones) if (m <= t) passed++;
      return base * gamma ** passed;
    },
  };
}

/** PyTorch ExponentialLR: `base · gamma^t`. */
export function exponentialDecay(o: { gamma: number }): Schedule {
  const gamma = finite('exponentialDecay', 'gamma', o.gamma);
  return { spec: { kind: 'exponential', gamma }, lr: (t, base) => base * gamma ** t };
}

/**
 * Linear warm-up, then another schedule (PyTorch LinearLR followed by SequentialLR): for
 * `t < warmupSteps` the rate is `base · (startFactor + (1 − startFactor)·t/warmupSteps)`; from
 * then on it is `after.lr(t − warmupSteps, base)`.
 * @example linearWarmup({ warmupSteps: 5, startFactor: 0.1, after: cosineAnnealing({ tMax: 195 }) })
 */
export function linearWarmup(o: { warmupSteps: number; startFactor?: number; after?: Schedule }): Schedule {
  const warmupSteps = positiveInt('linearWarmup', 'warmupSteps', o.warmupSteps);
  const startFactor = finite('linearWarmup', 'startFactor', o.startFactor ?? 1 / 3, (x) => x >= 0 && x <= 1, 'in [0, 1]');
  const after = o.after ?? constantSchedule();
  return {
    spec: { kind: 'warmup', warmupSteps, startFactor, after: after.spec },
    lr: (t, base) => (t < warmupSteps ? base * (startFactor + ((1 - startFactor) * t) / warmupSteps) : after.lr(t - warmupSteps, base)),
  };
}

/**
 * Rebuilds a schedule from its spec (validating every field).
 * @example scheduleFromSpec(JSON.parse(json))
 */
export function scheduleFromSpec(spec: ScheduleSpec): Schedule {
  const s = spec as Record<string, unknown> | null;
  switch (s?.kind) {
    case 'constant':
      return constantSchedule();
    case 'cosine':
      return cosineAnnealing(s as { tMax: number; etaMin: number });
    case 'step':
      return stepDecay(s as { stepSize: number; gamma: number });
    case 'multistep':
      return multiStep(s as { milestones: number[]; gamma: number });
    case 'exponential':
      return exponentialDecay(s as { gamma: number });
    case 'warmup': {
      const w = s as { warmupSteps: number; startFactor: number; after: ScheduleSpec };
      return linearWarmup({ warmupSteps: w.warmupSteps, startFactor: w.startFactor, after: scheduleFromSpec(w.after) });
    }
    default:
      throw new ValueError('scheduleFromSpec', `unknown schedule kind ${JSON.stringify(s?.kind)}; expected constant, cosine, step, multistep, exponential or warmup`);
  }
}

/** Anything with groups that have a learning rate (every {@link Optimizer}). */
export interface HasLrGroups {
  groups: Array<{ lr: number }>;
}

/** When the trainer calls `step()`: after every epoch or after every iteration. */
export type ScheduleInterval = 'epoch' | 'iteration';

/** Serialisable scheduler state. */
export interface SchedulerState {
  /** Number of `step()` calls so far (PyTorch's `last_epoch`). */
  t: number;
  baseLrs: number[];
  interval: ScheduleInterval;
  schedule: ScheduleSpec;
}

/**
 * Drives an optimizer's group learning rates from a schedule. Construction records each group's
 * current lr as its base rate and applies `lr(0)`; each `step()` advances `t` and applies `lr(t)`.
 * @example
 * const sched = new LrScheduler(opt, cosineAnnealing({ tMax: epochs }));
 * for (let e = 0; e < epochs; e++) { trainOneEpoch(); sched.step(); }
 */
export class LrScheduler {
  /** Steps taken so far. */
  t = 0;
  /** The groups' base learning rates (PyTorch's `initial_lr`). */
  baseLrs: number[];
  schedule: Schedule;
  interval: ScheduleInterval;

  constructor(
    readonly optimizer: HasLrGroups,
    schedule: Schedule,
    opts: { interval?: ScheduleInterval } = {},
  ) {
    this.schedule = schedule;
    this.interval = opts.interval ?? 'epoch';
    this.baseLrs = optimizer.groups.map((g) => g.lr);
    this.apply();
  }

  /** Advances one step (one epoch or one iteration) and sets every group's lr. */
  step(): void {
    this.t++;
    this.apply();
  }

  /** The scheduled learning rates at the current step, one per group. */
  currentLrs(): number[] {
    return this.baseLrs.map((b) => this.schedule.lr(this.t, b));
  }

  private apply(): void {
    const lrs = this.currentLrs();
    this.optimizer.groups.forEach((g, i) => (g.lr = lrs[i]));
  }

  /** State for a checkpoint. */
  stateDict(): SchedulerState {
    return { t: this.t, baseLrs: [...this.baseLrs], interval: this.interval, schedule: structuredClone(this.schedule.spec) };
  }

  /** Restores a {@link stateDict} (schedule included, as PyTorch does) and re-applies the lr. */
  loadStateDict(s: SchedulerState): void {
    const op = 'LrScheduler.loadStateDict';
    if (!Number.isInteger(s.t) || s.t < 0) throw new ValueError(op, `t = ${s.t}; it must be an integer >= 0`);
    if (!Array.isArray(s.baseLrs) || s.baseLrs.length !== this.optimizer.groups.length || !s.baseLrs.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      throw new ValueError(op, `baseLrs ${JSON.stringify(s.baseLrs)} must hold one finite number per optimizer group (${this.optimizer.groups.length})`);
    }
    if (s.interval !== 'epoch' && s.interval !== 'iteration') throw new ValueError(op, `interval ${JSON.stringify(s.interval)} must be 'epoch' or 'iteration'`);
    const schedule = scheduleFromSpec(s.schedule);
    this.schedule = schedule;
    this.t = s.t;
    this.baseLrs = [...s.baseLrs];
    this.interval = s.interval;
    this.apply();
  }
}
