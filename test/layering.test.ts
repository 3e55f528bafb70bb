/**
 * The house is built in floors, and imports only point down (or sideways within a floor):
 *
 * ```
 *   floor 0  base/                      errors, rng, float16, crc32, io, protobuf, safetensors-read,
 *                                       the platform layer (platform.ts; -node.ts, -browser.ts)
 *   floor 1  kernels/                   pure Float32Array kernels, WebAssembly, worker pool
 *   floor 2  engine/                    tensors, autodiff, ops
 *   floor 3  nn/, datasets/             modules, models, optimizers; data loading
 *   floor 4  ec2t/, index.ts            the method, export, runtime; the package root
 *   floor 5  cli/, sweep/, bench/, lab/ the shells (lab/: the EC2T Lab page, its server and build)
 * ```
 *
 * A file may import its own floor and the floors below it, never a floor above. Only bench/ (and
 * the tests themselves, which are not checked) may import test/ helpers. Every top-level folder
 * with TypeScript sources (besides test/ and scripts/) must have a floor in {@link FLOORS}. The inference runtime
 * (ec2t/runtime/) has a stricter rule: nothing it reaches, directly or through other files, may lie
 * in engine/ (tensors, autodiff, ops), nn/ (modules, optimizers), datasets/ or the shells, so a
 * packed model runs without the training stack. Every relative import counts: `import … from`,
 * `import type`, `export … from`, side-effect `import '…'`, dynamic `import('…')` and type-level
 * `import('…').T`; imports inside comments and string literals do not.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

/** Repository root: this file runs as dist/test/layering.test.js and reads the TypeScript sources. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const FLOORS: Readonly<Record<string, number>> = {
  base: 0,
  kernels: 1,
  engine: 2,
  nn: 3,
  datasets: 3,
  ec2t: 4,
  'index.ts': 4,
  cli: 5,
  sweep: 5,
  lab: 5,
  bench: 5,
};

/** Folders the runtime's import graph must not reach. */
const RUNTIME_FORBIDDEN = ['engine', 'nn', 'datasets', 'cli', 'sweep', 'bench', 'lab', 'test'];

/** A source with comments dropped and each string literal replaced by `'#<index into strings>'`. */
function stripped(src: string): { code: string; strings: string[] } {
  const strings: string[] = [];
  let code = '';
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (c === '/' && src[i + 1] === '/') {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (c === '/' && src[i + 1] === '*') {
      const end = src.indexOf('*/', i + 2);
      i = end < 0 ? src.length : end + 2;
      code += ' ';
    } else if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      let text = '';
      while (j < src.length && src[j] !== c) {
        if (src[j] === '\\') j++;
        text += src[j] ?? '';
        j++;
      }
      code += `'#${strings.length}'`;
      strings.push(text);
      i = j + 1;
    } else {
      code += c;
      i++;
    }
  }
  return { code, strings };
}

/**
 * The relative and package specifiers a TypeScript source imports, in order of appearance.
 * Comments are dropped and string literals set aside first, so only real import syntax counts.
 */
function importSpecifiers(src: string): string[] {
  const { code, strings } = stripped(src);
  const specs: { at: number; spec: string }[] = [];
  const forms = [
    /\b(?:import|export)\b[^';]*?\bfrom\s*'#(\d+)'/g, // import/export … from '…' (type-only too)
    /\bimport\s*'#(\d+)'/g, // side-effect import
    /\bimport\s*\(\s*'#(\d+)'\s*\)/g, // dynamic import(…) and type-level import(…).T
  ];
  for (const re of forms) for (const m of code.matchAll(re)) specs.push({ at: m.index ?? 0, spec: strings[Number(m[1])] });
  return specs.sort((a, b) => a.at - b.at).map((s) => s.spec);
}

function sourceFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(join(ROOT, dir)).sort()) {
      const rel = `${dir}/${name}`;
      if (statSync(join(ROOT, rel)).isDirectory()) walk(rel);
      else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(rel);
    }
  };
  for (const top of Object.keys(FLOORS)) {
    if (top.endsWith('.ts')) out.push(top);
    else walk(top);
  }
  return out;
}

/** Each source file's relative imports as repository paths of `.ts` files (`null` when the target is missing). */
function importGraph(): Map<string, { spec: string; target: string | null }[]> {
  const graph = new Map<string, { spec: string; target: string | null }[]>();
  for (const file of sourceFiles()) {
    const edges = importSpecifiers(readFileSync(join(ROOT, file), 'utf8'))
      .filter((spec) => spec.startsWith('./') || spec.startsWith('../'))
      .map((spec) => {
        const target = relative(ROOT, resolve(ROOT, dirname(file), spec.replace(/\.js$/, '.ts'))).split('\\').join('/');
        return { spec, target: existsSync(join(ROOT, target)) ? target : null };
      });
    graph.set(file, edges);
  }
  return graph;
}

const top = (path: string): string => path.split('/')[0];

describe('layering', () => {
  test('importSpecifiers sees every import form and nothing in comments or strings', () => {
    const src = [
      "// import a from './comment.js';",
      "/* export * from './block.js'; */",
      "import x, { y } from './a.js';",
      "import type { T } from '../b.js';",
      "export { z } from './c.js';",
      "export * as w from './d.js';",
      "import './side.js';",
      "const s = \"import q from './string.js'\";",
      "const t = `import r from './template.js'`;",
      "type U = import('./type.js').U;",
      "async function f() { return import('./dynamic.js'); }",
      "import { readFileSync } from 'node:fs';",
    ].join('\n');
    assert.deepEqual(importSpecifiers(src), ['./a.js', '../b.js', './c.js', './d.js', './side.js', './type.js', './dynamic.js', 'node:fs']);
  });

  const graph = importGraph();

  test('every top-level source folder has a floor', () => {
    // A new folder outside FLOORS would go unchecked; give it a floor here first.
    const NOT_SHIPPED = new Set(['node_modules', 'dist', 'test', 'scripts']);
    const holdsTs = (dir: string): boolean =>
      readdirSync(join(ROOT, dir)).some((n) => (statSync(join(ROOT, dir, n)).isDirectory() ? holdsTs(`${dir}/${n}`) : n.endsWith('.ts') && !n.endsWith('.d.ts')));
    const unplaced = readdirSync(ROOT)
      .filter((n) => !n.startsWith('.') && !NOT_SHIPPED.has(n) && statSync(join(ROOT, n)).isDirectory() && holdsTs(n))
      .filter((n) => FLOORS[n] === undefined);
    assert.deepEqual(unplaced, []);
  });

  test('the scan reads the whole tree', () => {
    // Guards against a scan that finds nothing and so passes vacuously.
    const edges = [...graph.values()].reduce((n, e) => n + e.length, 0);
    assert.ok(graph.size > 100 && edges > 300, `only ${graph.size} files, ${edges} imports found under ${ROOT}`);
    assert.ok(graph.get('engine/tensor.ts')?.some((e) => e.target === 'base/errors.ts'), 'engine/tensor.ts → base/errors.ts not found');
  });

  test('every relative import names a file that exists', () => {
    const missing = [...graph].flatMap(([file, edges]) => edges.filter((e) => e.target === null).map((e) => `${file} imports '${e.spec}': no such source file`));
    assert.deepEqual(missing, []);
  });

  test('no floor imports a floor above it', () => {
    const bad: string[] = [];
    for (const [file, edges] of graph) {
      const from = FLOORS[top(file)];
      for (const { spec, target } of edges) {
        if (target === null) continue;
        const t = top(target);
        if (t === 'test') {
          if (top(file) !== 'bench') bad.push(`${file} imports '${spec}' (${target}): only bench/ and the tests may import test/`);
          continue;
        }
        const to = FLOORS[t];
        if (to === undefined) bad.push(`${file} imports '${spec}' (${target}): outside every floor`);
        else if (to > from) bad.push(`${file} imports '${spec}' (${target}): ${top(file)} (floor ${from}) may not import ${t} (floor ${to})`);
      }
    }
    assert.deepEqual(bad, []);
  });

  test('the runtime reaches no autodiff, nn, optimizer, dataset or shell code', () => {
    const entries = [...graph.keys()].filter((f) => f.startsWith('ec2t/runtime/'));
    assert.ok(entries.includes('ec2t/runtime/index.ts'));
    // Breadth-first from the runtime, remembering how each file was reached so a failure shows the chain.
    const via = new Map<string, string | null>(entries.map((f) => [f, null]));
    const queue = [...entries];
    const bad: string[] = [];
    while (queue.length > 0) {
      const file = queue.shift() as string;
      for (const { target } of graph.get(file) ?? []) {
        if (target === null || via.has(target)) continue;
        via.set(target, file);
        if (RUNTIME_FORBIDDEN.includes(top(target))) {
          const chain = [target];
          for (let f: string | null | undefined = file; f; f = via.get(f)) chain.unshift(f);
          bad.push(`the runtime reaches ${target}: ${chain.join(' → ')}`);
        } else queue.push(target);
      }
    }
    assert.deepEqual(bad, []);
    assert.ok(via.has('kernels/ternary/cpu.ts'), 'the runtime no longer reaches its kernels: is the scan broken?');
  });

  test('below the shells only the Node platform file imports node:* or names process', () => {
    // Everything else runs in browsers: Node's modules come through base/platform.ts. Type-only
    // imports are erased by the compiler, so they may name node:* types.
    const NODE_PLATFORM = 'base/platform-node.ts';
    const bad: string[] = [];
    let checked = 0;
    for (const file of sourceFiles()) {
      if (FLOORS[top(file)] >= FLOORS.cli || file === NODE_PLATFORM) continue;
      checked++;
      const { code, strings } = stripped(readFileSync(join(ROOT, file), 'utf8'));
      const forms = [/\b(?:import|export)\s+(?!type\b)[^';]*?\bfrom\s*'#(\d+)'/g, /\bimport\s*'#(\d+)'/g, /\bimport\s*\(\s*'#(\d+)'\s*\)/g, /\brequire\s*\(\s*'#(\d+)'/g];
      for (const re of forms) {
        for (const m of code.matchAll(re)) if (strings[Number(m[1])].startsWith('node:')) bad.push(`${file} imports '${strings[Number(m[1])]}'`);
      }
      // A property key named process (`{ process: p }`, an interface field) is not the global.
      if (/(?<![.\w$])process\b(?!\s*\??:)/.test(code)) bad.push(`${file} names process`);
    }
    assert.ok(checked > 100, `only ${checked} files checked`);
    assert.ok(readFileSync(join(ROOT, NODE_PLATFORM), 'utf8').includes("from 'node:fs'"), 'the Node platform no longer imports node:fs: is the scan broken?');
    assert.deepEqual(bad, []);
  });
});
