/**
 * The packed ResNet-20 runtime in headless Chromium against the same runtime in Node, on the same
 * machine and file (random ternary weights at 65 % sparsity, seeded: test/ec2t/ternary-fixture.ts):
 * images/s at batch 1 and 32, threads on and off. Chromium runs in a fresh Web Worker on a
 * cross-origin-isolated page (threads need both; see test/browser/runtime.test.ts), with
 * `threads` pool threads; Node with the same thread count. Default backend settings on both sides
 * (Chromium then uses relaxed-SIMD FMA, which Node 20 does not validate). Each cell is the best of
 * `--rounds` rounds of at least `--seconds` seconds, Node and Chromium interleaved. Prints a
 * markdown table.
 *
 *   npx tsc -p . && node dist/bench/browser-runtime.bench.js [--threads 2] [--rounds 3] [--seconds 2]
 */
import { packModel } from '../ec2t/export.js';
import { setBackendSettings } from '../kernels/settings.js';
import { preparePool } from '../kernels/wasm/worker-pool.js';
import { bundlePage, callPage, CHROMIUM, launchChromium, openPage, pageHtml, startTestServer } from '../test/helpers/browser.js';
import { type RuntimeSpeed, type Shape, runtimeSpeed } from '../test/browser/pages/runtime.js';
import { ternaryFixture } from '../test/ec2t/ternary-fixture.js';
import { markdownTable } from './util.js';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const THREADS = arg('--threads', 2);
const ROUNDS = arg('--rounds', 3);
const SECONDS = arg('--seconds', 2);

const bytes = packModel('resnet20', {}, ternaryFixture('resnet20', { seed: 7, sparsity: 0.65 }).stateDict).bytes;
const browser = await launchChromium();
const server = await startTestServer({
  'runtime.js': { body: await bundlePage('runtime.page.js'), type: 'text/javascript' },
  'runtime-worker.js': { body: await bundlePage('runtime-worker.page.js'), type: 'text/javascript' },
  'runtime.html': pageHtml('runtime.js'),
  'resnet20.ec2t.safetensors': { body: bytes, type: 'application/octet-stream' },
});
try {
  const page = await openPage(browser, `${server.origin}/isolated/runtime.html`);
  const version = browser.version();
  const rows: string[][] = [];
  for (const batch of [1, 32]) {
    for (const threads of [1, THREADS]) {
      const shape: Shape = [batch, 3, 32, 32];
      let node: RuntimeSpeed | undefined;
      let chromium: RuntimeSpeed | undefined;
      for (let r = 0; r < ROUNDS; r++) {
        setBackendSettings({ threads });
        await preparePool(threads);
        const n = runtimeSpeed(bytes, shape, SECONDS);
        if (node === undefined || n.imagesPerSecond > node.imagesPerSecond) node = n;
        const c = await callPage<RuntimeSpeed>(page, 'speed', ['resnet20.ec2t.safetensors', shape, threads, SECONDS]);
        if (threads > 1 && c.workers === 0) throw new Error('Chromium started no pool worker: the threads-on row would measure one thread');
        if (chromium === undefined || c.imagesPerSecond > chromium.imagesPerSecond) chromium = c;
      }
      const n = node as RuntimeSpeed;
      const c = chromium as RuntimeSpeed;
      rows.push([String(batch), threads > 1 ? `on (${threads})` : 'off (1)', n.imagesPerSecond.toFixed(1), c.imagesPerSecond.toFixed(1), (c.imagesPerSecond / n.imagesPerSecond).toFixed(2)]);
      console.error(`batch ${batch}, threads ${threads}: Node ${n.imagesPerSecond.toFixed(1)} img/s, Chromium ${c.imagesPerSecond.toFixed(1)} img/s`);
    }
  }
  console.log(`ResNet-20 packed (65 % sparse), Node ${process.version} vs Chromium ${version} (${CHROMIUM}, headless, Web Worker on a COOP/COEP page); best of ${ROUNDS} rounds of >= ${SECONDS} s\n`);
  console.log(markdownTable(['batch', 'threads', 'Node img/s', 'Chromium img/s', 'Chromium / Node'], rows, 'rrrrr'));
} finally {
  await browser.close();
  await server.close();
  setBackendSettings({ threads: undefined });
}
process.exit(0);
