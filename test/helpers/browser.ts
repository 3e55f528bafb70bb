/**
 * Real-browser tests: launch the system Chromium through playwright-core, serve esbuild bundles of
 * test pages from a tiny node:http server (one origin, a cross-origin-isolated half and a plain
 * half), and call the functions a page publishes.
 *
 * A page entry (test/browser/pages/*.page.ts) sets `globalThis.ec2tPage` to an object of async
 * functions; {@link callPage} runs one of them with JSON-able arguments and returns its result.
 * Chromium that cannot start, a bundle that does not build, or a page that throws at load all fail
 * the test with the reason: a browser test never skips silently.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type Browser, type Page, chromium } from 'playwright-core';

/** The Chromium binary the browser tests drive: `EC2T_CHROMIUM`, else Debian's `/usr/bin/chromium`. */
export const CHROMIUM = process.env.EC2T_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Flags for headless Chromium. WebGL2 runs on SwiftShader (software) when there is no GPU; WebGPU is
 * behind `--enable-unsafe-webgpu` on Linux, which then offers a SwiftShader adapter too.
 */
export const CHROMIUM_ARGS = ['--enable-unsafe-webgpu', '--ignore-gpu-blocklist'];

/**
 * Launches headless Chromium, or throws an Error saying which binary failed and why (never a skip).
 * @example const browser = await launchChromium(); try { ... } finally { await browser.close(); }
 */
export async function launchChromium(): Promise<Browser> {
  try {
    return await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
  } catch (e) {
    const why = (e as Error).message.split('\n').filter((l) => l.trim() !== '').slice(0, 4).join(' | ');
    throw new Error(`Chromium could not start from ${CHROMIUM} (set EC2T_CHROMIUM, or apt-get install chromium): ${why}`);
  }
}

/** One file the test server sends. */
export interface ServedFile {
  readonly body: string | Uint8Array;
  readonly type: string;
}

/** The test server: every file is reachable under `/isolated/` (COOP + COEP sent) and `/plain/` (neither). */
export interface TestServer {
  /** `http://127.0.0.1:PORT`: a secure context, as localhost is. */
  readonly origin: string;
  /** Adds or replaces a file, served under both halves. */
  put(name: string, file: ServedFile): void;
  close(): Promise<void>;
}

/**
 * Starts a static server on a loopback port. Under `/isolated/` each response carries
 * `Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy: require-corp`, so a
 * page there is `crossOriginIsolated` (SharedArrayBuffer, worker threads); under `/plain/` it is not.
 * @example const server = await startTestServer({ 'page.js': { body: js, type: 'text/javascript' } });
 */
export async function startTestServer(files: Record<string, ServedFile> = {}): Promise<TestServer> {
  const served = new Map(Object.entries(files));
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const m = /^\/(isolated|plain)\/(.+)$/.exec(path);
    const file = m ? served.get(m[2]) : undefined;
    if (m === null || file === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}`);
      return;
    }
    const headers: Record<string, string> = {
      'content-type': file.type,
      'cache-control': 'no-store',
      'cross-origin-resource-policy': 'same-origin',
    };
    if (m[1] === 'isolated') {
      headers['cross-origin-opener-policy'] = 'same-origin';
      headers['cross-origin-embedder-policy'] = 'require-corp';
    }
    res.writeHead(200, headers).end(file.body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    put: (name, file) => void served.set(name, file),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** dist/test/browser/pages/, where tsc puts the compiled page entries. */
export const PAGES_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'browser', 'pages');

/**
 * Bundles a compiled page entry (`name` under {@link PAGES_DIR}, e.g. `gpujs.page.js`) for the
 * browser with esbuild: ESM, `browser` conditions (so `#platform` and gpu.js pick their browser
 * builds), no minification (stack traces stay readable).
 * @example const js = await bundlePage('gpujs.page.js');
 */
export async function bundlePage(name: string): Promise<string> {
  const result = await build({
    entryPoints: [join(PAGES_DIR, name)],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  }).catch((e: Error) => {
    throw new Error(`esbuild could not bundle the test page ${name} for the browser: ${e.message.split('\n').slice(0, 6).join(' | ')}`);
  });
  return result.outputFiles[0].text;
}

/** An HTML page that loads `script` as a module. */
export function pageHtml(script: string): ServedFile {
  return { type: 'text/html', body: `<!doctype html><meta charset="utf-8"><title>ec2t test</title><script type="module" src="${script}"></script>` };
}

/**
 * Opens `url` in a new page and waits until its module has published `globalThis.ec2tPage`; an
 * error thrown while the page loads fails with the page's own message.
 * @example const page = await openPage(browser, `${server.origin}/plain/gpujs.html`);
 */
export async function openPage(browser: Browser, url: string): Promise<Page> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.goto(url);
  try {
    await page.waitForFunction(() => (globalThis as { ec2tPage?: unknown }).ec2tPage !== undefined, undefined, { timeout: 30_000 });
  } catch (e) {
    throw new Error(`the page ${url} never published ec2tPage: ${errors.join(' | ') || (e as Error).message.split('\n')[0]}`);
  }
  return page;
}

/**
 * Runs `ec2tPage[name](...args)` in the page and returns its (JSON-able) result.
 * @example const out = await callPage<number[]>(page, 'matmul', [a, b, geometry]);
 */
export async function callPage<T>(page: Page, name: string, args: readonly unknown[] = []): Promise<T> {
  return (await page.evaluate(
    async ([fn, a]) => {
      const api = (globalThis as unknown as { ec2tPage: Record<string, (...x: unknown[]) => Promise<unknown>> }).ec2tPage;
      if (typeof api[fn] !== 'function') throw new Error(`the page publishes no function ${fn}`);
      return api[fn](...a);
    },
    [name, args] as const,
  )) as T;
}
