/** Run reports: well-formed self-contained HTML carrying the numbers of the run folders; typed errors. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { FormatError } from '../../base/errors.js';
import { loadRun, loadRuns, renderReport, runLabel, runParams, writeReport } from '../../ec2t/report/index.js';
import { escapeXml, fmtNum, niceScale } from '../../ec2t/report/svg.js';
import type { EpochMetrics } from '../../ec2t/runfolder.js';
import { writeFixtureRun, writeFixtureSet } from './report-fixtures.js';

// ---------------------------------------------------------------- a minimal strict XML parser

interface XNode {
  name: string;
  attrs: Record<string, string>;
  children: XNode[];
  /** Concatenated, entity-decoded text directly inside this element. */
  text: string;
}

const ENTITY = /&(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);/y;

function decode(s: string, where: string): string {
  for (let i = s.indexOf('&'); i >= 0; i = s.indexOf('&', i + 1)) {
    ENTITY.lastIndex = i;
    if (!ENTITY.test(s)) throw new Error(`bad entity at ${where}: ${JSON.stringify(s.slice(i, i + 12))}`);
  }
  return s
    .replace(/&#x([0-9a-f]+);/gi, (_, h: string) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#([0-9]+);/g, (_, d: string) => String.fromCodePoint(Number(d)))
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

/** Parses the document strictly as XML (after an optional `<!DOCTYPE html>`): every tag closed, attributes quoted, entities valid. */
function parseXml(doc: string): XNode {
  let s = doc.replace(/^\s*<!DOCTYPE html>\s*/i, '');
  const root: XNode = { name: '#root', attrs: {}, children: [], text: '' };
  const stack: XNode[] = [root];
  const tag = /^<(\/?)([A-Za-z][\w:-]*)((?:\s+[A-Za-z_:][\w:.-]*="[^"<]*")*)\s*(\/?)>/;
  let pos = 0;
  while (s.length > 0) {
    const lt = s.indexOf('<');
    const text = lt < 0 ? s : s.slice(0, lt);
    if (text) stack[stack.length - 1].text += decode(text, `offset ${pos}`);
    if (lt < 0) break;
    s = s.slice(lt);
    pos += lt;
    const m = tag.exec(s);
    if (!m) throw new Error(`malformed tag at offset ${pos}: ${JSON.stringify(s.slice(0, 60))}`);
    const [all, close, name, attrText, selfClose] = m;
    if (close) {
      const top = stack.pop();
      if (!top || top.name !== name) throw new Error(`</${name}> at offset ${pos} closes <${top?.name}>`);
    } else {
      const attrs: Record<string, string> = {};
      for (const a of attrText.matchAll(/([A-Za-z_:][\w:.-]*)="([^"<]*)"/g)) {
        if (a[1] in attrs) throw new Error(`duplicate attribute ${a[1]} on <${name}> at offset ${pos}`);
        attrs[a[1]] = decode(a[2], `<${name} ${a[1]}>`);
      }
      const node: XNode = { name, attrs, children: [], text: '' };
      stack[stack.length - 1].children.push(node);
      if (!selfClose) stack.push(node);
    }
    s = s.slice(all.length);
    pos += all.length;
  }
  if (stack.length !== 1) throw new Error(`unclosed elements: ${stack.slice(1).map((n) => n.name).join(' > ')}`);
  if (root.children.length !== 1 || root.children[0].name !== 'html') throw new Error('expected one <html> root element');
  return root.children[0];
}

function all(node: XNode, pred: (n: XNode) => boolean, out: XNode[] = []): XNode[] {
  if (pred(node)) out.push(node);
  for (const c of node.children) all(c, pred, out);
  return out;
}

/** All text of a subtree, decoded. */
function textOf(node: XNode): string {
  return node.text + node.children.map(textOf).join(' ');
}

// ---------------------------------------------------------------- fixtures

const root = mkdtempSync(join(tmpdir(), 'ec2t-report-'));
after(() => rmSync(root, { recursive: true, force: true }));
const dirs = writeFixtureSet(join(root, 'runs'));

function lastMetrics(dir: string): EpochMetrics {
  const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as EpochMetrics;
}
const pct2 = (v: number): string => `${(v * 100).toFixed(2)}%`;

/** Checks every page invariant and returns the parsed document. */
function checkPage(html: string): XNode {
  const doc = parseXml(html);
  for (const bad of ['NaN', 'undefined', 'Infinity', 'null%', '[object Object]']) assert.ok(!html.includes(bad), `page contains ${bad}`);
  assert.ok(!/https?:|\/\/[a-z]/i.test(html), 'page references an external URL');
  assert.ok(!/<script|<link|<img|<iframe|@import|url\(/i.test(html), 'page loads or runs something');
  for (const a of all(doc, (n) => 'href' in n.attrs || 'src' in n.attrs)) assert.ok(a.attrs.href?.startsWith('#'), `non-local link ${JSON.stringify(a.attrs)}`);
  // ids unique, aria references resolve
  const ids = all(doc, (n) => 'id' in n.attrs).map((n) => n.attrs.id);
  assert.equal(new Set(ids).size, ids.length, 'duplicate ids');
  const idSet = new Set(ids);
  for (const svg of all(doc, (n) => n.name === 'svg' && n.attrs.class === 'chart')) {
    assert.equal(svg.attrs.role, 'img');
    assert.equal(svg.children[0]?.name, 'title', 'every chart starts with a <title>');
    assert.ok(svg.children[0].text.trim().length > 0);
    for (const ref of svg.attrs['aria-labelledby'].split(' ')) assert.ok(idSet.has(ref), `aria-labelledby ${ref} resolves`);
    // every coordinate attribute is a finite number
    for (const n of all(svg, () => true)) {
      for (const k of ['x', 'y', 'x1', 'x2', 'y1', 'y2', 'cx', 'cy', 'r', 'width', 'height']) {
        if (k in n.attrs) assert.ok(Number.isFinite(Number(n.attrs[k])), `<${n.name} ${k}="${n.attrs[k]}">`);
      }
    }
  }
  return doc;
}

// ---------------------------------------------------------------- tests

describe('report of several runs', () => {
  const out = join(root, 'all.html');
  const summary = writeReport(Object.values(dirs), out);
  const html = readFileSync(out, 'utf8');
  const doc = checkPage(html);
  const text = textOf(doc);

  test('writeReport returns what it wrote', () => {
    assert.equal(summary.outPath, out);
    assert.equal(summary.runs, 6);
    assert.equal(summary.bytes, Buffer.byteLength(html));
    assert.equal(summary.charts, all(doc, (n) => n.name === 'svg' && n.attrs.class === 'chart').length);
    assert.ok(summary.warnings.some((w) => w.includes('plain-train') && w.includes('accuracy-vs-sparsity')), summary.warnings.join('\n'));
  });

  test('carries the numbers of metrics.jsonl and summary.json', () => {
    for (const dir of Object.values(dirs)) {
      const last = lastMetrics(dir);
      assert.ok(text.includes(pct2(last.valAccuracy as number)), `final validation accuracy of ${dir}`);
      assert.ok(text.includes(pct2(last.trainAccuracy)), `final training accuracy of ${dir}`);
      for (const l of (last.layers ?? []) as Array<{ name: string }>) assert.ok(text.includes(l.name), `layer ${l.name}`);
    }
    const test = JSON.parse(readFileSync(join(dirs.ec2t, 'summary.json'), 'utf8')) as { accuracy: number };
    assert.ok(text.includes(`${pct2(test.accuracy)} (test (summary.json))`));
  });

  test('accuracy-versus-sparsity scatter: one labelled point per run with sparsity', () => {
    const scatter = all(doc, (n) => n.name === 'svg' && n.children[0]?.text === 'Accuracy versus sparsity');
    assert.equal(scatter.length, 1);
    const pts = all(scatter[0], (n) => n.name === 'g' && n.attrs.class === 'pt');
    assert.equal(pts.length, 5); // plain-train has no sparsity
    const labels = pts.map((p) => textOf(p));
    for (const l of ['EC2T γ=0.2 s=0.25', 'TTQ t=0.05', 'EC2T γ=0 s=0.25', 'EC2T γ=0.4']) assert.ok(labels.some((x) => x.includes(l)), `label ${l} in ${labels.join(' | ')}`);
  });

  test('phase boundary ec2t → frozen is marked in runs that have it', () => {
    const markers = all(doc, (n) => n.attrs.class === 'marker').map(textOf);
    assert.ok(markers.some((m) => m.includes('→ frozen')));
  });

  test('rendering is deterministic', () => {
    const runs = loadRuns(Object.values(dirs));
    assert.equal(renderReport(runs), renderReport(runs));
  });
});

describe('single-run reports', () => {
  test('one-epoch run renders single points, no NaN', () => {
    const html = renderReport([loadRun(dirs.one)]);
    const doc = checkPage(html);
    const acc = all(doc, (n) => n.name === 'svg' && n.children[0]?.text === 'Accuracy')[0];
    assert.ok(all(acc, (n) => n.name === 'circle').length >= 2, 'train and validation points drawn');
    assert.ok(!textOf(doc).includes('→ frozen'));
    assert.ok(textOf(doc).includes('fc1.weight'));
  });

  test('a fully sparse layer (zero = numel, centroids at the floor) shows 100% and its dead channels', () => {
    const doc = checkPage(renderReport([loadRun(dirs.fullySparse)]));
    const bars = all(doc, (n) => n.name === 'svg' && n.children[0]?.text.startsWith('Sparsity per layer'))[0];
    const t = textOf(bars);
    assert.ok(t.includes('fc2.weight') && t.includes('100.0% (10 ch.)'), t);
    // All of fc2's zeros are whole channels: its tooltip says so.
    assert.ok(t.includes('fc2.weight: removed channels 100.0%, removed single weights 0.0%'), t);
    // The boundary far outside the weights is drawn at the edge with its value.
    const hist = all(doc, (n) => n.name === 'svg' && n.children[0]?.text === 'Background weights of fc2.weight')[0];
    assert.ok(/boundary -?\d/.test(textOf(hist)), textOf(hist));
  });

  test('histogram figure: centroids, boundaries, zero band and a caption for learners', () => {
    const run = loadRun(dirs.ec2t);
    const doc = checkPage(renderReport([run]));
    const h = (run.histograms ?? [])[0];
    const svg = all(doc, (n) => n.name === 'svg' && n.children[0]?.text === `Background weights of ${h.name}`)[0];
    const tips = all(svg, (n) => n.name === 'title').map((n) => n.text);
    assert.ok(tips.includes(`−w_n = ${fmtNum(-h.wn)}`) && tips.includes(`+w_p = ${fmtNum(h.wp)}`) && tips.includes('0 = 0'), tips.join(' | '));
    assert.ok(tips.includes(`boundary = ${fmtNum(h.boundaries.negZero)}`) && tips.includes(`boundary = ${fmtNum(h.boundaries.zeroPos)}`));
    assert.ok(all(svg, (n) => n.attrs.class === 'band').length === 1);
    assert.equal(all(svg, (n) => n.name === 'rect' && n.attrs.fill === '#BBBBBB').length > 0, true, 'zero-assigned bins coloured');
    const cap = textOf(all(doc, (n) => n.name === 'figure' && n.attrs.class === 'featured')[0]);
    assert.ok(cap.includes('decision boundaries') && cap.includes('information content'));
  });

  test('plain train run: accuracy and loss only, with a note', () => {
    const doc = checkPage(renderReport([loadRun(dirs.plain)]));
    const titles = all(doc, (n) => n.name === 'svg' && n.attrs.class === 'chart').map((n) => n.children[0].text);
    assert.ok(titles.includes('Accuracy') && titles.includes('Loss'));
    assert.ok(!titles.some((t) => t.startsWith('Sparsity') || t.startsWith('Background')));
    assert.ok(textOf(doc).includes('no per-layer ternarization statistics'));
    assert.equal(runLabel(loadRun(dirs.plain)), 'TRAIN');
  });

  test('config and manifest become tables', () => {
    const doc = checkPage(renderReport([loadRun(dirs.ec2t)]));
    const tables = all(doc, (n) => n.name === 'table' && n.attrs.class === 'kv');
    const caps = tables.map((t) => textOf(t.children[0]));
    assert.deepEqual(caps, ['config.json', 'manifest.json', 'summary.json']);
    const cfg = textOf(tables[0]);
    assert.ok(cfg.includes('ec2t.initScale') && cfg.includes('optimizer.lr') && cfg.includes('resnet20'));
    assert.ok(textOf(tables[1]).includes('sha256:00ff'));
  });

  test('hostile names are escaped', () => {
    const dir = join(root, 'hostile');
    writeFixtureRun(dir, {
      ec2tEpochs: 2,
      layers: [{ name: '<script>alert("x")</script>&amp;', shape: [2, 2], sparsity: 0.5, dead: 0 }],
      config: { note: '</table><b>"\'&' },
      histograms: true,
    });
    const html = renderReport([loadRun(dir)]);
    const doc = checkPage(html);
    assert.ok(textOf(doc).includes('<script>alert("x")</script>&amp;'));
    assert.ok(textOf(doc).includes('</table><b>"\'&'));
  });
});

describe('errors name the file and the fault', () => {
  const broken = (name: string): string => {
    const dir = join(root, 'broken', name);
    writeFixtureRun(dir, { ec2tEpochs: 2 });
    return dir;
  };
  const throwsFormat = (fn: () => unknown, file: string, detail: RegExp): void => {
    assert.throws(fn, (e: unknown) => {
      assert.ok(e instanceof FormatError, `expected FormatError, got ${String(e)}`);
      assert.equal(e.file, file);
      assert.match(e.message, detail);
      return true;
    });
  };

  test('missing run folder (and it is not created)', () => {
    const dir = join(root, 'no-such-run');
    throwsFormat(() => writeReport([dir], join(root, 'x.html')), dir, /run folder not found/);
    assert.ok(!existsSync(dir));
    assert.ok(!existsSync(join(root, 'x.html')));
  });
  test('missing metrics.jsonl', () => {
    const dir = broken('no-metrics');
    unlinkSync(join(dir, 'metrics.jsonl'));
    throwsFormat(() => loadRun(dir), join(dir, 'metrics.jsonl'), /missing/);
  });
  test('malformed metrics.jsonl line', () => {
    const dir = broken('bad-line');
    writeFileSync(join(dir, 'metrics.jsonl'), '{"epoch":0,"phase":"ec2t"}\n{"epoch":1,\n');
    throwsFormat(() => loadRun(dir), join(dir, 'metrics.jsonl'), /line 2 is not valid JSON/);
  });
  test('empty metrics.jsonl', () => {
    const dir = broken('empty');
    writeFileSync(join(dir, 'metrics.jsonl'), '\n');
    throwsFormat(() => loadRun(dir), join(dir, 'metrics.jsonl'), /no epoch records/);
  });
  test('record without phase, layers with a wrong field', () => {
    const dir = broken('bad-fields');
    writeFileSync(join(dir, 'metrics.jsonl'), '{"epoch":0}\n');
    throwsFormat(() => loadRun(dir), join(dir, 'metrics.jsonl'), /no "phase"/);
    writeFileSync(join(dir, 'metrics.jsonl'), '{"epoch":0,"phase":"ec2t","layers":[{"name":"a","zero":"many"}]}\n');
    throwsFormat(() => loadRun(dir), join(dir, 'metrics.jsonl'), /layers\[0\] \(a\) field "zero" must be a number/);
  });
  test('missing, malformed or non-object config.json', () => {
    const dir = broken('config');
    unlinkSync(join(dir, 'config.json'));
    throwsFormat(() => loadRun(dir), join(dir, 'config.json'), /missing/);
    writeFileSync(join(dir, 'config.json'), '{"model": ');
    throwsFormat(() => loadRun(dir), join(dir, 'config.json'), /not valid JSON/);
    writeFileSync(join(dir, 'config.json'), '[1, 2]');
    throwsFormat(() => loadRun(dir), join(dir, 'config.json'), /expected a JSON object, got an array/);
  });
  test('malformed optional files: histograms.json, manifest.json', () => {
    const dir = broken('hist');
    writeFileSync(join(dir, 'histograms.json'), JSON.stringify({ layers: [{ name: 'a', bins: [1, 2], lo: 0, hi: 1, wn: 1, wp: 1 }] }));
    throwsFormat(() => loadRun(dir), join(dir, 'histograms.json'), /"boundaries" must be/);
    writeFileSync(join(dir, 'histograms.json'), JSON.stringify({ layers: [{ name: 'a', bins: [], lo: 0, hi: 1, wn: 1, wp: 1, boundaries: { negZero: 0, zeroPos: 1 } }] }));
    throwsFormat(() => loadRun(dir), join(dir, 'histograms.json'), /"bins" must be a non-empty array/);
    unlinkSync(join(dir, 'histograms.json'));
    writeFileSync(join(dir, 'manifest.json'), 'nope');
    throwsFormat(() => loadRun(dir), join(dir, 'manifest.json'), /not valid JSON/);
    unlinkSync(join(dir, 'manifest.json'));
    assert.equal(loadRun(dir).manifest, null); // absent is fine
  });
});

describe('helpers', () => {
  test('the test parser is strict (so the page checks mean something)', () => {
    assert.equal(parseXml('<!DOCTYPE html><html><p a="1">x &amp; y<br /></p></html>').children[0].text, 'x & y');
    for (const bad of ['<html><b></html>', '<html><p a=1></p></html>', '<html>a & b</html>', '<html>&nbsp;</html>', '<html><p a="1" a="2"></p></html>', '<html></html><html></html>', '<html><meta charset="utf-8"></html>']) {
      assert.throws(() => parseXml(bad), Error, bad);
    }
  });
  test('niceScale: round ticks covering the domain, constant domains widened', () => {
    assert.deepEqual(niceScale(0.03, 0.97, 5).ticks, [0, 0.2, 0.4, 0.6, 0.8, 1]);
    assert.deepEqual(niceScale(0, 11, 5).ticks, [0, 2, 4, 6, 8, 10, 12]);
    const c = niceScale(0.0123, 0.0123);
    assert.ok(c.lo < 0.0123 && c.hi > 0.0123 && c.ticks.length >= 2);
    assert.ok(niceScale(5, 5).ticks.every(Number.isFinite));
    assert.ok(niceScale(NaN, 1).ticks.every(Number.isFinite));
    assert.deepEqual(niceScale(0.1, 0.3, 2).ticks, [0.1, 0.2, 0.3]); // no 0.30000000000000004
  });
  test('escapeXml and fmtNum', () => {
    assert.equal(escapeXml(`a<b & "c" 'd'>`), 'a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;');
    assert.equal(fmtNum(NaN), '–');
    assert.equal(fmtNum(undefined), '–');
    assert.equal(fmtNum(0.123456), '0.1235');
    assert.equal(fmtNum(12), '12');
    assert.equal(fmtNum(1e-6), '1e-6');
  });
  test('runParams reads the paper/code names leniently', () => {
    assert.deepEqual(runParams({ method: 'ec2t', lambda_max_divider: 0.2, quant: { ini_c_divr: '0.3' } }), { method: 'ec2t', gain: 0.2, initScale: 0.3, threshold: undefined });
    assert.deepEqual(runParams({ quantizer: 'ttq', ttq: { threshold: 0.05 } }), { method: 'ttq', gain: undefined, initScale: undefined, threshold: 0.05 });
  });
});
