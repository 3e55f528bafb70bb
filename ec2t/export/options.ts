/**
 * Model options read back from a state dict's shapes (class count, input channels, widths, depths,
 * block counts), so a weights file alone rebuilds its architecture.
 */
import { FormatError } from '../../base/errors.js';
import { EFFICIENTNET_STAGES, EFFICIENTNET_VARIANTS, IMAGENET_MICRONET_STAGES, makeDivisible, roundFilters, roundRepeats } from '../../nn/models/index.js';
import type { SafetensorEntry } from '../../nn/safetensors.js';

/**
 * Model options read off a state dict's shapes, so a weights file alone rebuilds its architecture
 * at any scale: `numClasses`, `inChannels`; lenet5 `inputSize`; micronet `stageChannels` and
 * `blocksPerStage` (the counts themselves: the channel rounding is many-to-one, so no single width
 * multiplier can be read back for every triple); mobilenetv2 `widthMult` (the simplest α that
 * reproduces every channel count) and `cifar: true`. A CIFAR ResNet whose block count does not
 * match its name is refused here, naming the right one.
 * @example inferModelOptions('resnet20', sd) // { numClasses: 10, inChannels: 3 }
 */
export function inferModelOptions(modelName: string, sd: Map<string, SafetensorEntry>, source = 'state dict'): Record<string, unknown> {
  const shape = (k: string): number[] => {
    const e = sd.get(k);
    if (e === undefined) throw new FormatError(source, `tensor "${k}" is missing: not a ${modelName} state dict`);
    // A zero-size tensor costs no bytes, so its other dims are unbacked claims (a [5000000, 0]
    // classifier made predict build a 1.7 GB model): every weight of these models is non-empty.
    if (e.shape.length === 0 || e.shape.some((d) => d < 1)) throw new FormatError(source, `tensor "${k}" has shape [${e.shape.join(', ')}]; a ${modelName} weight has no zero-size dimension`);
    return e.shape;
  };
  if (modelName === 'efficientnet-b0' || modelName === 'efficientnet-b1') return efficientNetOptions(modelName, sd, shape, source);
  const head = modelName === 'lenet5' ? 'fc3' : modelName === 'resnet18' ? 'fc' : modelName === 'mobilenetv2' ? 'classifier.1' : 'linear';
  const opts: Record<string, unknown> = { numClasses: shape(`${head}.weight`)[0] };
  opts.inChannels = shape(modelName === 'mobilenetv2' ? 'features.0.0.weight' : 'conv1.weight')[1];
  if (modelName === 'micronet-imagenet') Object.assign(opts, imageNetMicroNetOptions(sd, shape, source));
  if (modelName === 'mobilenetv2') Object.assign(opts, mobileNetV2Options(sd, shape, source));
  if (modelName === 'lenet5') {
    // fc1 reads 16·s² features with s = ⌊(⌊H/2⌋ − 4)/2⌋; every H in [4s + 8, 4s + 11] builds the same net.
    const features = shape('fc1.weight')[1];
    const side = Math.round(Math.sqrt(features / 16));
    if (side < 1 || 16 * side * side !== features) throw new FormatError(source, `lenet5: fc1 reads ${features} features, not 16·s² for any side s`);
    opts.inputSize = 4 * side + 8;
  }
  if (/^resnet(20|32|44|56)$/.test(modelName)) {
    const blocks = blocksPerStage(sd, 3, source, modelName);
    if (6 * blocks + 2 !== Number(modelName.slice(6))) {
      throw new FormatError(source, `has ${blocks} blocks per stage: a resnet${6 * blocks + 2} state dict, not ${modelName}`);
    }
  }
  if (modelName === 'micronet') {
    const blocks = blocksPerStage(sd, 3, source, modelName);
    // Each block counted must hold its conv weights, so the depth is backed by bytes in the file.
    for (let b = 0; b < blocks; b++) shape(`layer1.${b}.conv1.weight`);
    opts.blocksPerStage = blocks;
    opts.stageChannels = [shape('conv1.weight')[0], shape('layer2.0.conv1.weight')[0], shape('layer3.0.conv1.weight')[0]];
  }
  return opts;
}

/** Blocks per stage of a `layer{1..stages}.{i}` state dict; every stage must have the same count. */
function blocksPerStage(sd: Map<string, SafetensorEntry>, stages: number, source: string, modelName: string): number {
  const counts: number[] = [];
  for (let s = 1; s <= stages; s++) {
    const ids = new Set([...sd.keys()].filter((k) => k.startsWith(`layer${s}.`)).map((k) => k.split('.')[1]));
    let n = 0;
    while (ids.has(String(n))) n++;
    if (n === 0 || n !== ids.size) throw new FormatError(source, `${modelName}: layer${s} blocks are not numbered 0..n-1 (found ${[...ids].sort().join(', ') || 'none'})`);
    counts.push(n);
  }
  if (counts.some((c) => c !== counts[0])) throw new FormatError(source, `${modelName}: stages have ${counts.join('/')} blocks; every stage has the same count`);
  return counts[0];
}

/**
 * The multipliers `m` with `round(base·m) === target` for a nondecreasing rounding, as `[lo, hi)`
 * (empty when `lo >= hi`), found by bisection on `v = base·m`.
 */
function multiplierRange(round: (v: number) => number, base: number, target: number): [number, number] {
  // inf { v : round(v) >= t } for t = target and target + 1; round(v) ≤ v + divisor, so 2·target + 64 bounds it.
  const firstAtLeast = (t: number): number => {
    let lo = 0;
    let hi = 2 * t + 64;
    for (let i = 0; i < 80; i++) {
      const mid = (lo + hi) / 2;
      if (round(mid) >= t) hi = mid;
      else lo = mid;
    }
    return hi;
  };
  return [firstAtLeast(target) / base, firstAtLeast(target + 1) / base];
}

/** The fraction with the smallest denominator strictly inside `(lo, hi)` (Stern–Brocot descent). */
function simplestBetween(lo: number, hi: number): number {
  let [a, b, c, d] = [0, 1, 1, 0]; // left a/b, right c/d
  for (let i = 0; i < 10_000; i++) {
    const p = a + c;
    const q = b + d;
    const m = p / q;
    if (m <= lo) [a, b] = [p, q];
    else if (m >= hi) [c, d] = [p, q];
    else return m;
  }
  return (lo + hi) / 2;
}

/**
 * MobileNetV2's width multiplier from the channel counts of a state dict, and `cifar: true`.
 * NOTE: the architecture depends on α only through the channel counts checked here (hidden widths
 * follow from them), so the simplest α inside the intersection of every count's α-range builds the
 * same network — at any α the rounding can produce. The CIFAR strides cannot be read off the
 * weights; `cifar: true` is what training builds for inputs ≤ 64 px (see `mobileNetV2UsesCifarStrides`);
 * pass `{ cifar: false }` for ImageNet-stride weights.
 */
function mobileNetV2Options(sd: Map<string, SafetensorEntry>, shape: (k: string) => number[], source: string): Record<string, unknown> {
  const stageOut = [16, 24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96, 160, 160, 160, 320];
  const actual = [shape('features.0.0.weight')[0], ...stageOut.map((_, b) => {
    const i = b + 1;
    // The projection conv is conv.1 in the first block (no expansion), conv.2 in the others.
    const k = sd.has(`features.${i}.conv.2.weight`) && shape(`features.${i}.conv.2.weight`).length === 4 ? `features.${i}.conv.2.weight` : `features.${i}.conv.1.weight`;
    return shape(k)[0];
  }), shape('features.18.0.weight')[0]];
  let lo = 0;
  let hi = Infinity;
  [32, ...stageOut].forEach((base, i) => {
    const [a, b] = multiplierRange((v) => makeDivisible(v), base, actual[i]);
    lo = Math.max(lo, a);
    hi = Math.min(hi, b);
  });
  // The last conv has 1280·max(1, α) channels: at 1280 it only bounds α from above.
  const [a, b] = multiplierRange((v) => makeDivisible(v), 1280, actual[actual.length - 1]);
  if (a > 1) lo = Math.max(lo, a);
  hi = Math.min(hi, b);
  const expected = (m: number): number[] => [makeDivisible(32 * m), ...stageOut.map((c) => makeDivisible(c * m)), makeDivisible(1280 * Math.max(1, m))];
  if (lo < hi) {
    const widthMult = simplestBetween(lo, hi);
    if (expected(widthMult).every((c, i) => c === actual[i])) return { widthMult, cifar: true };
  }
  throw new FormatError(source, `mobilenetv2: channels ${actual.join('/')} match no width multiplier`);
}

/**
 * A width multiplier w with `roundFilters(base, w) = observed` for every pair, or undefined.
 * `roundFilters(base, ·)` is non-decreasing, so each pair allows an interval of w (found by
 * bisection); any w in their intersection rebuilds the same channels.
 */
function widthFor(pairs: ReadonlyArray<readonly [number, number]>): number | undefined {
  let lo = 0;
  let hi = Infinity;
  for (const [base, n] of pairs) {
    // Smallest w reaching n, and the largest w not passing it.
    const bound = (pass: (w: number) => boolean): number => {
      let a = 1e-6;
      let b = 1e3;
      for (let k = 0; k < 100; k++) {
        const m = (a + b) / 2;
        if (pass(m)) b = m;
        else a = m;
      }
      return b;
    };
    lo = Math.max(lo, bound((w) => roundFilters(base, w) >= n));
    hi = Math.min(hi, bound((w) => roundFilters(base, w) > n));
  }
  if (!(lo < hi)) return undefined;
  const w = (lo + hi) / 2;
  return pairs.every(([base, n]) => roundFilters(base, w) === n) ? w : undefined;
}

/** Distinct `prefix.N` block indices of a state dict, counted. */
function blockCount(sd: Map<string, SafetensorEntry>, prefix: string): number {
  return new Set([...sd.keys()].filter((k) => k.startsWith(`${prefix}.`)).map((k) => k.split('.')[prefix.split('.').length])).size;
}

/** The ImageNet MicroNet's `depth`/`width` from its stage channels and block counts (exact: any d, w the rounding can produce). */
function imageNetMicroNetOptions(sd: Map<string, SafetensorEntry>, shape: (k: string) => number[], source: string): Record<string, unknown> {
  const counts = IMAGENET_MICRONET_STAGES.map((_, i) => blockCount(sd, `layer${i + 1}`));
  if (counts.some((c) => c === 0)) throw new FormatError(source, `micronet-imagenet: stage blocks ${counts.join('/')}; every stage needs at least one`);
  const pairs: Array<[number, number]> = [[32, shape('conv1.weight')[0]], ...IMAGENET_MICRONET_STAGES.map((st, i): [number, number] => [st.channels, shape(`layer${i + 1}.0.conv1.weight`)[0]]), [1280, shape('conv2.weight')[0]]];
  const width = widthFor(pairs);
  if (width === undefined) throw new FormatError(source, `micronet-imagenet: channels ${pairs.map((p) => p[1]).join('/')} match no width multiplier`);
  // ⌈d·r⌉ = n ⇔ (n − 1)/r < d ≤ n/r: the smallest upper bound is the answer when it passes every lower one.
  const depth = Math.min(...counts.map((n, i) => n / IMAGENET_MICRONET_STAGES[i].repeats));
  if (!counts.every((n, i) => roundRepeats(IMAGENET_MICRONET_STAGES[i].repeats, depth) === n)) throw new FormatError(source, `micronet-imagenet: stage blocks ${counts.join('/')} match no depth multiplier`);
  return { depth, width };
}

/**
 * EfficientNet's options from a state dict: classes, input channels, and the width/depth
 * coefficients only when the weights are not the variant's (a reduced network). The image size the
 * "same" padding is computed for is not in the weights: the variant's unless given.
 */
function efficientNetOptions(name: 'efficientnet-b0' | 'efficientnet-b1', sd: Map<string, SafetensorEntry>, shape: (k: string) => number[], source: string): Record<string, unknown> {
  const opts: Record<string, unknown> = { numClasses: shape('_fc.weight')[0], inChannels: shape('_conv_stem.weight')[1] };
  const n = blockCount(sd, '_blocks');
  // Per block: output channels and depthwise kernel, the layout a (width, depth) pair must rebuild.
  const actual = Array.from({ length: n }, (_, i) => `${shape(`_blocks.${i}._project_conv.weight`)[0]}/${shape(`_blocks.${i}._depthwise_conv.weight`)[2]}`).join(',');
  const layout = (w: number, d: number): string =>
    EFFICIENTNET_STAGES.flatMap((st) => Array.from({ length: roundRepeats(st.repeats, d) }, () => `${roundFilters(st.outChannels, w)}/${st.kernel}`)).join(',');
  const v = EFFICIENTNET_VARIANTS[name];
  const width = widthFor([[32, shape('_conv_stem.weight')[0]], ...EFFICIENTNET_STAGES.map((st): [number, number] => [st.outChannels, shape(`_blocks.${n - 1}._project_conv.weight`)[0]]).slice(-1), [1280, shape('_conv_head.weight')[0]]]);
  const widths = [v.width, ...(width === undefined ? [] : [width])];
  // Depths where some stage's ⌈d·r⌉ reaches n: d = n/r, the variant's first.
  const depths = [v.depth, ...Array.from({ length: n }, (_, k) => [1, 2, 3, 4].map((r) => (k + 1) / r)).flat()];
  for (const w of widths) {
    for (const d of depths) {
      if (layout(w, d) !== actual) continue;
      if (w !== v.width) opts.width = w;
      if (d !== v.depth) opts.depth = d;
      return opts;
    }
  }
  throw new FormatError(source, `${name}: ${n} blocks with output channels/kernels ${actual} match no width and depth coefficients`);
}

/**
 * The options `packModel` builds with: those read off the state dict, overridden by the given ones
 * (e.g. `{ cifar: false }` for ImageNet-stride MobileNetV2 weights). When reading fails and options
 * were given, they are used as they are (the model build then reports what does not fit).
 */
export function completeModelOptions(modelName: string, given: Record<string, unknown>, sd: Map<string, SafetensorEntry>, source: string): Record<string, unknown> {
  if (Object.keys(given).length === 0) return inferModelOptions(modelName, sd, source);
  try {
    return { ...inferModelOptions(modelName, sd, source), ...given };
  } catch {
    return given;
  }
}
