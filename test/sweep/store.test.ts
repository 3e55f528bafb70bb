/**
 * The sweep folder: a rerun with other cells is refused, and a hand-edited sweep.json whose cell
 * flags the command would refuse is a FormatError naming the file, the cell and the flag.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FormatError } from '../../base/errors.js';
import { UsageError } from '../../cli/args.js';
import { expandCells, parseSweepSpec } from '../../sweep/spec.js';
import { openOrCreateSweep, readSweep } from '../../sweep/store.js';

test('sweep folder: reopened for the same cells, refused for others; edited cell flags are checked', () => {
  const root = mkdtempSync(join(tmpdir(), 'ec2t-store-'));
  const dir = join(root, 'sweep');
  const spec = parseSweepSpec(JSON.stringify({ job: 'train', options: { model: 'lenet5' }, axes: { seed: [1, 2] } }), 'spec.json', root);
  const first = openOrCreateSweep(dir, spec, expandCells(spec), null);
  assert.equal(first.rerun, false);
  const again = openOrCreateSweep(dir, spec, expandCells(spec), null);
  assert.equal(again.rerun, true);
  assert.equal(again.manifest.id, first.manifest.id, 'a rerun keeps the sweep id (its queue job ids)');
  const other = parseSweepSpec(JSON.stringify({ job: 'train', options: { model: 'lenet5' }, axes: { seed: [1, 3] } }), 'spec.json', root);
  assert.throws(() => openOrCreateSweep(dir, other, expandCells(other), null), (e: unknown) => e instanceof UsageError && /holds a different sweep/.test((e as Error).message));
  const path = join(dir, 'sweep.json');
  const m = JSON.parse(readFileSync(path, 'utf8')) as { cells: Array<{ flags: Record<string, unknown> }> };
  m.cells[1].flags.epochs = -2;
  writeFileSync(path, JSON.stringify(m));
  assert.throws(() => readSweep(dir), (e: unknown) => e instanceof FormatError && /sweep\.json: cell seed-2: flag "epochs" must be >= 1, got -2; was it edited by hand\?/.test((e as Error).message));
  m.cells[1].flags = { ...m.cells[1].flags, epochs: 1, 'no-such-flag': true };
  writeFileSync(path, JSON.stringify(m));
  assert.throws(() => readSweep(dir), /flag "no-such-flag" is not a flag of ec2t train/);
});
