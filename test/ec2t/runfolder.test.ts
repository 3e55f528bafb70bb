/**
 * Run folders: what the manifest records about the environment (never by running other programs)
 * and the clean-up of temp files that a killed writer left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { IoError } from '../../base/errors.js';
import { STALE_TEMP_ALIVE_MS, STALE_TEMP_DEAD_MS, cleanStaleTemps, ioErrorFrom, isTempName, tempPathFor, writeFileAtomic } from '../../base/io.js';
import { RunFolder, environmentFacts, packageVersion } from '../../ec2t/runfolder.js';

test('environmentFacts runs no git (an untrusted repository around the package could run code) and records the package version', () => {
  const bin = mkdtempSync(join(tmpdir(), 'ec2t-fakegit-'));
  const marker = join(bin, 'git-was-run');
  writeFileSync(join(bin, 'git'), `#!/bin/sh\necho ran > '${marker}'\necho 0123456789abcdef0123456789abcdef01234567\n`);
  chmodSync(join(bin, 'git'), 0o755);
  const oldPath = process.env.PATH;
  process.env.PATH = `${bin}:${oldPath ?? ''}`;
  let facts: Record<string, unknown>;
  try {
    facts = environmentFacts();
  } finally {
    process.env.PATH = oldPath;
  }
  assert.equal(existsSync(marker), false, 'git must not be executed at run time');
  assert.equal(facts.packageVersion, packageVersion());
  assert.match(String(facts.packageVersion), /^\d+\.\d+\.\d+/);
  assert.equal('gitCommit' in facts, false);
});

/** A PID that belonged to a process which has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  return r.pid as number;
}

test('a run folder removes temp files that a killed writer left, and nothing else', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ec2t-temps-'));
  const dead = deadPid();
  const old = new Date(Date.now() - 2 * STALE_TEMP_DEAD_MS);
  const stale = join(dir, `checkpoint.safetensors.ec2t-tmp-${dead}-0123456789ab`);
  const fresh = join(dir, `metrics.jsonl.ec2t-tmp-${dead}-abcdef012345`); // a writer in another PID namespace may still be at it
  const living = join(dir, `best.safetensors.ec2t-tmp-${process.ppid}-00000000000a`); // its writer is alive
  const foreign = join(dir, 'notes.tmp-1-abc'); // not our naming
  const mine = join(dir, 'data.ec2t-tmp-1-xyz'); // not our naming either (no 12 hex digits)
  for (const p of [stale, fresh, living, foreign, mine]) writeFileSync(p, 'x');
  for (const p of [stale, living, foreign, mine]) utimesSync(p, old, old);
  new RunFolder(dir);
  assert.equal(existsSync(stale), false, 'the dead writer’s old temp is removed');
  for (const p of [fresh, living, foreign, mine]) assert.ok(existsSync(p), `${p} is kept`);
  // A day-old temp of a live PID is stale too (the PID was reused).
  const day = new Date(Date.now() - STALE_TEMP_ALIVE_MS - 60_000);
  utimesSync(living, day, day);
  assert.deepEqual(cleanStaleTemps(dir), [living]);
});

test('writeFileAtomic uses recognisable temp names and removes the stale temps of its target', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ec2t-temps-'));
  const target = join(dir, 'out.safetensors');
  assert.ok(isTempName(basename(tempPathFor(target))));
  const old = new Date(Date.now() - 2 * STALE_TEMP_DEAD_MS);
  const stale = join(dir, `out.safetensors.ec2t-tmp-${deadPid()}-0123456789ab`);
  const other = join(dir, `other.safetensors.ec2t-tmp-${deadPid()}-0123456789ab`);
  for (const p of [stale, other]) {
    writeFileSync(p, 'x');
    utimesSync(p, old, old);
  }
  writeFileAtomic(target, 'data');
  assert.equal(readFileSync(target, 'utf8'), 'data');
  assert.equal(existsSync(stale), false);
  assert.ok(existsSync(other), 'temps of other files wait for a run in that folder');
  assert.deepEqual(readdirSync(dir).sort(), [basename(other), 'out.safetensors'].sort());
});

test('file-system failures become one-line IoErrors naming the target, never the temp file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ec2t-io-'));
  const missing = join(dir, 'nope', 'w.safetensors');
  assert.throws(() => writeFileAtomic(missing, 'x', { createParents: false }), (e: unknown) => e instanceof IoError && e.message === `${missing}: cannot write: the folder ${join(dir, 'nope')} does not exist`);
  assert.throws(() => writeFileAtomic(dir, 'x'), (e: unknown) => e instanceof IoError && /it is a folder, not a file/.test(e.message));
  const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(code), { code });
  assert.equal(ioErrorFrom(errno('ENOSPC'), 'a/w.bin', 'cannot write')?.message, 'a/w.bin: cannot write: the disk is full (ENOSPC)');
  assert.equal(ioErrorFrom(errno('EROFS'), 'a/w.bin', 'cannot write')?.message, 'a/w.bin: cannot write: the file system is read-only (EROFS)');
  assert.equal(ioErrorFrom(errno('EACCES'), 'a/w.bin', 'cannot write')?.message, 'a/w.bin: cannot write: permission denied (EACCES)');
  assert.equal(ioErrorFrom(new Error('not a file-system error'), 'a', 'x'), null);
});
