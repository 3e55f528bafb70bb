/**
 * Builds the EC2T Lab: bundles `lab/app/main.ts` and its worker with esbuild (a devDependency: the
 * package ships the built app in `dist/lab-app`) and copies the page and its stylesheet. With
 * `data`, MNIST's four IDX files are copied into `data/` too, giving a folder any static host can
 * serve (`npm run build:lab`).
 *
 *   node dist/lab/build.js [--out DIR] [--data] [--force]
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { IoError } from '../base/errors.js';
import { embeddedMnistDir } from '../datasets/mnist.js';
import { LAB_DATA_FILES } from './server.js';

/** Repository root (this file runs as dist/lab/build.js). */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** Written into every built folder: marks it as one this build may replace. */
const MARKER = '.ec2t-lab';

/** Options of {@link buildLab}. */
export interface BuildLabOptions {
  out: string;
  /** Copy MNIST's IDX files into `out/data` (a self-contained static site). */
  data?: boolean;
  /** Replace `out` even when it is not a folder this build wrote. */
  force?: boolean;
  /** Minify the bundles (default true). */
  minify?: boolean;
}

/** One file of the built app and its size. */
export interface BuiltFile {
  name: string;
  bytes: number;
  gzipBytes: number;
}

/**
 * Builds the app into `out` (through a temporary sibling folder, renamed at the end) and returns
 * its files with their sizes.
 * @example const files = await buildLab({ out: 'dist/lab-app' });
 */
export async function buildLab(o: BuildLabOptions): Promise<BuiltFile[]> {
  const src = join(ROOT, 'lab', 'app');
  if (!existsSync(join(src, 'main.ts'))) throw new IoError(src, 'the Lab sources are not in this installation; the built app is in dist/lab-app');
  const out = resolve(o.out);
  if (existsSync(out) && !existsSync(join(out, MARKER)) && o.force !== true) {
    throw new IoError(out, 'exists and was not written by the Lab build; pass --force to replace it');
  }
  const { build } = await import('esbuild');
  const tmp = `${out}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    await build({
      entryPoints: [join(src, 'main.ts'), join(src, 'worker.ts')],
      outdir: tmp,
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      minifyWhitespace: o.minify ?? true,
      minifySyntax: o.minify ?? true,
      // Kernel-pool runners are sent to workers as source text that calls helpers by name: keep names.
      minifyIdentifiers: false,
      sourcemap: false,
      legalComments: 'none',
      logLevel: 'silent',
      // The app is bundled from the TypeScript sources, so the platform layer must come from its
      // source too (package.json maps `#platform` to the compiled file, which would be a second copy
      // of base/platform and its installed implementation).
      alias: { '#platform': join(ROOT, 'base', 'platform-browser.ts') },
    });
    for (const f of ['index.html', 'style.css']) copyFileSync(join(src, f), join(tmp, f));
    if (o.data === true) {
      mkdirSync(join(tmp, 'data'));
      for (const f of LAB_DATA_FILES) copyFileSync(join(embeddedMnistDir(), f), join(tmp, 'data', f));
    }
    writeFileSync(join(tmp, MARKER), 'written by the EC2T Lab build (lab/build.ts); safe to replace\n');
    rmSync(out, { recursive: true, force: true });
    mkdirSync(dirname(out), { recursive: true });
    renameSync(tmp, out);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return readdirSync(out)
    .filter((n) => /\.(js|css|html)$/.test(n))
    .sort()
    .map((name) => {
      const bytes = readFileSync(join(out, name));
      return { name, bytes: statSync(join(out, name)).size, gzipBytes: gzipSync(bytes, { level: 9 }).length };
    });
}

function usage(msg: string): never {
  process.stderr.write(`lab build: ${msg}\nusage: node dist/lab/build.js [--out DIR] [--data] [--force]\n`);
  process.exit(2);
}

async function cli(argv: string[]): Promise<void> {
  let out = join(ROOT, 'dist', 'lab-app');
  let data = false;
  let force = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out') out = argv[++i] ?? usage('--out needs a folder');
    else if (a === '--data') data = true;
    else if (a === '--force') force = true;
    else usage(`unknown argument ${JSON.stringify(a)}`);
  }
  const files = await buildLab({ out, data, force });
  const kb = (n: number): string => `${(n / 1024).toFixed(1)} KB`;
  const total = files.reduce((a, f) => a + f.bytes, 0);
  const gz = files.reduce((a, f) => a + f.gzipBytes, 0);
  process.stdout.write(`EC2T Lab built in ${out}: ${files.map((f) => `${f.name} ${kb(f.bytes)} (${kb(f.gzipBytes)} gzip)`).join(', ')}; app ${kb(total)} (${kb(gz)} gzip)${data ? ', plus MNIST in data/ (52.9 MB)' : ''}\n`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  cli(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`lab build: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
