/**
 * The backend settings (kernels/settings.ts): one precedence rule (API > flag > environment >
 * default) that the families read, malformed `EC2T_*` values as one-line errors naming the
 * variable, and a kernel trace that names the implementation that ran.
 */
import assert from 'node:assert/strict';
import { after, afterEach, describe, test } from 'node:test';
import '../../kernels/index.js';
import { ValueError } from '../../base/errors.js';
import { formatKernelTrace } from '../../kernels/calibrate.js';
import { setConvWasm } from '../../kernels/cpu/conv.js';
import { unaryCpu } from '../../kernels/cpu/elementwise.js';
import { setElementwiseWasm } from '../../kernels/wasm/elementwise.js';
import { getBackend, kernel, kernelTrace, setBackend, setKernelTrace } from '../../kernels/registry.js';
import { ENV_VARS, backendSettings, parseBackendEnv, resetBackendSettings, setBackendFlags, setBackendSettings, settingSource } from '../../kernels/settings.js';
import { setTernarySimd, ternaryConv2dCpu } from '../../kernels/ternary/cpu.js';
import { ternaryLayerFromAssignment } from '../../kernels/ternary/layer.js';
import { shutdownTernaryThreads, ternarySimdAvailable, ternaryThreads } from '../../kernels/ternary/simd.js';
import { conv2dGeometry } from '../../kernels/types.js';
import { setConvThreads, shutdownConvThreads, wasmConvAvailable } from '../../kernels/wasm/conv.js';
import { useFma } from '../../kernels/wasm/gemm.js';
import { gemmThreads, setGemmThreads } from '../../kernels/wasm/threaded-gemm.js';
import { relaxedSimdSupported } from '../../kernels/wasm/assembler.js';
import { ec2t } from '../helpers/cli.js';

/** Runs `body` with `vars` set in process.env (and re-read by the settings), then restores both. */
function withEnv(vars: Record<string, string>, body: () => void): void {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  try {
    Object.assign(process.env, vars);
    resetBackendSettings();
    body();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    resetBackendSettings();
  }
}

afterEach(() => {
  setKernelTrace(false); // also empties the trace a failed test left behind
  resetBackendSettings();
});
after(async () => {
  await shutdownConvThreads();
  await shutdownTernaryThreads();
});

describe('precedence: API > flag > environment > default', () => {
  test('threads: each level hides the ones below it, and clearing it shows them again; the families read the result', () => {
    withEnv({ EC2T_THREADS: '3' }, () => {
      assert.equal(backendSettings().threads, 3);
      assert.equal(settingSource('threads'), 'env');
      assert.equal(gemmThreads(), 3);
      setBackendFlags({ threads: 5 });
      assert.equal(settingSource('threads'), 'flag');
      assert.equal(gemmThreads(), 5);
      assert.equal(ternaryThreads(), 5);
      setGemmThreads(7);
      assert.equal(settingSource('threads'), 'api');
      assert.equal(gemmThreads(), 7);
      // A flag set after the API call still ranks below it.
      setBackendFlags({ threads: 6 });
      assert.equal(gemmThreads(), 7);
      setGemmThreads(undefined);
      assert.equal(gemmThreads(), 6);
      setBackendFlags({ threads: undefined });
      assert.equal(gemmThreads(), 3);
    });
    assert.equal(settingSource('threads'), process.env.EC2T_THREADS === undefined ? 'default' : 'env');
  });

  test('backend: EC2T_BACKEND < --backend < setBackend', () => {
    withEnv({ EC2T_BACKEND: 'reference' }, () => {
      assert.equal(getBackend(), 'reference');
      setBackendFlags({ backend: 'cpu' });
      assert.equal(getBackend(), 'cpu');
      setBackend('auto');
      assert.equal(getBackend(), 'auto');
      assert.equal(settingSource('backend'), 'api');
    });
  });

  test('switches: EC2T_WASM_FMA=0 is overridden by the API; default is on', () => {
    assert.equal(backendSettings().fma, process.env.EC2T_WASM_FMA !== '0');
    withEnv({ EC2T_WASM_FMA: '0', EC2T_WASM_PACK_B: '1' }, () => {
      assert.equal(backendSettings().fma, false);
      assert.equal(backendSettings().packB, 'pack');
      setBackendSettings({ fma: true });
      assert.equal(backendSettings().fma, true);
    });
  });

  test('command line: EC2T_BACKEND holds unless --backend is written (its default does not hide the variable)', () => {
    const run = (extra: string[]): unknown => {
      const r = ec2t(['bench', '--model', 'lenet5', '--mode', 'infer', '--batch-size', '1', '--steps', '1', '--json', ...extra], { EC2T_BACKEND: 'reference' });
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout) as { backend: unknown }).backend;
    };
    assert.equal(run([]), 'reference');
    assert.equal(run(['--backend', 'cpu']), 'cpu');
  });

  test('a bad value given through the API or a flag is a ValueError naming the level and setting', () => {
    assert.throws(() => setBackendSettings({ threads: 0 }), (e: unknown) => e instanceof ValueError && /^setBackendSettings threads: /.test(e.message));
    assert.throws(() => setBackendFlags({ backend: 'tpu' as 'cpu' }), (e: unknown) => e instanceof ValueError && /^flag backend: 'tpu' is not a backend/.test(e.message));
  });
});

describe('a malformed environment variable is a one-line ValueError naming it', () => {
  const BAD: Record<string, string> = {
    EC2T_BACKEND: 'tpu', EC2T_THREADS: '0', EC2T_WASM: 'yes', EC2T_WASM_ELEMENTWISE: 'off', EC2T_TERNARY_WASM: '2',
    EC2T_WASM_FMA: 'true', EC2T_WASM_PACK_B: 'always', EC2T_CALIBRATE: 'on', EC2T_TRACE_KERNELS: 'y',
  };
  for (const [name, value] of Object.entries(BAD)) {
    test(`${name}=${value}`, () => {
      assert.throws(() => parseBackendEnv({ [name]: value }), (e: unknown) => e instanceof ValueError && e.op === name && e.message.startsWith(`${name}: `) && !e.message.includes('\n'));
    });
  }
  test('every variable of ENV_VARS that takes a fixed form is checked above', () => {
    const free = new Set(['EC2T_GPUJS_MODE', 'EC2T_CALIBRATION_FILE']);
    assert.deepEqual(Object.values(ENV_VARS).filter((v) => !free.has(v)).sort(), Object.keys(BAD).sort());
  });
  test('empty means unset', () => {
    assert.deepEqual(parseBackendEnv({ EC2T_THREADS: '', EC2T_WASM: '' }), {});
  });
  test('read through process.env at first use, and by the command line as one line naming the variable', () => {
    withEnv({ EC2T_THREADS: '65' }, () => {
      // resetBackendSettings() already re-read it: a fresh read throws.
      assert.throws(() => backendSettings(), (e: unknown) => e instanceof ValueError && /^EC2T_THREADS: expected an integer thread count in 1\.\.64, got '65'/.test(e.message));
    });
    const r = ec2t(['bench', '--model', 'lenet5', '--mode', 'infer', '--batch-size', '1', '--steps', '1'], { EC2T_WASM: 'yes' });
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "ec2t bench: EC2T_WASM: expected 0 or 1, got 'yes'; unset it or set e.g. EC2T_WASM=0\n");
  });
});

describe('the kernel trace names the implementation that ran', () => {
  // 8 samples of a 16→16 3×3 conv on 32×32: 2·8·16·32·32·16·9 ≈ 38 MFLOPs, above the one-thread cut-off.
  const g = conv2dGeometry([8, 16, 32, 32], [16, 16, 3, 3], { padding: 1 });
  const x = new Float32Array(8 * 16 * 32 * 32).fill(0.5);
  const w = new Float32Array(16 * 16 * 9).fill(0.25);
  const out = new Float32Array(8 * 16 * 32 * 32);

  test('dense conv: registry backend, then WebAssembly with its thread count, or the TypeScript fallback', (t) => {
    if (!wasmConvAvailable()) return t.skip('no WebAssembly SIMD here');
    setKernelTrace(true);
    setBackend('cpu');
    setConvThreads(2);
    kernel('conv2dForward')(x, w, null, out, g);
    setConvWasm(false);
    kernel('conv2dForward')(x, w, null, out, g);
    // The generated modules use relaxed-SIMD FMA unless the `fma` setting is off or the runtime lacks it.
    const simd = useFma() ? 'wasm-simd fma' : 'wasm-simd';
    assert.deepEqual(kernelTrace(), {
      'conv2dForward: typescript im2col+gemm': 1,
      [`conv2dForward: ${simd}, 2 threads`]: 1,
      'conv2dForward@cpu': 2,
      // The TypeScript conv lowers onto the GEMM, which reports its own choice (16×1024×144 stays on one thread).
      [`gemm: ${simd}, 1 thread`]: 8,
    });
    assert.match(formatKernelTrace(kernelTrace()), new RegExp(`\\nconv2dForward\\s+cpu\\s+2\\nconv2dForward\\s+> typescript im2col\\+gemm\\s+1\\nconv2dForward\\s+> ${simd}, 2 threads\\s+1\\n`));
    setKernelTrace(false);
    assert.deepEqual(kernelTrace(), {});
  });

  test('ternary conv: wasm SIMD with its thread count, or the TypeScript loops', (t) => {
    if (!ternarySimdAvailable()) return t.skip('no WebAssembly SIMD here');
    const assignment = new Int8Array(16 * 16 * 9).map((_, i) => ((i % 3) - 1) as -1 | 0 | 1);
    const layer = ternaryLayerFromAssignment(assignment, [16, 16, 3, 3], 0.5, 0.25);
    setKernelTrace(true);
    setBackendSettings({ ternaryThreads: 1, ternaryJit: 'off' });
    ternaryConv2dCpu(x, layer, null, out, g);
    setTernarySimd(false);
    ternaryConv2dCpu(x, layer, null, out, g);
    assert.deepEqual(kernelTrace(), { 'ternaryConv2d: typescript': 1, 'ternaryConv2d: wasm-simd generic, 1 thread': 1 });
    setKernelTrace(false);
  });

  test('elementwise: WebAssembly or TypeScript, per call', (t) => {
    setKernelTrace(true);
    if (!setElementwiseWasm(true)) return t.skip('no WebAssembly SIMD here');
    const v = new Float32Array(1024).fill(-1);
    unaryCpu('relu', v, new Float32Array(1024));
    unaryCpu('exp', v, new Float32Array(1024)); // no WASM loop for exp
    setElementwiseWasm(false);
    unaryCpu('relu', v, new Float32Array(1024));
    assert.deepEqual(kernelTrace(), { 'unary: typescript': 2, 'unary: wasm-simd': 1 });
  });

  test('EC2T_TRACE_KERNELS=1 on the command line prints the implementation under its backend', () => {
    const r = ec2t(['bench', '--model', 'lenet5', '--mode', 'infer', '--batch-size', '2', '--steps', '1', '--backend', 'cpu'], { EC2T_TRACE_KERNELS: '1', EC2T_WASM: '' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /\nconv2dForward\s+cpu\s+\d+\nconv2dForward\s+> (wasm-simd( fma)?, 1 thread|typescript im2col\+gemm)\s+\d+\n/);
  });

  test('FMA without a command-line flag where the runtime has relaxed SIMD (Node 20 included); EC2T_WASM_FMA=0 turns it off', (t) => {
    if (!wasmConvAvailable()) return t.skip('no WebAssembly SIMD here');
    const args = ['bench', '--model', 'lenet5', '--mode', 'infer', '--batch-size', '2', '--steps', '1', '--backend', 'cpu'];
    const on = ec2t(args, { EC2T_TRACE_KERNELS: '1', EC2T_WASM: '', EC2T_WASM_FMA: '' });
    assert.equal(on.code, 0, on.stderr);
    // relaxedSimdSupported() turns V8's flag on in this process too, so it answers for the child as well.
    assert.match(on.stderr, relaxedSimdSupported() ? /\nconv2dForward\s+> wasm-simd fma, 1 thread\s+\d+\n/ : /\nconv2dForward\s+> wasm-simd, 1 thread\s+\d+\n/);
    const off = ec2t(args, { EC2T_TRACE_KERNELS: '1', EC2T_WASM: '', EC2T_WASM_FMA: '0' });
    assert.equal(off.code, 0, off.stderr);
    assert.match(off.stderr, /\nconv2dForward\s+> wasm-simd, 1 thread\s+\d+\n/);
    assert.doesNotMatch(off.stderr, /fma/);
  });
});
