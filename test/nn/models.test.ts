/**
 * Models: PyTorch state-dict names and parameter counts, option validation, determinism, output
 * shapes and a training step through a whole network, and the default EC2T layer policy.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng, Tensor, ValueError, crossEntropy, noGrad, randn } from '../../engine/index.js';
import { BatchNorm2d, Conv2d } from '../../nn/layers.js';
import { StateDictError, dtypeOf } from '../../nn/module.js';
import {
  MODEL_NAMES, MicroNet, OptionAShortcut, createModel, makeDivisible, roundFilters, roundRepeats, ternaryLayerNames, ternaryParameterNames,
} from '../../nn/models/index.js';

const LENET5_KEYS = [
  'conv1.weight', 'conv1.bias', 'conv2.weight', 'conv2.bias',
  'fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias', 'fc3.weight', 'fc3.bias',
];

/** Idelbayev's resnet20().state_dict().keys(), in order. */
const RESNET20_KEYS = [
  'conv1.weight', 'bn1.weight', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var', 'bn1.num_batches_tracked',
  'layer1.0.conv1.weight', 'layer1.0.bn1.weight', 'layer1.0.bn1.bias', 'layer1.0.bn1.running_mean',
  'layer1.0.bn1.running_var', 'layer1.0.bn1.num_batches_tracked', 'layer1.0.conv2.weight', 'layer1.0.bn2.weight',
  'layer1.0.bn2.bias', 'layer1.0.bn2.running_mean', 'layer1.0.bn2.running_var', 'layer1.0.bn2.num_batches_tracked',
  'layer1.1.conv1.weight', 'layer1.1.bn1.weight', 'layer1.1.bn1.bias', 'layer1.1.bn1.running_mean',
  'layer1.1.bn1.running_var', 'layer1.1.bn1.num_batches_tracked', 'layer1.1.conv2.weight', 'layer1.1.bn2.weight',
  'layer1.1.bn2.bias', 'layer1.1.bn2.running_mean', 'layer1.1.bn2.running_var', 'layer1.1.bn2.num_batches_tracked',
  'layer1.2.conv1.weight', 'layer1.2.bn1.weight', 'layer1.2.bn1.bias', 'layer1.2.bn1.running_mean',
  'layer1.2.bn1.running_var', 'layer1.2.bn1.num_batches_tracked', 'layer1.2.conv2.weight', 'layer1.2.bn2.weight',
  'layer1.2.bn2.bias', 'layer1.2.bn2.running_mean', 'layer1.2.bn2.running_var', 'layer1.2.bn2.num_batches_tracked',
  'layer2.0.conv1.weight', 'layer2.0.bn1.weight', 'layer2.0.bn1.bias', 'layer2.0.bn1.running_mean',
  'layer2.0.bn1.running_var', 'layer2.0.bn1.num_batches_tracked', 'layer2.0.conv2.weight', 'layer2.0.bn2.weight',
  'layer2.0.bn2.bias', 'layer2.0.bn2.running_mean', 'layer2.0.bn2.running_var', 'layer2.0.bn2.num_batches_tracked',
  'layer2.1.conv1.weight', 'layer2.1.bn1.weight', 'layer2.1.bn1.bias', 'layer2.1.bn1.running_mean',
  'layer2.1.bn1.running_var', 'layer2.1.bn1.num_batches_tracked', 'layer2.1.conv2.weight', 'layer2.1.bn2.weight',
  'layer2.1.bn2.bias', 'layer2.1.bn2.running_mean', 'layer2.1.bn2.running_var', 'layer2.1.bn2.num_batches_tracked',
  'layer2.2.conv1.weight', 'layer2.2.bn1.weight', 'layer2.2.bn1.bias', 'layer2.2.bn1.running_mean',
  'layer2.2.bn1.running_var', 'layer2.2.bn1.num_batches_tracked', 'layer2.2.conv2.weight', 'layer2.2.bn2.weight',
  'layer2.2.bn2.bias', 'layer2.2.bn2.running_mean', 'layer2.2.bn2.running_var', 'layer2.2.bn2.num_batches_tracked',
  'layer3.0.conv1.weight', 'layer3.0.bn1.weight', 'layer3.0.bn1.bias', 'layer3.0.bn1.running_mean',
  'layer3.0.bn1.running_var', 'layer3.0.bn1.num_batches_tracked', 'layer3.0.conv2.weight', 'layer3.0.bn2.weight',
  'layer3.0.bn2.bias', 'layer3.0.bn2.running_mean', 'layer3.0.bn2.running_var', 'layer3.0.bn2.num_batches_tracked',
  'layer3.1.conv1.weight', 'layer3.1.bn1.weight', 'layer3.1.bn1.bias', 'layer3.1.bn1.running_mean',
  'layer3.1.bn1.running_var', 'layer3.1.bn1.num_batches_tracked', 'layer3.1.conv2.weight', 'layer3.1.bn2.weight',
  'layer3.1.bn2.bias', 'layer3.1.bn2.running_mean', 'layer3.1.bn2.running_var', 'layer3.1.bn2.num_batches_tracked',
  'layer3.2.conv1.weight', 'layer3.2.bn1.weight', 'layer3.2.bn1.bias', 'layer3.2.bn1.running_mean',
  'layer3.2.bn1.running_var', 'layer3.2.bn1.num_batches_tracked', 'layer3.2.conv2.weight', 'layer3.2.bn2.weight',
  'layer3.2.bn2.bias', 'layer3.2.bn2.running_mean', 'layer3.2.bn2.running_var', 'layer3.2.bn2.num_batches_tracked',
  'linear.weight', 'linear.bias',
];

/** MicroNet φ = 3.5 (d = 1.4^3.5, w = 1.2^3.5: 23 blocks, 32/64/120 channels), 100 classes; by hand as above. */
const MICRONET_PHI35_C100_PARAMS = 8_055_124;

const BN = (p: string): string[] => ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'].map((s) => `${p}.${s}`);

function shapesOf(m: { stateDict(): Map<string, Tensor> }): Map<string, readonly number[]> {
  return new Map([...m.stateDict()].map(([k, t]) => [k, t.shape]));
}

test('parameter counts equal PyTorch for every model', () => {
  const want: Array<[string, Record<string, unknown>, number]> = [
    ['lenet5', {}, 61_706],
    ['resnet20', {}, 269_722],
    ['resnet32', {}, 464_154],
    ['resnet44', {}, 658_586],
    ['resnet56', {}, 853_018],
    ['resnet18', { numClasses: 1000 }, 11_689_512],
    ['mobilenetv2', { numClasses: 1000 }, 3_504_872],
    ['mobilenetv2', { numClasses: 1000, cifar: true }, 3_504_872],
    // torchvision mobilenet_v2(width_mult=0.5): 1,968,680
    ['mobilenetv2', { numClasses: 1000, widthMult: 0.5 }, 1_968_680],
    // MicroNet d = w = 1 (7 blocks per stage, 16/32/64 channels), counted by hand in the test below
    ['micronet', {}, 662_810],
  ];
  for (const [name, opts, n] of want) assert.equal(createModel(name, opts).numParameters(), n, `${name} ${JSON.stringify(opts)}`);
});

test('lenet5 and resnet20 state-dict keys are exactly PyTorch\'s, in order', () => {
  assert.deepEqual([...createModel('lenet5').stateDict().keys()], LENET5_KEYS);
  const r20 = createModel('resnet20');
  assert.deepEqual([...r20.stateDict().keys()], RESNET20_KEYS);
  const s = shapesOf(r20);
  assert.deepEqual(s.get('conv1.weight'), [16, 3, 3, 3]);
  assert.deepEqual(s.get('layer2.0.conv1.weight'), [32, 16, 3, 3]);
  assert.deepEqual(s.get('layer3.2.conv2.weight'), [64, 64, 3, 3]);
  assert.deepEqual(s.get('linear.weight'), [10, 64]);
  assert.deepEqual(s.get('bn1.num_batches_tracked'), []);
  assert.equal(dtypeOf(r20.stateDict().get('layer1.0.bn2.num_batches_tracked')!), 'int64');
  const l5 = shapesOf(createModel('lenet5'));
  assert.deepEqual(l5.get('conv1.weight'), [6, 1, 5, 5]);
  assert.deepEqual(l5.get('fc1.weight'), [120, 400]);
  assert.deepEqual(shapesOf(createModel('lenet5', { inChannels: 3, inputSize: 32 })).get('fc1.weight'), [120, 576]);
});

test('resnet18 keys and shapes are torchvision\'s', () => {
  const m = createModel('resnet18', { numClasses: 1000 });
  const keys = [...m.stateDict().keys()];
  assert.equal(keys.length, 122);
  assert.deepEqual(keys.slice(0, 6), ['conv1.weight', ...BN('bn1')]);
  const block = (p: string, down: boolean): string[] => [
    `${p}.conv1.weight`, ...BN(`${p}.bn1`), `${p}.conv2.weight`, ...BN(`${p}.bn2`),
    ...(down ? [`${p}.downsample.0.weight`, ...BN(`${p}.downsample.1`)] : []),
  ];
  const expected = ['conv1.weight', ...BN('bn1')];
  for (let l = 1; l <= 4; l++) for (let i = 0; i < 2; i++) expected.push(...block(`layer${l}.${i}`, l > 1 && i === 0));
  expected.push('fc.weight', 'fc.bias');
  assert.deepEqual(keys, expected);
  const s = shapesOf(m);
  assert.deepEqual(s.get('conv1.weight'), [64, 3, 7, 7]);
  assert.deepEqual(s.get('layer2.0.downsample.0.weight'), [128, 64, 1, 1]);
  assert.deepEqual(s.get('layer4.1.conv2.weight'), [512, 512, 3, 3]);
  assert.deepEqual(s.get('fc.weight'), [1000, 512]);
});

test('mobilenetv2 keys and shapes are torchvision\'s', () => {
  const m = createModel('mobilenetv2', { numClasses: 1000 });
  const keys = [...m.stateDict().keys()];
  assert.equal(keys.length, 314);
  assert.deepEqual(keys.slice(0, 32), [
    'features.0.0.weight', ...BN('features.0.1'),
    'features.1.conv.0.0.weight', ...BN('features.1.conv.0.1'), 'features.1.conv.1.weight', ...BN('features.1.conv.2'),
    'features.2.conv.0.0.weight', ...BN('features.2.conv.0.1'), 'features.2.conv.1.0.weight', ...BN('features.2.conv.1.1'),
    'features.2.conv.2.weight', ...BN('features.2.conv.3'),
  ].slice(0, 32));
  assert.deepEqual(keys.slice(-8), ['features.18.0.weight', ...BN('features.18.1'), 'classifier.1.weight', 'classifier.1.bias']);
  const s = shapesOf(m);
  assert.deepEqual(s.get('features.0.0.weight'), [32, 3, 3, 3]);
  assert.deepEqual(s.get('features.1.conv.0.0.weight'), [32, 1, 3, 3]);
  assert.deepEqual(s.get('features.2.conv.0.0.weight'), [96, 16, 1, 1]);
  assert.deepEqual(s.get('features.2.conv.1.0.weight'), [96, 1, 3, 3]);
  assert.deepEqual(s.get('features.2.conv.2.weight'), [24, 96, 1, 1]);
  assert.deepEqual(s.get('features.17.conv.2.weight'), [320, 960, 1, 1]);
  assert.deepEqual(s.get('features.18.0.weight'), [1280, 320, 1, 1]);
  assert.deepEqual(s.get('classifier.1.weight'), [1000, 1280]);
  assert.equal(makeDivisible(32 * 0.75), 24);
  assert.equal(makeDivisible(1280 * 1.4), 1792);
});

test('micronet keys, channel and depth rounding, parameter count by hand', () => {
  const m = createModel('micronet') as MicroNet;
  assert.deepEqual(m.stageChannels, [16, 32, 64]);
  assert.equal(m.blocksPerStage, 7);
  const keys = [...m.stateDict().keys()];
  const blk = (p: string, short: boolean): string[] => [
    ...BN(`${p}.bn1`), `${p}.conv1.weight`, ...BN(`${p}.bn2`), `${p}.conv2.weight`, ...BN(`${p}.bn3`),
    ...(short ? [`${p}.shortcut.0.weight`, ...BN(`${p}.shortcut.1`)] : []),
  ];
  const expected = ['conv1.weight', ...BN('bn1')];
  for (let l = 1; l <= 3; l++) for (let i = 0; i < 7; i++) expected.push(...blk(`layer${l}.${i}`, l > 1 && i === 0));
  expected.push('linear.weight', 'linear.bias');
  assert.deepEqual(keys, expected);
  assert.deepEqual(shapesOf(m).get('layer2.0.shortcut.0.weight'), [32, 16, 1, 1]);
  assert.deepEqual(shapesOf(m).get('layer1.0.bn1.weight'), [16]);
  // Count: stem 432 + 32; stage-1 block 18c²+6c (c=16) ×7; stage 2: first block 14,560 + 6×18,624;
  // stage 3: first block 57,792 + 6×74,112; linear 650.
  assert.equal(432 + 32 + 7 * 4704 + 14_560 + 6 * 18_624 + 57_792 + 6 * 74_112 + 650, 662_810);
  // Rounding rule of docs/METHOD.md §1 and the authors' best CIFAR pair (d̂, ŵ) = (1.4, 1.2) at φ = 3.5.
  assert.equal(roundFilters(16, 1), 16);
  assert.equal(roundFilters(16, 1.1), 16);
  assert.equal(roundFilters(16, 1.3), 24);
  assert.equal(roundFilters(64, 1.2 ** 3.5), 120);
  assert.equal(roundFilters(3, 1), 8);
  assert.equal(roundRepeats(7, 1.4 ** 3.5), 23);
  const big = createModel('micronet', { phi: 3.5, numClasses: 100 }) as MicroNet;
  assert.deepEqual(big.stageChannels, [32, 64, 120]);
  assert.equal(big.blocksPerStage, 23);
  assert.equal(big.numParameters(), MICRONET_PHI35_C100_PARAMS);
  const direct = createModel('micronet', { depth: 1.2, width: 1.3 }) as MicroNet;
  assert.deepEqual(direct.stageChannels, [24, 40, 80]);
  assert.equal(direct.blocksPerStage, 9);
});

test('createModel: typed errors list valid names and options', () => {
  assert.throws(() => createModel('resnet21'), (e: unknown) => e instanceof ValueError && /valid models: lenet5, resnet20, .*micronet/.test(e.message));
  assert.throws(() => createModel('resnet20', { width: 2 }), (e: unknown) => e instanceof ValueError && /unknown option width; valid options: numClasses, inChannels, rng, seed/.test(e.message));
  assert.throws(() => createModel('mobilenetv2', { widthMul: 2, foo: 1 }), /unknown options widthMul, foo; valid options: .*widthMult, cifar, dropout/);
  assert.throws(() => createModel('lenet5', { numClasses: 0 }), /numClasses must be a positive integer/);
  assert.throws(() => createModel('lenet5', { rng: new Rng(1), seed: 1 }), /either rng or seed/);
  assert.throws(() => createModel('micronet', { phi: 1, depth: 2 }), /not both/);
  assert.throws(() => createModel('micronet', { dropout: 1 }), /dropout must be a number in \[0, 1\)/);
  assert.throws(() => createModel('mobilenetv2', { cifar: 'yes' }), /cifar must be a boolean/);
  assert.throws(() => createModel('lenet5', { inputSize: 8 }), ValueError);
  assert.deepEqual([...MODEL_NAMES], ['lenet5', 'resnet20', 'resnet32', 'resnet44', 'resnet56', 'resnet18', 'mobilenetv2', 'micronet', 'efficientnet-b0', 'efficientnet-b1', 'micronet-imagenet']);
});

test('initialisation is deterministic per seed; rng and seed agree; different seeds differ', () => {
  const a = createModel('resnet20', { seed: 5 }).stateDict();
  const b = createModel('resnet20', { seed: 5 }).stateDict();
  const c = createModel('resnet20', { rng: new Rng(5) }).stateDict();
  const d = createModel('resnet20', { seed: 6 }).stateDict();
  let differs = false;
  for (const [k, t] of a) {
    assert.deepEqual([...t.data], [...b.get(k)!.data], k);
    assert.deepEqual([...t.data], [...c.get(k)!.data], k);
    if (t.data.some((v, i) => v !== d.get(k)!.data[i])) differs = true;
  }
  assert.ok(differs);
});

test('init schemes: Idelbayev kaiming_normal (fan_in) for resnet20, torchvision fan_out for resnet18, BN 1/0', () => {
  const r20 = createModel('resnet20', { seed: 1 });
  const std = (t: Tensor): number => Math.sqrt(t.data.reduce((a, v) => a + v * v, 0) / t.size);
  const w = r20.stateDict().get('layer3.1.conv1.weight')!;
  assert.ok(Math.abs(std(w) / Math.sqrt(2 / 576) - 1) < 0.03, `std ${std(w)}`);
  const r18 = createModel('resnet18', { seed: 1 });
  const w18 = r18.stateDict().get('layer4.0.conv2.weight')!;
  assert.ok(Math.abs(std(w18) / Math.sqrt(2 / (512 * 9)) - 1) < 0.01, `std ${std(w18)}`);
  for (const [, m] of r18.namedModules()) {
    if (m instanceof BatchNorm2d) {
      assert.ok(m.weight!.data.every((v) => v === 1));
      assert.ok(m.bias!.data.every((v) => v === 0));
    }
  }
  const mb = createModel('mobilenetv2', { seed: 1, numClasses: 1000 });
  const fc = mb.stateDict().get('classifier.1.weight')!;
  assert.ok(Math.abs(std(fc) / 0.01 - 1) < 0.01);
  assert.ok(mb.stateDict().get('classifier.1.bias')!.data.every((v) => v === 0));
});

test('OptionAShortcut is x[:, :, ::2, ::2] zero-padded by planes/4 channels each side', () => {
  const x = new Tensor(Float32Array.from({ length: 64 }, (_, i) => i + 1), [1, 4, 4, 4]);
  const y = new OptionAShortcut(2).forward(x);
  assert.deepEqual(y.shape, [1, 8, 2, 2]);
  const want: number[] = [];
  for (let c = 0; c < 8; c++)
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 2; j++) want.push(c < 2 || c >= 6 ? 0 : x.data[(c - 2) * 16 + i * 2 * 4 + j * 2]);
  assert.deepEqual([...y.data], want);
});

test('every model produces [1, numClasses] logits at a small input (eval)', () => {
  const cases: Array<[string, Record<string, unknown>, number[]]> = [
    ['lenet5', {}, [1, 1, 28, 28]],
    ['lenet5', { inChannels: 3, inputSize: 32 }, [1, 3, 32, 32]],
    ['resnet20', {}, [1, 3, 32, 32]],
    ['resnet32', {}, [1, 3, 32, 32]],
    ['resnet44', {}, [1, 3, 16, 16]],
    ['resnet56', {}, [1, 3, 16, 16]],
    ['resnet18', { numClasses: 7 }, [1, 3, 32, 32]],
    ['mobilenetv2', {}, [1, 3, 32, 32]],
    ['mobilenetv2', { cifar: true, widthMult: 0.5 }, [1, 3, 32, 32]],
    ['micronet', { numClasses: 100 }, [1, 3, 32, 32]],
  ];
  for (const [name, opts, shape] of cases) {
    const m = createModel(name, { seed: 1, ...opts }).eval();
    const x = randn(shape, new Rng(2));
    const y = noGrad(() => m.forward(x));
    assert.deepEqual(y.shape, [1, (opts.numClasses as number | undefined) ?? 10], name);
    assert.ok(y.data.every(Number.isFinite), `${name} finite`);
    const y2 = noGrad(() => m.forward(x));
    assert.deepEqual([...y2.data], [...y.data], `${name} eval forward is deterministic`);
  }
});

test('a training step through resnet20 reaches every parameter and updates BN buffers', () => {
  const m = createModel('resnet20', { seed: 3 });
  const x = randn([2, 3, 8, 8], new Rng(4));
  const loss = crossEntropy(m.forward(x), [1, 7]);
  loss.backward();
  for (const [k, p] of m.namedParameters()) assert.ok(p.grad !== null && p.grad.data.some((v) => v !== 0), `${k} has a gradient`);
  for (const [k, b] of m.namedBuffers()) if (k.endsWith('num_batches_tracked')) assert.equal(b.data[0], 1, k);
  assert.ok(m.stateDict().get('bn1.running_mean')!.data.some((v) => v !== 0));
});

test('micronet and mobilenetv2 train-mode forward/backward (dropout active) give gradients', () => {
  for (const [name, opts] of [['micronet', { depth: 0.15 }], ['mobilenetv2', { cifar: true, widthMult: 0.25 }]] as const) {
    const m = createModel(name, { seed: 1, ...opts });
    const loss = crossEntropy(m.forward(randn([2, 3, 8, 8], new Rng(5))), [0, 3]);
    assert.ok(Number.isFinite(loss.item()));
    loss.backward();
    const missing = m.namedParameters().filter(([, p]) => p.grad === null).map(([k]) => k);
    assert.deepEqual(missing, [], `${name}: parameters without gradient`);
  }
});

test('state dicts transfer between models: same outputs after loading; wrong head lists both keys', () => {
  const a = createModel('resnet20', { seed: 1 });
  const b = createModel('resnet20', { seed: 2 });
  const x = randn([1, 3, 8, 8], new Rng(3));
  a.train();
  noGrad(() => a.forward(x)); // move running stats away from their init
  a.eval();
  b.eval();
  b.loadStateDict(a.stateDict());
  assert.deepEqual([...noGrad(() => b.forward(x)).data], [...noGrad(() => a.forward(x)).data]);
  const c100 = createModel('resnet20', { seed: 1, numClasses: 100 });
  assert.throws(
    () => c100.loadStateDict(a.stateDict()),
    (e: unknown) => e instanceof StateDictError && e.shapeMismatches.map((s) => s.key).join() === 'linear.weight,linear.bias',
  );
  const prefixed = new Map([...a.stateDict()].map(([k, t]) => [`module.${k}`, t] as [string, Tensor]));
  b.loadStateDict(prefixed);
});

test('ternaryLayerNames: docs/METHOD.md §2 default policy per model', () => {
  assert.deepEqual(ternaryLayerNames(createModel('lenet5'), 'lenet5'), ['conv1', 'conv2', 'fc1', 'fc2']);
  const r20 = ternaryLayerNames(createModel('resnet20'), 'resnet20');
  const want20: string[] = [];
  for (let l = 1; l <= 3; l++) for (let i = 0; i < 3; i++) want20.push(`layer${l}.${i}.conv1`, `layer${l}.${i}.conv2`);
  assert.deepEqual(r20, want20);
  assert.deepEqual(ternaryParameterNames(createModel('resnet20'), 'resnet20')[0], 'layer1.0.conv1.weight');
  const r18 = ternaryLayerNames(createModel('resnet18'), 'resnet18');
  assert.equal(r18.length, 16);
  assert.ok(r18.every((n) => /^layer\d\.\d\.conv[12]$/.test(n)));
  const mn = ternaryLayerNames(createModel('micronet'), 'micronet');
  assert.equal(mn.length, 42);
  assert.ok(!mn.some((n) => n.includes('shortcut')) && !mn.includes('conv1'));
  const mb = createModel('mobilenetv2');
  const mbn = ternaryLayerNames(mb, 'mobilenetv2');
  assert.equal(mbn.length, 1 + 16 * 2);
  for (const n of mbn) assert.equal((mb.getSubmodule(n) as Conv2d).groups, 1, n);
  assert.throws(() => ternaryLayerNames(createModel('resnet20'), 'lenet5'), /no conv1|fc1/);
  assert.throws(() => ternaryLayerNames(createModel('resnet20'), 'vgg'), ValueError);
});

test('safetensors round trip: num_batches_tracked written as I64, file entries load back', async () => {
  const { serializeSafetensors, parseSafetensors } = await import('../../nn/safetensors.js');
  const { stateDictForSave } = await import('../../nn/module.js');
  const a = createModel('resnet20', { seed: 1 });
  noGrad(() => a.forward(randn([2, 3, 8, 8], new Rng(1))));
  const file = parseSafetensors(serializeSafetensors(stateDictForSave(a)));
  assert.equal(file.tensors.get('bn1.num_batches_tracked')!.dtype, 'I64');
  assert.deepEqual(file.tensors.get('bn1.num_batches_tracked')!.shape, []);
  assert.equal(file.tensors.get('conv1.weight')!.dtype, 'F32');
  const b = createModel('resnet20', { seed: 2 });
  b.loadStateDict(file.tensors);
  for (const [k, t] of a.stateDict()) assert.deepEqual([...b.stateDict().get(k)!.data], [...t.data], k);
  assert.equal(b.stateDict().get('bn1.num_batches_tracked')!.data[0], 1);
});
