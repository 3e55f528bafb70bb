/**
 * The long fuzz run of issue 18: `--count` hostile files per format (default 10 000) through the
 * readers, each in a child process under a time limit. Prints one JSON report per format and a
 * summary line; exits 1 on any hang, crash or untyped error, or when a reader's peak RSS passes
 * `--max-rss-mb` (default 512).
 *
 *   npm run fuzz -- --count 10000 --seed 1 [--formats packed,idx] [--timeout-ms 20000]
 */
import { fuzzFormat, type FuzzReport } from './fuzz/fuzz.js';
import { FORMATS } from './fuzz/formats.js';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const count = Number(flag('count', '10000'));
const seed = Number(flag('seed', '1'));
const timeoutMs = Number(flag('timeout-ms', '20000'));
const maxRssMb = Number(flag('max-rss-mb', '512'));
const formats = flag('formats', Object.keys(FORMATS).join(',')).split(',');

const reports: FuzzReport[] = [];
for (const f of formats) {
  const r = await fuzzFormat(f, seed, count, timeoutMs, 0, true);
  reports.push(r);
  process.stdout.write(JSON.stringify(r) + '\n');
}
const bad = reports.filter((r) => r.untyped + r.hangs + r.crashes > 0 || r.peakRss > maxRssMb * 2 ** 20);
const mb = (b: number): string => (b / 2 ** 20).toFixed(0);
for (const r of reports) {
  process.stdout.write(`${r.format}: ${r.cases} files, ${r.ok} read, ${r.typed} typed errors, ${r.untyped} untyped, ${r.hangs} hangs, ${r.crashes} crashes; reader peak RSS ${mb(r.peakRss)} MB (worst file #${r.worst?.index} ${r.worst?.what}: +${mb(r.worst?.raisedBy ?? 0)} MB); slowest ${r.slowestMs.toFixed(0)} ms; ${r.seconds.toFixed(0)} s\n`);
}
process.stdout.write(bad.length === 0 ? `ok: 0 hangs, 0 crashes, 0 untyped errors, peak RSS under ${maxRssMb} MB\n` : `FAILED: ${bad.map((r) => r.format).join(', ')}\n`);
process.exitCode = bad.length === 0 ? 0 : 1;
