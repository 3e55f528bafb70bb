/**
 * The MicroNet score table of ternary ResNet-20 checkpoints under the three rule sets, the packed
 * size and the packed-vs-float forward error, for an authors-style checkpoint (a float file whose
 * block convs hold {−w_n, 0, +w_p}) and sparser checkpoints derived from it.
 *
 * The paper's 64% and 73% checkpoints are not public here, so the sparser ones are made from the
 * given file: in every ternary layer, non-zero weights drawn at random (seeded) are set to 0 until
 * the layer reaches the target sparsity; the centroids and every other tensor stay. Same structure,
 * different weights: the counts show how the rules scale, not the paper's numbers.
 *
 *   node dist/bench/micronet-score.js AUTHORS.safetensors [OUT_DIR] [--sparsity 0.64,0.73]
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../kernels/index.js';
import { Rng } from '../base/rng.js';
import { Tensor, noGrad } from '../engine/tensor.js';
import { describeForScore, inferModelOptions, packModel, recognizeTernaryValued } from '../ec2t/export.js';
import { SCORE_RULES, scoreWithRules } from '../ec2t/score-rules.js';
import { loadTernaryModelBytes } from '../ec2t/runtime/index.js';
import { createModel } from '../nn/models/index.js';
import { maxRelativeError } from '../test/helpers/check.js';
import { entryToTensor, loadSafetensors, serializeSafetensors, type SafetensorEntry } from '../nn/safetensors.js';

const args = process.argv.slice(2);
const source = args[0];
if (source === undefined) {
  process.stderr.write('usage: node dist/bench/micronet-score.js AUTHORS.safetensors [OUT_DIR] [--sparsity 0.64,0.73]\n');
  process.exit(2);
}
const si = args.indexOf('--sparsity');
const targets = si >= 0 ? args[si + 1].split(',').map(Number) : [0.64, 0.73];
const outDir = args[1] !== undefined && !args[1].startsWith('--') ? args[1] : mkdtempSync(join(tmpdir(), 'micronet-score-'));

const base = loadSafetensors(source).tensors;
const { stateDict, recognized } = recognizeTernaryValued('resnet20', base);
if (recognized.length === 0) throw new Error(`${source}: no ternary-valued layer`);

/** `sd` with each recognised layer sparsified to `target` (float file, as the authors publish it). */
function sparser(target: number, seed: number): Map<string, SafetensorEntry> {
  const rng = new Rng(seed);
  const out = new Map(base);
  for (const name of recognized) {
    const w = Float32Array.from(stateDict.get(`${name}.weight`)!.data as Float32Array);
    const nz: number[] = [];
    for (let k = 0; k < w.length; k++) if (w[k] !== 0) nz.push(k);
    const drop = Math.max(0, nz.length - Math.round((1 - target) * w.length));
    // Partial Fisher–Yates: the first `drop` entries of a seeded shuffle.
    for (let i = 0; i < drop; i++) {
      const j = i + rng.int(nz.length - i);
      [nz[i], nz[j]] = [nz[j], nz[i]];
      w[nz[i]] = 0;
    }
    out.set(`${name}.weight`, { ...base.get(`${name}.weight`)!, data: w });
  }
  return out;
}

function forwardError(sd: Map<string, SafetensorEntry>, packed: Uint8Array): number {
  const m = createModel('resnet20', { rng: new Rng(0) });
  m.loadStateDict(new Map([...sd].map(([k, e]) => [k, entryToTensor(e)])), { strict: true });
  m.eval();
  const rng = new Rng(1);
  const shape: [number, number, number, number] = [8, 3, 32, 32];
  const x = Float32Array.from({ length: 8 * 3 * 32 * 32 }, () => rng.normal());
  const ref = noGrad(() => m.forward(new Tensor(Float32Array.from(x), shape))).data;
  const y = loadTernaryModelBytes(packed, 'packed').predict(x, shape).data;
  return maxRelativeError(y, ref);
}

const FLOAT32_BYTES = 269_722 * 4;
const rows: string[] = [];
const cases: Array<[string, Map<string, SafetensorEntry>]> = [[source, base], ...targets.map((t, i): [string, Map<string, SafetensorEntry>] => [join(outDir, `resnet20-ec2t-sparsity${Math.round(100 * t)}.safetensors`), sparser(t, 100 + i)])];
for (const [path, sd] of cases) {
  if (sd !== base) writeFileSync(path, serializeSafetensors(sd));
  const opts = inferModelOptions('resnet20', sd, path);
  const layers = describeForScore('resnet20', opts, sd);
  const packed = packModel('resnet20', opts, sd, { source: path });
  const header = Number(new DataView(packed.bytes.buffer, packed.bytes.byteOffset, 8).getBigUint64(0, true));
  const cells = SCORE_RULES.map((r) => {
    const s = scoreWithRules(layers, r);
    return `${(s.params / 1e3).toFixed(2)}K / ${(s.flops / 1e6).toFixed(3)}M (${s.score.toFixed(5)})`;
  });
  const sparsity = scoreWithRules(layers, 'plain').ternarySparsity;
  rows.push(`| ${path.split('/').pop()} | ${(100 * sparsity).toFixed(2)}% | ${cells.join(' | ')} | ${packed.bytes.length} (header ${header}; 1/${(FLOAT32_BYTES / packed.bytes.length).toFixed(2)}) | ${forwardError(sd, packed.bytes).toExponential(1)} |`);
}
process.stdout.write([
  `| checkpoint | ternary sparsity | ${SCORE_RULES.map((r) => `${r}: params / FLOPs (score)`).join(' | ')} | packed bytes | packed vs float max\\|Δ\\|/max\\|ref\\| |`,
  `|---|---|${SCORE_RULES.map(() => '---').join('|')}|---|---|`,
  ...rows,
].join('\n') + '\n');
process.stderr.write(`sparser checkpoints in ${outDir}\n`);
