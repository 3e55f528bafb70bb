/**
 * The README's ternarize-from-code examples, run as written: each block is read from README.md and
 * executed against the package root (they are written so that they are valid JavaScript as well as
 * TypeScript), with an in-memory run store.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import * as ec2t from '../../../index.js';

/** Repository root: this file runs as dist/test/ec2t/recipes/readme-example.test.js. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
const MARKER = '<!-- example: ternarize from code';
const RUN_MARKER = '<!-- example: a whole ternarize run from code';
const EXPORT_MARKER = '<!-- example: export and score from code';

function readmeExample(marker = MARKER): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf(marker);
  assert.ok(at >= 0, `README.md has the marker ${marker}`);
  const m = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  assert.ok(m !== null, 'a ts block follows the marker');
  return m[1];
}

/**
 * Runs a README block as written, in a folder holding `runs/lenet5/best.safetensors` (an untrained
 * LeNet-5 stands in for a trained one), with `console.log` collected; returns the logged lines.
 */
async function runExample(source: string): Promise<unknown[][]> {
  const importLine = /^import \{([^}]*)\} from 'ec2t';\n/m.exec(source);
  assert.ok(importLine !== null, 'the example imports from ec2t');
  const names = importLine[1].split(',').map((s) => s.trim()).filter((s) => s !== '');
  const exports = ec2t as unknown as Record<string, unknown>;
  for (const n of names) assert.ok(n in exports, `ec2t exports ${n}`);
  const body = source.replace(importLine[0], '');
  const dir = mkdtempSync(join(tmpdir(), 'ec2t-readme-'));
  const cwd = process.cwd();
  const lines: unknown[][] = [];
  try {
    mkdirSync(join(dir, 'runs', 'lenet5'), { recursive: true });
    ec2t.saveSafetensors(join(dir, 'runs', 'lenet5', 'best.safetensors'), ec2t.stateDictForSave(ec2t.createModel('lenet5', { seed: 5 })));
    process.chdir(dir);
    const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (...args: string[]) => (...a: unknown[]) => Promise<void>;
    const run = new AsyncFunction(...names, 'console', body);
    await run(...names.map((n) => exports[n]), { log: (...a: unknown[]) => lines.push(a) });
  } finally {
    process.chdir(cwd);
    rmSync(dir, { recursive: true, force: true });
  }
  return lines;
}

test("the README's whole-run example runs as written: a progress line per epoch, the result, the run's records in the memory store", async () => {
  const lines = await runExample(readmeExample(RUN_MARKER));
  // One line per epoch (EC2T, then frozen retraining), then the result line; no notes for LeNet-5 on MNIST.
  assert.equal(lines.length, 3, JSON.stringify(lines));
  assert.deepEqual(lines.slice(0, 2).map((l) => l[0]), ['ec2t', 'frozen']);
  for (const [, sparsity, valAccuracy] of lines.slice(0, 2)) {
    assert.ok(typeof sparsity === 'number' && sparsity > 0 && sparsity < 1, `sparsity ${String(sparsity)}`);
    assert.ok(typeof valAccuracy === 'number' && valAccuracy >= 0 && valAccuracy <= 1, `val accuracy ${String(valAccuracy)}`);
  }
  assert.match(String(lines[2][0]), /^accuracy 0\.\d+, sparsity 0\.\d+$/);
  assert.equal(lines[2][1], true, 'config.json is in the store');
});

test("the README's ternarize example runs as written: progress per epoch with per-layer statistics, a ternary model in the memory store", async () => {
  const lines = await runExample(readmeExample());
  // One line per epoch (EC2T, then frozen retraining), then the result line.
  assert.equal(lines.length, 3);
  assert.deepEqual(lines.slice(0, 2).map((l) => l[0]), ['ec2t', 'frozen']);
  for (const [, sparsity, layers] of lines.slice(0, 2)) {
    assert.ok(typeof sparsity === 'number' && sparsity >= 0 && sparsity <= 1, `sparsity ${String(sparsity)}`);
    const rows = layers as Array<[string, number, number, number]>;
    assert.deepEqual(rows.map((r) => r[0]), ['conv1.weight', 'conv2.weight', 'fc1.weight', 'fc2.weight', 'fc3.weight'].slice(0, rows.length));
    assert.ok(rows.length >= 4, `${rows.length} ternarized layers`);
    for (const [name, s, wp, wn] of rows) {
      assert.ok(s >= 0 && s <= 1, `${name} sparsity ${s}`);
      assert.ok(wp > 0 && wn > 0, `${name} w_p ${wp}, w_n ${wn}`);
    }
  }
  const [accuracy, sparsity, hasTernary] = lines[2];
  assert.ok(typeof accuracy === 'number' && accuracy >= 0 && accuracy <= 1, `accuracy ${String(accuracy)}`);
  assert.ok(typeof sparsity === 'number' && sparsity > 0 && sparsity < 1, `sparsity ${String(sparsity)}`);
  assert.equal(hasTernary, true);
});

test("the README's export-and-score example runs as written: an ONNX file of the float LeNet-5 and its dense MicroNet score", async () => {
  const lines = await runExample(readmeExample(EXPORT_MARKER));
  assert.equal(lines.length, 1);
  const [bytes, input, score, ternary] = lines[0] as [number, unknown, number, boolean];
  assert.ok(bytes > 200_000, `an ONNX file holding LeNet-5's float32 weights (${bytes} bytes)`);
  assert.deepEqual(input, ['N', 1, 28, 28]);
  assert.ok(score > 0 && Number.isFinite(score), `score ${score}`);
  assert.equal(ternary, false);
});

test("the README's ternarize examples type-check (strict) against the package's declarations", () => {
  const dir = mkdtempSync(join(tmpdir(), 'ec2t-readme-tsc-'));
  try {
    const files = [MARKER, RUN_MARKER, EXPORT_MARKER].map((m, i) => {
      writeFileSync(join(dir, `example${i}.mts`), readmeExample(m));
      return `example${i}.mts`;
    });
    // `ec2t` resolves to the built declarations of the package root (dist/index.d.ts).
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        strict: true, noEmit: true, skipLibCheck: true, target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2022'],
        types: ['node'], typeRoots: [join(ROOT, 'node_modules', '@types')], paths: { ec2t: [join(ROOT, 'dist', 'index.d.ts')] },
      },
      files,
    }));
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8' });
    assert.equal(r.status, 0, `tsc: ${r.stdout}${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
