/**
 * The EC2T Lab in headless Chromium, as a learner uses it: the page loads with no console error,
 * 200 training steps reach ≥ 90% on the held-out images, a larger γ gives a sparser ternary model,
 * a digit drawn with the mouse from an MNIST test image is classified correctly by both models, the
 * controls are reachable by keyboard and the layout holds at 1280×800 and 390×844. Screenshots of
 * each stage go to test-artifacts/lab/ (or EC2T_TEST_ARTIFACTS): look at them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import type { Page } from 'playwright-core';
import { embeddedMnistDir, loadMnist } from '../../datasets/mnist.js';
import { buildLab } from '../../lab/build.js';
import { serveLab } from '../../lab/server.js';
import { launchChromium } from '../helpers/browser.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const ARTIFACTS = process.env.EC2T_TEST_ARTIFACTS !== undefined ? join(process.env.EC2T_TEST_ARTIFACTS, 'lab') : join(ROOT, 'test-artifacts', 'lab');

async function setRange(page: Page, id: string, value: number): Promise<void> {
  // Page code as strings: this file is compiled without the DOM library.
  await page.evaluate(`(() => { const el = document.getElementById(${JSON.stringify(id)}); el.value = '${value}'; el.dispatchEvent(new Event('input', { bubbles: true })); })()`);
}

async function ternarize(page: Page, gain: number): Promise<{ sparsity: number; accuracy: number }> {
  await setRange(page, 'tern-gain', gain);
  await page.selectOption('#tern-images', '2000');
  await page.selectOption('#tern-epochs', '1');
  await page.selectOption('#tern-retrain', '0');
  await page.evaluate("delete document.getElementById('tern-result').dataset.sparsity");
  await page.click('#tern-start');
  await page.waitForFunction("document.getElementById('tern-result').dataset.sparsity !== undefined", undefined, { timeout: 300_000 });
  return page.evaluate<{ sparsity: number; accuracy: number }>("(() => { const d = document.getElementById('tern-result').dataset; return { sparsity: Number(d.sparsity), accuracy: Number(d.accuracy) }; })()");
}

/** Horizontal strokes over the rows of an MNIST digit's ink (pixels ≥ 128), in canvas pixels. */
function strokesOf(pixels: Uint8Array, cell: number): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  for (let y = 0; y < 28; y++) {
    let x = 0;
    while (x < 28) {
      if (pixels[y * 28 + x] < 128) {
        x++;
        continue;
      }
      const x0 = x;
      while (x < 28 && pixels[y * 28 + x] >= 128) x++;
      out.push([(x0 + 0.5) * cell, (x - 0.5) * cell, (y + 0.5) * cell]);
    }
  }
  return out;
}

test('lab/app type-checks against the library (strict, DOM)', () => {
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'lab', 'app', 'tsconfig.json')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('EC2T Lab in Chromium: train, ternarize, deploy, keyboard and layout', { timeout: 900_000 }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'ec2t-lab-'));
  mkdirSync(ARTIFACTS, { recursive: true });
  const files = await buildLab({ out: join(tmp, 'app') });
  assert.deepEqual(files.map((f) => f.name), ['index.html', 'main.js', 'style.css', 'worker.js']);
  const lab = await serveLab({ root: join(tmp, 'app'), dataDir: embeddedMnistDir() });
  const browser = await launchChromium();
  const errors: string[] = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()}`);
    });
    await page.goto(lab.url);
    assert.equal(await page.evaluate('crossOriginIsolated'), true, 'the server sends COOP/COEP');
    await page.waitForFunction("!document.getElementById('train-start').disabled", undefined, { timeout: 120_000 });
    await page.screenshot({ path: join(ARTIFACTS, '0-open.png') });

    // 1 · Train: 12,800 images at batch 64 = 200 steps, started from the keyboard.
    await page.selectOption('#train-images', '12800');
    await page.selectOption('#train-epochs', '1');
    await page.focus('#train-start');
    await page.keyboard.press('Enter');
    await page.waitForFunction("document.getElementById('train-result').dataset.heldout !== undefined", undefined, { timeout: 600_000 });
    const heldOut = Number(await page.getAttribute('#train-result', 'data-heldout'));
    assert.ok(heldOut >= 0.9, `held-out accuracy after 200 steps: ${heldOut}`);
    assert.match((await page.textContent('#train-result')) ?? '', /after 200 steps/);
    await page.locator('#train').screenshot({ path: join(ARTIFACTS, '1-train.png') });

    // 2 · Ternarize twice: γ = 0 (nearest neighbour) and γ = 0.3; the larger γ is sparser.
    const plain = await ternarize(page, 0);
    const sparse = await ternarize(page, 0.3);
    assert.ok(sparse.sparsity > plain.sparsity, `sparsity γ=0: ${plain.sparsity}, γ=0.3: ${sparse.sparsity}`);
    assert.equal(await page.locator('#layers figure.layer').count(), 4); // LeNet-5's ternarized layers
    assert.ok((await page.locator('#plane svg circle').count()) >= 2, 'the plane shows this run and the earlier one');
    await page.locator('#ternarize').screenshot({ path: join(ARTIFACTS, '2-ternarize.png') });

    // 3 · Deploy: the score table, the download, and a digit drawn with the mouse.
    assert.equal(await page.locator('#score tbody tr').count(), 6);
    const download = page.waitForEvent('download');
    await page.click('#download');
    const file = await (await download).path();
    assert.ok(file !== null);
    const digit = 0; // MNIST test image 0: a 7
    const test = loadMnist({ split: 'test' });
    const box = await page.locator('#pad').boundingBox();
    assert.ok(box !== null);
    const strokes = strokesOf(test.images.subarray(digit * 784, (digit + 1) * 784), box.width / 28);
    const before = Number((await page.getAttribute('#pad', 'data-classified')) ?? '0');
    for (const [x0, x1, y] of strokes) {
      await page.mouse.move(box.x + x0, box.y + y);
      await page.mouse.down();
      await page.mouse.move(box.x + x1, box.y + y, { steps: 3 });
      await page.mouse.up();
    }
    await page.waitForFunction(`Number(document.getElementById('pad').dataset.classified) >= ${before + strokes.length}`, undefined, { timeout: 60_000 });
    const label = String(test.labels[digit]);
    assert.equal(await page.getAttribute('#pred-float', 'data-digit'), label, `float model on the drawn ${label}: ${await page.textContent('#pred-float')}`);
    assert.equal(await page.getAttribute('#pred-ternary', 'data-digit'), label, `ternary model on the drawn ${label}: ${await page.textContent('#pred-ternary')}`);
    await page.locator('#deploy').screenshot({ path: join(ARTIFACTS, '3-deploy.png') });

    // Keyboard: every control is reached by Tab.
    await page.focus('body');
    const reached = new Set<string>();
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press('Tab');
      reached.add(await page.evaluate<string>("document.activeElement?.id ?? ''"));
    }
    for (const id of ['train-images', 'train-start', 'tern-method', 'tern-gain', 'tern-scale', 'tern-start', 'download', 'pad', 'pad-clear', 'pad-sample']) {
      assert.ok(reached.has(id), `#${id} is not reachable with Tab (reached: ${[...reached].join(', ')})`);
    }

    // Layout: nothing wider than the window at 1280×800 and at a phone's 390×844.
    for (const [w, h] of [[1280, 800], [390, 844]] as const) {
      await page.setViewportSize({ width: w, height: h });
      const width = await page.evaluate<number>('document.documentElement.scrollWidth');
      const wide = width <= w ? '' : await page.evaluate<string>(`[...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > ${w} + 0.5).slice(-6).map((e) => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).join(', ')`);
      assert.ok(width <= w, `page is ${width} px wide in a ${w} px window: ${wide}`);
      await page.screenshot({ path: join(ARTIFACTS, `4-layout-${w}x${h}.png`), fullPage: true });
      if (w < 800) for (const id of ['train', 'deploy']) await page.locator(`#${id}`).screenshot({ path: join(ARTIFACTS, `4-layout-${w}x${h}-${id}.png`) });
    }
    assert.deepEqual(errors, [], 'console errors');
  } finally {
    await browser.close();
    await lab.close();
    rmSync(tmp, { recursive: true, force: true });
  }
});
