/**
 * A bounded fuzz run per file format (bench/fuzz): a fixed seed and a few dozen hostile files each,
 * every file read in a child process under a time limit. The contract: no hang, no crash, no error
 * other than the project's typed one-line errors, and the reader's peak RSS under a bound. The long
 * run (10 000 files per format) is `npm run fuzz`. A failure prints the case index: replay it with
 * `FORMATS[format].make(seed, index, dir)` from bench/fuzz/formats.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fuzzFormat } from '../../bench/fuzz/fuzz.js';

const SEED = 18;
/** Peak RSS of the reading child: its baseline is about 60 MB; no hostile file may take it past this. */
const PEAK_RSS_BOUND = 256 * 2 ** 20;

const COUNTS: Record<string, number> = { safetensors: 150, packed: 60, idx: 60, cifar: 60, runfolder: 50 };

describe(`fuzz: hostile files per format (seed ${SEED})`, () => {
  for (const [format, count] of Object.entries(COUNTS)) {
    test(`${format}: ${count} files, no hang, crash or untyped error, peak RSS bounded`, async () => {
      const r = await fuzzFormat(format, SEED, count, 10_000);
      const failures = JSON.stringify(r.failures);
      assert.equal(r.cases, count);
      assert.equal(r.hangs, 0, failures);
      assert.equal(r.crashes, 0, failures);
      assert.equal(r.untyped, 0, failures);
      assert.ok(r.peakRss < PEAK_RSS_BOUND, `peak RSS ${(r.peakRss / 2 ** 20).toFixed(0)} MB (worst: ${JSON.stringify(r.worst)})`);
      // The mutations must reach past the first check: some files still read, many are refused.
      assert.ok(r.typed > 0, 'no hostile file was refused: the generator is broken');
    });
  }
});
