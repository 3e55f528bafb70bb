/**
 * Convolution benchmark on the ResNet-20 and LeNet-5 conv shapes: conv2d forward and
 * forward+backward (forward + input gradient + weight gradient, counted as 3× the forward FLOPs)
 * GFLOP/s of the cpu kernels with the WebAssembly SIMD path (kernels/wasm/conv.ts) and with the
 * previous TypeScript im2col + GEMM path (`setConvWasm(false)`), beside the float64 reference
 * (at N=2; its rate hardly depends on N), all in one process; then ResNet-20 (batch 32) and
 * LeNet-5 (batch 64) training-step images/s through `benchModel`, WASM conv on and off. PyTorch CPU
 * (`/usr/bin/python3`, when it imports torch) runs the same shapes and models at 1 and 2 threads in
 * a spawned process within the same run. Models also run with 2 ec2t threads (conv batch split and
 * GEMM). Prints markdown tables.
 *
 *   npx tsc -p . && node dist/bench/conv.bench.js        # EC2T_CONV_BENCH_QUICK=1: shorter runs, no PyTorch
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import '../kernels/index.js';
import { benchModel } from '../cli/run-bench.js';
import { Rng } from '../base/rng.js';
import { setConvWasm } from '../kernels/cpu/conv.js';
import { setConvThreads, shutdownConvThreads } from '../kernels/wasm/conv.js';
import { setGemmThreads, shutdownThreads } from '../kernels/wasm/threaded-gemm.js';
import { type Conv2dOptions, conv2dGeometry } from '../kernels/types.js';
import { type TimingOptions, convFlops, convKernels, convWork, gflops, randomArrays, seconds } from './util.js';

const QUICK = process.env.EC2T_CONV_BENCH_QUICK === '1';
const rng = new Rng(11);
const rand = randomArrays(rng);

interface Shape { name: string; x: [number, number, number, number]; w: [number, number, number, number]; opts: Conv2dOptions }
const SHAPES: Shape[] = [
  { name: 'R20 stem 3→16 32×32 3×3 p1', x: [32, 3, 32, 32], w: [16, 3, 3, 3], opts: { padding: 1 } },
  { name: 'R20 16→16 32×32 3×3 p1', x: [32, 16, 32, 32], w: [16, 16, 3, 3], opts: { padding: 1 } },
  { name: 'R20 16→32 32×32 3×3 s2 p1', x: [32, 16, 32, 32], w: [32, 16, 3, 3], opts: { padding: 1, stride: 2 } },
  { name: 'R20 32→32 16×16 3×3 p1', x: [32, 32, 16, 16], w: [32, 32, 3, 3], opts: { padding: 1 } },
  { name: 'R20 32→64 16×16 3×3 s2 p1', x: [32, 32, 16, 16], w: [64, 32, 3, 3], opts: { padding: 1, stride: 2 } },
  { name: 'R20 64→64 8×8 3×3 p1', x: [32, 64, 8, 8], w: [64, 64, 3, 3], opts: { padding: 1 } },
  { name: '1×1 s2 16→32 (ResNet-B shortcut)', x: [32, 16, 32, 32], w: [32, 16, 1, 1], opts: { stride: 2 } },
  { name: 'LeNet 1→6 28×28 5×5 p2', x: [64, 1, 28, 28], w: [6, 1, 5, 5], opts: { padding: 2 } },
  { name: 'LeNet 6→16 14×14 5×5', x: [64, 6, 14, 14], w: [16, 6, 5, 5], opts: {} },
];

/** PyTorch conv GFLOP/s and model images/s at `threads`, or undefined when torch is missing. */
function torchRun(threads: number): { conv: Record<string, [number, number]>; models: Record<string, number> } | undefined {
  const script = String.raw`
import sys, json, time, torch, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(int(sys.argv[1]))
shapes = json.loads(sys.argv[2])
def secs(fn, t=0.6):
    fn(); fn()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < t:
        fn(); n += 1
    return (time.perf_counter() - t0) / n
conv = {}
for s in shapes:
    x = torch.randn(*s['x'], requires_grad=True); w = torch.randn(*s['w'], requires_grad=True)
    o = s['opts']; st = o.get('stride', 1); p = o.get('padding', 0)
    fl = 2 * s['x'][0] * s['w'][0] * s['w'][1] * s['w'][2] * s['w'][3]
    with torch.no_grad():
        y = F.conv2d(x, w, None, st, p)
    fl *= y.shape[2] * y.shape[3]
    dy = torch.randn_like(y)
    with torch.no_grad():
        tf = secs(lambda: F.conv2d(x, w, None, st, p))
    def fb():
        x.grad = None; w.grad = None
        F.conv2d(x, w, None, st, p).backward(dy)
    tb = secs(fb)
    conv[s['name']] = [fl / tf / 1e9, 3 * fl / tb / 1e9]
class Block(nn.Module):
    def __init__(s, i, o, st):
        super().__init__()
        s.c1 = nn.Conv2d(i, o, 3, st, 1, bias=False); s.b1 = nn.BatchNorm2d(o)
        s.c2 = nn.Conv2d(o, o, 3, 1, 1, bias=False); s.b2 = nn.BatchNorm2d(o)
        s.pad = o // 4 if st != 1 or i != o else None
    def forward(s, x):
        y = s.b2(s.c2(F.relu(s.b1(s.c1(x)))))
        # Option-A shortcut (parameter-free), as nn/models/resnet_cifar.ts.
        sc = x if s.pad is None else F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, s.pad, s.pad))
        return F.relu(y + sc)
class R20(nn.Module):
    def __init__(s):
        super().__init__()
        s.c = nn.Conv2d(3, 16, 3, 1, 1, bias=False); s.b = nn.BatchNorm2d(16)
        L, i = [], 16
        for o, st in [(16, 1), (32, 2), (64, 2)]:
            for k in range(3):
                L.append(Block(i, o, st if k == 0 else 1)); i = o
        s.L = nn.Sequential(*L); s.fc = nn.Linear(64, 10)
    def forward(s, x):
        return s.fc(F.adaptive_avg_pool2d(s.L(F.relu(s.b(s.c(x)))), 1).flatten(1))
class LeNet(nn.Module):
    def __init__(s):
        super().__init__()
        s.c1 = nn.Conv2d(1, 6, 5, padding=2); s.c2 = nn.Conv2d(6, 16, 5)
        s.f1 = nn.Linear(400, 120); s.f2 = nn.Linear(120, 84); s.f3 = nn.Linear(84, 10)
    def forward(s, x):
        x = F.max_pool2d(F.relu(s.c1(x)), 2); x = F.max_pool2d(F.relu(s.c2(x)), 2)
        return s.f3(F.relu(s.f2(F.relu(s.f1(x.flatten(1))))))
models = {}
for name, net, shape in [('resnet20', R20(), (32, 3, 32, 32)), ('lenet5', LeNet(), (64, 1, 28, 28))]:
    x = torch.randn(*shape); y = torch.arange(shape[0]) % 10
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    def step():
        opt.zero_grad(); F.cross_entropy(net(x), y).backward(); opt.step()
    models[name] = shape[0] / secs(step, 2.0)
print(json.dumps({'conv': conv, 'models': models, 'version': torch.__version__}))
`;
  const r = spawnSync('/usr/bin/python3', ['-c', script, String(threads), JSON.stringify(SHAPES)], { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) {
    console.error(`PyTorch peer skipped (threads=${threads}): ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`);
    return undefined;
  }
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as { conv: Record<string, [number, number]>; models: Record<string, number> };
}

const t = QUICK ? 300 : 1000;
// NOTE: this bench has always warmed up for at most 200 ms.
const timing = (timeMs: number, iterations: number): TimingOptions => ({ timeMs, iterations, warmupMs: Math.min(200, timeMs / 2) });
const rows: string[] = [];
setConvThreads(1);
setGemmThreads(1);
const load0 = loadavg()[0];
for (const s of SHAPES) {
  const g = conv2dGeometry(s.x, s.w, s.opts);
  const gr = conv2dGeometry([2, s.x[1], s.x[2], s.x[3]], s.w, s.opts);
  const fl = convFlops(g), flr = convFlops(gr);
  setConvWasm(true);
  const wasm = convWork(g, convKernels('cpu'), rand, false);
  const wf = gflops(fl, await seconds(`wasm fwd ${s.name}`, wasm.fwd, timing(t, 5)));
  const wb = gflops(3 * fl, await seconds(`wasm fwd+bwd ${s.name}`, wasm.fwdBwd, timing(t, 5)));
  setConvWasm(false);
  const ts = convWork(g, convKernels('cpu'), rand, false);
  const tf = gflops(fl, await seconds(`ts fwd ${s.name}`, ts.fwd, timing(t, 3)));
  const tb = gflops(3 * fl, await seconds(`ts fwd+bwd ${s.name}`, ts.fwdBwd, timing(t, 3)));
  setConvWasm(true);
  const ref = convWork(gr, convKernels('reference'), rand, false);
  const rf = gflops(flr, await seconds(`ref fwd ${s.name}`, ref.fwd, timing(t / 2, 2)));
  const rb = gflops(3 * flr, await seconds(`ref fwd+bwd ${s.name}`, ref.fwdBwd, timing(t / 2, 2)));
  rows.push(`${s.name}|${wf}|${wb}|${tf}|${tb}|${rf}|${rb}`);
}

const models: { name: string; batch: number; wasm: number; wasm2: number; ts: number }[] = [];
for (const [name, batch, steps] of [['resnet20', 32, QUICK ? 2 : 5], ['lenet5', 64, QUICK ? 5 : 30]] as const) {
  setConvThreads(1);
  setGemmThreads(1);
  setConvWasm(true);
  const w = benchModel(name, 'train', batch, steps).imagesPerSecond;
  setConvWasm(false);
  const ts = benchModel(name, 'train', batch, steps).imagesPerSecond;
  setConvWasm(true);
  setConvThreads(2);
  setGemmThreads(2);
  const w2 = benchModel(name, 'train', batch, steps).imagesPerSecond;
  models.push({ name, batch, wasm: w, wasm2: w2, ts });
}
setConvThreads(undefined);
setGemmThreads(undefined);
await shutdownConvThreads();
await shutdownThreads();
const load1 = loadavg()[0];

const torch1 = QUICK ? undefined : torchRun(1);
const torch2 = QUICK ? undefined : torchRun(2);
const load2 = loadavg()[0];

const f = (v: number | undefined): string => (v === undefined ? '–' : v.toFixed(1));
console.log(`node ${process.version}, ${process.platform}/${process.arch}; kernel rows single thread; 1-min load average ${load0.toFixed(2)} (start) → ${load1.toFixed(2)} (after ec2t) → ${load2.toFixed(2)} (after PyTorch)\n`);
console.log('GFLOP/s, forward / forward+backward (fwd+bwd counted as 3× forward FLOPs); N=32 (ResNet-20), N=64 (LeNet-5); reference at N=2\n');
console.log('| shape | WASM conv fwd | WASM fwd+bwd | TS im2col fwd | TS fwd+bwd | WASM/TS fwd+bwd | reference fwd+bwd | PyTorch 1T fwd / fwd+bwd | PyTorch 2T fwd / fwd+bwd |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  const [name, ...v] = r.split('|');
  const [wf, wb, tf, tb, , rb] = v.map(Number);
  const p1 = torch1?.conv[name], p2 = torch2?.conv[name];
  console.log(`| ${name} | ${f(wf)} | ${f(wb)} | ${f(tf)} | ${f(tb)} | ${(wb / tb).toFixed(1)}× | ${rb.toFixed(2)} | ${f(p1?.[0])} / ${f(p1?.[1])} | ${f(p2?.[0])} / ${f(p2?.[1])} |`);
}
console.log('\nTraining step (SGD momentum), images/s:\n');
console.log('| model | batch | ec2t TS conv, 1T | ec2t WASM conv, 1T | ec2t WASM conv, 2T | PyTorch 1T | PyTorch 2T | ec2t/PyTorch 1T | ec2t/PyTorch 2T |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const m of models) {
  const p1 = torch1?.models[m.name], p2 = torch2?.models[m.name];
  const r = (a: number, b: number | undefined): string => (b === undefined ? '–' : `${(a / b).toFixed(2)}×`);
  console.log(`| ${m.name} | ${m.batch} | ${f(m.ts)} | ${f(m.wasm)} | ${f(m.wasm2)} | ${f(p1)} | ${f(p2)} | ${r(m.wasm, p1)} | ${r(m.wasm2, p2)} |`);
}
