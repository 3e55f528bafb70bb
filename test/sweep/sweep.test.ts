/**
 * `ec2t sweep` end to end on a 6-cell tiny LeNet-5 grid (`--limit-train`): the local pool, then
 * the same spec on a BullMQ queue in a private redis-server with two `ec2t worker`s, one killed with
 * SIGKILL mid-cell and Redis restarted mid-sweep. Every cell must end once, with weights
 * byte-identical to the local pool's. Also: bad specs and an unreachable Redis are refused before
 * anything is written or queued.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, ec2t, metricsLineCount } from '../helpers/cli.js';
import { freePort, redisAvailable, startRedis } from '../helpers/redis.js';
import { createModel } from '../../nn/models/index.js';
import { stateDictForSave } from '../../nn/module.js';
import { saveSafetensors } from '../../nn/safetensors.js';

const root = mkdtempSync(join(tmpdir(), 'ec2t-sweep-'));
const weights = join(root, 'fp.safetensors');
saveSafetensors(weights, stateDictForSave(createModel('lenet5', { seed: 5 })));
const spec = join(root, 'spec.json');
writeFileSync(spec, JSON.stringify({
  job: 'ternarize',
  options: { model: 'lenet5', weights, dataset: 'mnist', 'limit-train': 256, 'val-size': 128, epochs: 2, 'retrain-epochs': 1, 'batch-size': 64 },
  axes: { gain: [0, 0.2], seed: [1, 2, 3] },
}));
const CELLS = ['gain-0_seed-1', 'gain-0_seed-2', 'gain-0_seed-3', 'gain-0.2_seed-1', 'gain-0.2_seed-2', 'gain-0.2_seed-3'];
const WEIGHT_FILES = ['best.safetensors', 'ternary.safetensors', 'last.safetensors'];

/** sha256 of every weights file of every cell. */
function hashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of CELLS) for (const f of WEIGHT_FILES) out[`${c}/${f}`] = createHash('sha256').update(readFileSync(join(dir, c, f))).digest('hex');
  return out;
}

function results(dir: string): Array<{ cell: string; status: string; attempts: number }> {
  return readFileSync(join(dir, 'sweep.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { cell: string; status: string; attempts: number });
}

/** A CLI process whose output is collected as it comes. */
interface Proc {
  child: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

function start(args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  return { child, out: () => out, exited };
}

async function until(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let reference: Record<string, string> | null = null;

test('local pool: 6 cells on 2 worker processes, sweep.jsonl, --status; a rerun skips every finished cell', () => {
  const dir = join(root, 'local');
  const r = ec2t(['sweep', spec, '--out', dir, '--workers', '2', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /6 cells, 0 already done, running 6 on 2 local worker process\(es\)/);
  const lines = results(dir);
  assert.deepEqual(lines.map((l) => [l.cell, l.status, l.attempts]), CELLS.map((c) => [c, 'done', 1]));
  assert.deepEqual((JSON.parse(r.stdout) as Array<{ cell: string }>).map((x) => x.cell), CELLS);
  reference = hashes(dir);
  const again = ec2t(['sweep', spec, '--out', dir, '--workers', '2']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /6 cells, 6 already done, running 0/);
  assert.deepEqual(hashes(dir), reference, 'a rerun leaves finished cells alone');
  assert.ok(existsSync(join(dir, 'report.html')), 'the sweep writes its report');
  // A second local pool on the same folder is refused while the first (here: this test process) lives.
  writeFileSync(join(dir, 'sweep.lock'), `${hostname()}:${process.pid}\n`);
  const twice = ec2t(['sweep', spec, '--out', dir]);
  assert.equal(twice.code, 2);
  assert.match(twice.stderr, new RegExp(`another ec2t sweep \\(pid ${process.pid}\\) is running this sweep`));
  writeFileSync(join(dir, 'sweep.lock'), `${hostname()}:2147483646\n`); // a pid that is not running
  assert.equal(ec2t(['sweep', spec, '--out', dir]).code, 0, 'a lock left by a dead process is taken over');
  assert.ok(!existsSync(join(dir, 'sweep.lock')), 'and released at the end');
  const s = ec2t(['sweep', dir, '--status']);
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /gain-0\.2_seed-3 +done +0 +\d+\.\d\d% +\d+\.\d\d%/);
  assert.match(s.stdout, /6 cells: 0 queued, 0 running, 6 done, 0 failed/);
  const rep = ec2t(['report', dir, '--out', join(dir, 'report.html')]);
  assert.equal(rep.code, 0, rep.stderr);
  const html = readFileSync(join(dir, 'report.html'), 'utf8');
  assert.match(html, /<title>Sweep report: /);
  assert.match(html, /authors γ=0\.15/, 'a LeNet-5 / MNIST EC2T sweep shows the authors\' points');
  assert.equal([...html.matchAll(/<td>gain-[\d.]+_seed-\d<\/td>/g)].length, 6, 'one table row per cell');
});

test('bad specs are refused before anything is written: the cell and the field are named', () => {
  const bad = join(root, 'bad.json');
  writeFileSync(bad, JSON.stringify({ job: 'ternarize', options: { model: 'lenet5', weights }, axes: { gain: [0, -0.5] } }));
  const out = join(root, 'bad-out');
  const r = ec2t(['sweep', bad, '--out', out, '--queue', 'redis://127.0.0.1:1']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^sweep cell gain--0\.5: axis "gain" must be >= 0, got -0\.5\n$/);
  assert.ok(!existsSync(out), 'nothing written');
  writeFileSync(bad, JSON.stringify({ job: 'ternarize', options: { model: 'lenet5', weights, 'retrain-epoch': 1 } }));
  const r2 = ec2t(['sweep', bad, '--out', out]);
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /option "retrain-epoch": ec2t ternarize has no --retrain-epoch\. Did you mean "retrain-epochs"\?/);
  assert.ok(!existsSync(out));
});

test('a cell that fails 3 times is recorded as failed with its error; the other cells finish (local pool and queue)', { skip: !redisAvailable() && 'redis-server is not installed' }, async () => {
  const broken = join(root, 'broken.safetensors');
  writeFileSync(broken, 'not a safetensors file');
  const failing = join(root, 'failing.json');
  writeFileSync(failing, JSON.stringify({
    job: 'ternarize', options: { model: 'lenet5', dataset: 'mnist', 'limit-train': 64, 'val-size': 64, epochs: 1, 'retrain-epochs': 0, 'batch-size': 64 },
    axes: { weights: [weights, broken] },
  }));
  const check = (dir: string): void => {
    const byCell = new Map(results(dir).map((r) => [r.cell, r as { status: string; attempts: number; error?: string }]));
    assert.equal(byCell.get('weights-fp.safetensors')?.status, 'done');
    const bad = byCell.get('weights-broken.safetensors');
    assert.equal(bad?.status, 'failed');
    assert.equal(bad?.attempts, 3);
    assert.match(bad?.error ?? '', /broken\.safetensors/);
  };
  const local = join(root, 'failing-local');
  const r = ec2t(['sweep', failing, '--out', local, '--workers', '2']);
  assert.equal(r.code, 1, 'a failed cell makes the sweep exit 1');
  assert.match(r.stderr, /weights-broken\.safetensors: FAILED after 3 attempt\(s\): .*broken\.safetensors/);
  assert.match(r.stderr, /1 done, 1 failed/);
  check(local);
  const redis = await startRedis();
  const dir = join(root, 'failing-queued');
  const coordinator = start(['sweep', failing, '--out', dir, '--queue', redis.url]);
  await until('the cells to be queued', () => /on the queue at/.test(coordinator.out()), 30_000);
  const worker = start(['worker', '--queue', redis.url, '--store', dir]);
  try {
    assert.equal(await coordinator.exited, 1, coordinator.out());
    check(dir);
    const s = ec2t(['sweep', dir, '--status']);
    assert.match(s.stdout, /weights-broken\.safetensors +failed +3 /, s.stdout);
  } finally {
    worker.child.kill('SIGKILL');
    await worker.exited;
    await redis.stop();
  }
});

test('unreachable Redis: a one-line error naming the URL within seconds, for sweep and worker', { skip: !redisAvailable() && 'redis-server is not installed' }, async () => {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}/3`;
  const out = join(root, 'unreachable');
  const t0 = Date.now();
  const r = ec2t(['sweep', spec, '--out', out, '--queue', url]);
  assert.ok(Date.now() - t0 < 15_000, `answered in ${Date.now() - t0} ms`);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`^ec2t sweep: cannot reach Redis at redis://127\\.0\\.0\\.1:${port}/3 \\(.*ECONNREFUSED.*\\)`));
  assert.ok(!existsSync(out), 'nothing written');
  const w = ec2t(['worker', '--queue', url, '--store', root]);
  assert.equal(w.code, 1);
  assert.match(w.stderr, new RegExp(`^ec2t worker: cannot reach Redis at redis://127\\.0\\.0\\.1:${port}/3 `));
});

test('queue: 2 workers, one SIGKILLed mid-cell, Redis restarted mid-sweep: every cell trained once, weights identical to the local pool', { skip: !redisAvailable() && 'redis-server is not installed' }, async () => {
  assert.ok(reference !== null, 'the local-pool test ran first');
  const redis = await startRedis();
  const dir = join(root, 'queued');
  // A 4 s lock (default 30 s) so the killed worker's cell moves on within ~6 s; the workers renew
  // it from a process that never blocks (the cells run in children).
  const env = { EC2T_SWEEP_LOCK_MS: '4000' };
  const workers: Proc[] = [];
  try {
    const coordinator = start(['sweep', spec, '--out', dir, '--queue', redis.url]);
    await until('the cells to be queued', () => /on the queue at/.test(coordinator.out()), 30_000);
    const a = start(['worker', '--queue', redis.url, '--store', dir], env);
    const b = start(['worker', '--queue', redis.url, '--store', dir], env);
    workers.push(a, b);
    // Kill worker a once the cell it runs has checkpointed its first epoch (and has not ended).
    const current = (p: Proc): string | null => [...p.out().matchAll(/cell (\S+): start/g)].pop()?.[1] ?? null;
    let killed: string | null = null;
    await until('worker a to checkpoint a cell', () => {
      const c = current(a);
      if (c !== null && metricsLineCount(join(dir, c)) >= 1 && !existsSync(join(dir, 'results', `${c}.json`))) killed = c;
      return killed !== null;
    }, 120_000);
    a.child.kill('SIGKILL');
    await a.exited;
    workers.push(start(['worker', '--queue', redis.url, '--store', dir], env));
    const ended = (): number => CELLS.filter((c) => existsSync(join(dir, 'results', `${c}.json`))).length;
    const before = ended();
    await until('another cell to end', () => ended() > before, 120_000);
    await redis.stop();
    await new Promise((r) => setTimeout(r, 1000));
    await redis.start();
    const code = await coordinator.exited;
    assert.equal(code, 0, coordinator.out());
    const lines = results(dir);
    assert.deepEqual(lines.map((l) => [l.cell, l.status]), CELLS.map((c) => [c, 'done']));
    assert.deepEqual(hashes(dir), reference, 'byte-identical weights per cell');
    const logs = workers.map((w) => w.out()).join('\n');
    for (const c of CELLS) assert.equal([...logs.matchAll(new RegExp(`cell ${c.replace(/\./g, '\\.')}: trained`, 'g'))].length, 1, `${c} trained to completion exactly once:\n${logs}`);
    assert.match(logs, new RegExp(`cell ${String(killed).replace(/\./g, '\\.')}: trained \\(resumed from its checkpoint\\)`), 'the killed cell resumed elsewhere');
    const s = ec2t(['sweep', dir, '--status']);
    assert.match(s.stdout, /6 cells: 0 queued, 0 running, 6 done, 0 failed \(queue redis:/, s.stdout + s.stderr);
  } finally {
    for (const w of workers) w.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    await redis.stop();
  }
});
