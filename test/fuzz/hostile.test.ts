/**
 * The hostile files of issue 18 (bench/fuzz/probes.ts), each run in a child process with a time
 * limit: each must be refused with a typed one-line error that names the file and gives the right
 * reason, quickly and without growing the reader's memory. Before the fixes these hung (the 2^40
 * mask loop), allocated hundreds of MB (aliased entries, gzip bombs, a zero-size classifier of
 * 500 000 classes), crashed with a RangeError (shortcut padding) or ran and returned wrong or huge
 * outputs (pool padding, a huge declared input, a last op writing another register).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { PROBES } from '../../bench/fuzz/probes.js';
import { HostileRunner } from '../../bench/fuzz/runner.js';

/**
 * Memory a hostile file may add to the reader's peak RSS. The probes need 160–500 MB when read
 * the old way; read right they need about 2 MB.
 */
const GROWTH_BOUND = 48 * 2 ** 20;

describe('hostile files are refused in time, within memory, with a typed error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ec2t-hostile-'));
  // 10 s: a refusal takes milliseconds; the old mask loop would run for days.
  const runner = new HostileRunner(10_000);
  after(() => {
    runner.close();
    rmSync(dir, { recursive: true, force: true });
  });
  for (const probe of PROBES) {
    test(probe.name, async () => {
      const path = probe.write(dir);
      const r = await runner.run(probe.reader, path);
      assert.equal(r.outcome, 'typed', `${probe.name}: ${r.outcome} ${r.error ?? ''}`);
      assert.ok(r.error?.includes(path), `the error names the file: ${r.error}`);
      assert.match(r.error ?? '', probe.expect);
      const growth = Math.max(0, r.maxRss - r.rssBefore);
      assert.ok(growth < GROWTH_BOUND, `${probe.name} grew the peak RSS by ${(growth / 2 ** 20).toFixed(0)} MB`);
    });
  }
});
