/**
 * Writes the ESM browser bundles from the compiled library in dist/ (run after `tsc`; `npm run
 * build` does both) and prints their sizes, minified and gzipped:
 *
 *   dist/browser/ec2t-runtime.js   the inference runtime alone (`ec2t/runtime`)
 *   dist/browser/ec2t.js           the whole library (`ec2t`)
 *
 * esbuild resolves `#platform` (package.json `imports`) under its `browser` condition, so the
 * bundles carry base/platform-browser.js and nothing of Node. gpu.js is not bundled: a page that
 * wants the gpujs backend loads gpu.js's own browser build (the global `GPU`).
 *
 * `buildBundles(outDir)` is exported for the test that checks the bundles (test/bundle.test.ts).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Each bundle: output file name and its entry in dist/. */
export const BUNDLES = [
  { name: 'ec2t-runtime.js', entry: 'dist/ec2t/runtime/index.js', what: 'runtime alone' },
  { name: 'ec2t.js', entry: 'dist/index.js', what: 'whole library' },
];

/**
 * Bundles every entry of {@link BUNDLES} into `outDir` (minified ESM for browsers, ES2022) and
 * returns their paths and sizes in bytes (minified, and gzip at level 9).
 */
export async function buildBundles(outDir = join(ROOT, 'dist', 'browser')) {
  mkdirSync(outDir, { recursive: true });
  const out = [];
  for (const b of BUNDLES) {
    const file = join(outDir, b.name);
    await esbuild.build({
      absWorkingDir: ROOT,
      entryPoints: [join(ROOT, b.entry)],
      outfile: file,
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      // Identifiers stay: the kernel pool sends its job runners to workers as source text
      // (Function.prototype.toString) that names helpers and constants, which renaming would break.
      minifyWhitespace: true,
      minifySyntax: true,
      minifyIdentifiers: false,
      legalComments: 'none',
      logLevel: 'warning',
    });
    const bytes = readFileSync(file);
    out.push({ ...b, file, bytes: bytes.length, gzipBytes: gzipSync(bytes, { level: 9 }).length });
  }
  return out;
}

const kb = (n) => `${(n / 1024).toFixed(1)} KB`;

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const built = await buildBundles();
  for (const b of built) console.log(`${relative(ROOT, b.file).padEnd(30)} ${kb(b.bytes).padStart(9)} minified  ${kb(b.gzipBytes).padStart(8)} gzip  (${b.what})`);
}
