/**
 * Run folders: what the manifest records about the environment (never by running other programs)
 * and the clean-up of temp files that a killed writer left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { environmentFacts, packageVersion } from '../../ec2t/runfolder.js';

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
