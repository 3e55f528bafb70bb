/**
 * The Lab page: maps its controls to worker jobs and draws what the recipes report. All numbers
 * shown come from the worker's events; this file computes nothing about the method.
 */
import type { LayerInspection, RecipeProgress } from '../../ec2t/recipes/events.js';
import { AUTHORS_LENET5, CHART_CSS, layerHistogramChart } from '../../ec2t/report/figures.js';
import { CLUSTER_COLORS, PALETTE, hBarChart, legend, lineChart, paretoChart, pctTick } from '../../ec2t/report/svg.js';
import { inkFromRgba, mnistFromInk } from './digit.js';
import type { FromWorker, Prediction, ScoreRow, TernarizeSettings, TernaryOutcome, ToWorker, TrainSettings } from './protocol.js';

/** A point of the accuracy–sparsity plane (fractions). */
interface PlanePoint {
  sparsity: number;
  accuracy: number;
  label: string;
  /** When the run finished (ms since 1970): tells the stored copy of the current run apart. */
  id?: number;
}
const RUNS_KEY = 'ec2t-lab-runs';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`#${id} missing from the page`);
  return el as T;
};
const fmtInt = (v: number): string => Math.round(v).toLocaleString('en-US');
const pct = (v: number, digits = 2): string => `${(v * 100).toFixed(digits)}%`;

// The charts are the run report's (ec2t/report/svg.ts), with its styles.
document.head.append(Object.assign(document.createElement('style'), { textContent: CHART_CSS }));

const worker = new Worker(new URL('worker.js', import.meta.url), { type: 'module' });
const send = (m: ToWorker): void => worker.postMessage(m);
const opened = performance.now();

// ---- state ------------------------------------------------------------------------------------
const trainCurves = { loss: [] as [number, number][], acc: [] as [number, number][], heldOut: [] as [number, number][] };
let layers: LayerInspection[] = [];
let trail: PlanePoint[] = [];
let live: PlanePoint | null = null;
let lastBatchAccuracy = 0;
let outcome: TernaryOutcome | null = null;
/** Id of the finished run the plane shows as "this run" (its stored copy is not drawn twice). */
let finishedId: number | null = null;
let sampleIndex = 0;
let dirty = false;

function earlierRuns(): PlanePoint[] {
  try {
    const v = JSON.parse(localStorage.getItem(RUNS_KEY) ?? '[]') as unknown;
    return Array.isArray(v) ? (v as PlanePoint[]).filter((p) => typeof p.accuracy === 'number' && typeof p.sparsity === 'number') : [];
  } catch {
    return [];
  }
}

function rememberRun(p: PlanePoint): void {
  try {
    localStorage.setItem(RUNS_KEY, JSON.stringify([...earlierRuns(), p].slice(-50)));
  } catch {
    // Storage may be off (private windows): the run is then only on this page.
  }
}

// ---- drawing ----------------------------------------------------------------------------------
function schedule(): void {
  if (dirty) return;
  dirty = true;
  requestAnimationFrame(() => {
    dirty = false;
    render();
  });
}

function render(): void {
  $('loss-chart').innerHTML = lineChart({
    title: 'Training loss', desc: 'Running mean of the cross-entropy over the epoch, per optimizer step.', width: 520, height: 240,
    xLabel: 'step', yLabel: 'loss', yZero: true, dots: false,
    series: [{ name: 'loss (running mean of the epoch)', color: PALETTE[0], points: trainCurves.loss }],
  });
  $('acc-chart').innerHTML = legend([
    { name: 'training batches (running)', color: PALETTE[0], kind: 'line' },
    { name: 'held-out, after each epoch', color: PALETTE[1], kind: 'dot' },
  ]) + lineChart({
    title: 'Accuracy', desc: 'Running accuracy on the training batches per step, and held-out accuracy after each epoch.', width: 520, height: 240,
    xLabel: 'step', yLabel: 'accuracy', yDomain: [0, 1], yTickFormat: pctTick, yFormat: (v) => pct(v),
    series: [
      { name: 'training batches (running)', color: PALETTE[0], points: trainCurves.acc },
      { name: 'held-out, per epoch', color: PALETTE[1], points: trainCurves.heldOut },
    ],
  });
  renderLayers();
  const now = live === null ? trail : [...trail, live];
  $('plane').innerHTML = paretoChart({
    title: 'Accuracy against sparsity', desc: 'Accuracy against the share of zero weights in the ternary layers.', fractions: true,
    xLabel: 'sparsity of the ternary layers', yLabel: 'accuracy', xTickFormat: pctTick, yTickFormat: pctTick,
    points: [
      ...AUTHORS_LENET5.map((p) => ({ x: p.sparsity, y: p.accuracy, color: PALETTE[3], shape: 'diamond' as const, label: p.label, tip: `${p.label}: ${pct(p.accuracy)} @ ${pct(p.sparsity, 1)}` })),
      ...earlierRuns().filter((p) => p.id === undefined || p.id !== finishedId).map((p) => ({ x: p.sparsity, y: p.accuracy, color: '#999', tip: `${p.label}: ${pct(p.accuracy)} @ ${pct(p.sparsity, 1)}` })),
      ...now.map((p, i) => ({ x: p.sparsity, y: p.accuracy, color: PALETTE[1], front: i === now.length - 1, label: i === now.length - 1 ? 'this run' : undefined, tip: `${p.label}: ${pct(p.accuracy)} @ ${pct(p.sparsity, 1)}` })),
    ],
    legend: [{ name: 'paper (LeNet-5)', color: PALETTE[3], shape: 'diamond' }, { name: 'your earlier runs', color: '#999' }, { name: 'this run', color: PALETTE[1] }],
  }).svg;
}

function renderLayers(): void {
  const box = $('layers');
  if (layers.length === 0) return;
  if (box.children.length !== layers.length) {
    box.innerHTML = layers.map((_, i) => `<figure class="layer" id="layer-${i}"><figcaption></figcaption><div class="hist chart"></div><div class="probs chart"></div></figure>`).join('');
  }
  layers.forEach((l, i) => {
    const el = $(`layer-${i}`);
    const s = l.stats;
    (el.querySelector('figcaption') as HTMLElement).textContent =
      `${s.name.replace(/\.weight$/, '')} [${s.shape.join('×')}] · w_p ${s.wp.toFixed(4)} · w_n ${s.wn.toFixed(4)} · λ ${s.lambda.toPrecision(3)} · H ${s.entropy.toFixed(3)} bits · sparsity ${pct(s.sparsity, 1)}`;
    (el.querySelector('.hist') as HTMLElement).innerHTML = layerHistogramChart(l.histogram, false);
    const seg = (v: readonly number[]) => [
      { name: '−w_n', value: v[0], color: CLUSTER_COLORS.n },
      { name: 'zero', value: v[1], color: CLUSTER_COLORS.zero },
      { name: '+w_p', value: v[2], color: CLUSTER_COLORS.p },
    ];
    (el.querySelector('.probs') as HTMLElement).innerHTML = hBarChart({
      title: 'Cluster probabilities', desc: 'Probabilities the last assignment priced, and the fractions of weights actually in each cluster.', width: 420, xMax: 1,
      format: (v) => v.toFixed(3), tickFormat: pctTick,
      rows: [
        { label: 'priced P', segments: seg(l.probabilities), note: l.probabilities.map((v) => v.toFixed(2)).join(' / ') },
        { label: 'actual', segments: seg([s.n / s.numel, s.zero / s.numel, s.p / s.numel]), note: `H ${s.entropy.toFixed(2)} bits` },
      ],
    });
  });
}

// ---- train ------------------------------------------------------------------------------------
function trainSettings(): TrainSettings {
  return {
    images: Number(($('train-images') as HTMLSelectElement).value),
    epochs: Number(($('train-epochs') as HTMLSelectElement).value),
    batchSize: 64,
    lr: Number(($('train-lr') as HTMLInputElement).value),
    seed: Number(($('train-seed') as HTMLInputElement).value),
  };
}

function setBusy(job: 'train' | 'ternarize' | null, paused = false): void {
  ($('train-start') as HTMLButtonElement).disabled = job !== null;
  ($('train-pause') as HTMLButtonElement).disabled = job !== 'train';
  ($('train-resume') as HTMLButtonElement).disabled = job !== null || !paused;
  ($('tern-start') as HTMLButtonElement).disabled = job !== null || !floatReady;
  ($('tern-stop') as HTMLButtonElement).disabled = job !== 'ternarize';
}

let floatReady = false;

$('train-start').addEventListener('click', () => {
  trainCurves.loss = [];
  trainCurves.acc = [];
  trainCurves.heldOut = [];
  floatReady = false;
  $('train-result').textContent = '';
  send({ type: 'train', settings: trainSettings() });
  setBusy('train');
  schedule();
});
$('train-pause').addEventListener('click', () => {
  send({ type: 'pause' });
  $('train-status').textContent = 'Pausing after this batch…';
});
$('train-resume').addEventListener('click', () => {
  send({ type: 'resume' });
  setBusy('train');
});

function onTrainProgress(e: RecipeProgress): void {
  if (e.kind === 'batch') {
    trainCurves.loss.push([e.step, e.loss]);
    trainCurves.acc.push([e.step, e.accuracy]);
    ($('train-progress') as HTMLProgressElement).value = (e.epoch - 1 + e.batch / e.batches) / e.epochs;
    $('train-status').textContent = `epoch ${e.epoch}/${e.epochs} · batch ${e.batch}/${e.batches} · step ${e.step} · loss ${e.loss.toFixed(4)} · ${fmtInt(e.imagesPerSecond)} images/s · ${Math.ceil(e.etaSeconds)} s left`;
  } else if (e.kind === 'epoch' && e.metrics.valAccuracy !== null) {
    const last = trainCurves.loss.length > 0 ? trainCurves.loss[trainCurves.loss.length - 1][0] : 0;
    trainCurves.heldOut.push([last, e.metrics.valAccuracy]);
  }
  schedule();
}

// ---- ternarize --------------------------------------------------------------------------------
function ternSettings(): TernarizeSettings {
  return {
    method: ($('tern-method') as HTMLSelectElement).value as TernarizeSettings['method'],
    variant: ($('tern-variant') as HTMLSelectElement).value as TernarizeSettings['variant'],
    gain: Number(($('tern-gain') as HTMLInputElement).value),
    initScale: Number(($('tern-scale') as HTMLInputElement).value),
    images: Number(($('tern-images') as HTMLSelectElement).value),
    epochs: Number(($('tern-epochs') as HTMLSelectElement).value),
    retrainEpochs: Number(($('tern-retrain') as HTMLSelectElement).value),
    batchSize: 64,
    seed: Number(($('train-seed') as HTMLInputElement).value),
  };
}

for (const [input, out] of [['tern-gain', 'tern-gain-out'], ['tern-scale', 'tern-scale-out']] as const) {
  const update = (): void => {
    $(out).textContent = Number(($(input) as HTMLInputElement).value).toFixed(2);
  };
  $(input).addEventListener('input', update);
  update();
}

$('tern-start').addEventListener('click', () => {
  finishedId = null;
  trail = [];
  live = null;
  layers = [];
  $('layers').innerHTML = '';
  $('tern-result').textContent = '';
  const s = ternSettings();
  send({ type: 'ternarize', settings: s });
  $('tern-status').textContent = `Starting ${s.method.toUpperCase()} with γ = ${s.gain}, s = ${s.initScale}…`;
  setBusy('ternarize');
});
$('tern-stop').addEventListener('click', () => send({ type: 'pause' }));

function onTernProgress(e: RecipeProgress): void {
  if (e.kind === 'batch') {
    lastBatchAccuracy = e.accuracy;
    ($('tern-progress') as HTMLProgressElement).value = (e.epoch - 1 + e.batch / e.batches) / e.epochs;
    const phase = e.phase === 'ec2t' ? 'ternarizing' : 'retraining with frozen assignments';
    $('tern-status').textContent = `${phase} · epoch ${e.epoch}/${e.epochs} · batch ${e.batch}/${e.batches} · loss ${e.loss.toFixed(4)} · ${fmtInt(e.imagesPerSecond)} images/s`;
  } else if (e.kind === 'quantizer') {
    layers = e.layers;
    live = { sparsity: e.sparsity, accuracy: lastBatchAccuracy, label: 'now (running batch accuracy)' };
  } else if (e.kind === 'epoch' && e.metrics.valAccuracy !== null && e.metrics.sparsity !== undefined) {
    trail.push({ sparsity: e.metrics.sparsity, accuracy: e.metrics.valAccuracy, label: `${e.metrics.phase} epoch ${e.metrics.epoch} (held-out)` });
    live = null;
  }
  schedule();
}

function scoreTable(o: TernaryOutcome): void {
  const rows: [string, (r: ScoreRow) => number, (v: number) => string][] = [
    ['parameters', (r) => r.params, (v) => fmtInt(v)],
    ['non-zero weights', (r) => r.nonzeros, (v) => fmtInt(v)],
    ['additions', (r) => r.additions, (v) => fmtInt(v)],
    ['multiplications', (r) => r.multiplications, (v) => fmtInt(v)],
    ['storage (bytes)', (r) => r.bytes, (v) => fmtInt(v)],
  ];
  const body = rows.map(([name, get, fmt]) => {
    const f = get(o.float);
    const t = get(o.ternary);
    return `<tr><th scope="row">${name}</th><td>${fmt(f)}</td><td>${fmt(t)}</td><td>${f > 0 ? (t / f).toFixed(3) : '–'}</td></tr>`;
  }).join('');
  const file = `<tr><th scope="row">file (bytes: float32 weights, packed file)</th><td>${fmtInt(o.float.params * 4)}</td><td>${fmtInt(o.packed.byteLength)}</td><td>${(o.packed.byteLength / (o.float.params * 4)).toFixed(3)}</td></tr>`;
  ($('score').querySelector('tbody') as HTMLElement).innerHTML = body + file;
}

$('download').addEventListener('click', () => {
  if (outcome === null) return;
  const url = URL.createObjectURL(new Blob([outcome.packed], { type: 'application/octet-stream' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = `lenet5-${outcome.settings.method}-g${outcome.settings.gain.toFixed(2)}.ec2t.safetensors`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
});

// ---- draw and classify ------------------------------------------------------------------------
const pad = $('pad') as HTMLCanvasElement;
const ctx = pad.getContext('2d', { willReadFrequently: true }) as CanvasRenderingContext2D;
function clearPad(): void {
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, pad.width, pad.height);
  $('pred-float').textContent = '–';
  $('pred-ternary').textContent = '–';
}
clearPad();
let drawing = false;
function point(e: PointerEvent): [number, number] {
  const r = pad.getBoundingClientRect();
  return [((e.clientX - r.left) / r.width) * pad.width, ((e.clientY - r.top) / r.height) * pad.height];
}
pad.addEventListener('pointerdown', (e) => {
  drawing = true;
  pad.setPointerCapture(e.pointerId);
  const [x, y] = point(e);
  ctx.strokeStyle = '#fff';
  ctx.fillStyle = '#fff';
  ctx.lineWidth = 18;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  ctx.beginPath();
  ctx.arc(x, y, 9, 0, Math.PI * 2);
  ctx.fill();
  ctx.beginPath();
  ctx.moveTo(x, y);
});
pad.addEventListener('pointermove', (e) => {
  if (!drawing) return;
  const [x, y] = point(e);
  ctx.lineTo(x, y);
  ctx.stroke();
});
const endStroke = (): void => {
  if (!drawing) return;
  drawing = false;
  classifyPad();
};
pad.addEventListener('pointerup', endStroke);
pad.addEventListener('pointercancel', endStroke);
$('pad-clear').addEventListener('click', clearPad);
$('pad-sample').addEventListener('click', () => send({ type: 'testDigit', index: sampleIndex++ }));

function classifyPad(): void {
  if (!floatReady) {
    $('pred-float').textContent = 'train a model first';
    return;
  }
  const img = mnistFromInk(inkFromRgba(ctx.getImageData(0, 0, pad.width, pad.height).data, pad.width, pad.height), pad.width, pad.height);
  if (img === null) return;
  send({ type: 'classify', pixels: img });
}

function showPrediction(id: string, p: Prediction | null): void {
  const el = $(id);
  if (p === null) {
    el.textContent = 'ternarize a model first';
    el.removeAttribute('data-digit');
    return;
  }
  el.textContent = `${p.digit} (${(p.probabilities[p.digit] * 100).toFixed(1)}%, ${p.ms.toFixed(2)} ms)`;
  el.dataset.digit = String(p.digit);
}

function drawDigit(pixels: Float32Array): void {
  clearPad();
  const cell = pad.width / 28;
  for (let i = 0; i < 784; i++) {
    const v = Math.round(pixels[i] * 255);
    if (v === 0) continue;
    ctx.fillStyle = `rgb(${v},${v},${v})`;
    ctx.fillRect((i % 28) * cell, Math.floor(i / 28) * cell, cell, cell);
  }
}

// ---- worker messages --------------------------------------------------------------------------
worker.addEventListener('message', (ev: MessageEvent<FromWorker>) => {
  const m = ev.data;
  switch (m.type) {
    case 'ready':
      $('status').textContent = `MNIST loaded in ${m.seconds.toFixed(1)} s: ${fmtInt(m.trainImages)} training images, ${fmtInt(m.heldOut)} held out, ${fmtInt(m.testImages)} test images.`;
      setBusy(null);
      break;
    case 'progress':
      if (m.job === 'train') onTrainProgress(m.event);
      else onTernProgress(m.event);
      break;
    case 'trained': {
      if (m.interrupted) {
        $('train-status').textContent = 'Paused: Resume continues exactly where it stopped.';
        setBusy(null, true);
        break;
      }
      floatReady = true;
      const since = (performance.now() - opened) / 1000;
      const res = $('train-result');
      res.textContent = `Held-out accuracy ${pct(m.heldOutAccuracy ?? NaN)}, test accuracy ${pct(m.testAccuracy)} (10,000 images) after ${fmtInt(m.steps)} steps in ${m.seconds.toFixed(1)} s (${since.toFixed(0)} s after the page opened).`;
      res.dataset.heldout = String(m.heldOutAccuracy);
      res.dataset.test = String(m.testAccuracy);
      res.dataset.since = String(since);
      ($('train-progress') as HTMLProgressElement).value = 1;
      $('tern-status').textContent = 'Ready: choose γ and s, then Ternarize.';
      ($('pad-sample') as HTMLButtonElement).disabled = false;
      setBusy(null);
      break;
    }
    case 'ternarized': {
      setBusy(null);
      if (m.interrupted || m.outcome === null) {
        $('tern-status').textContent = 'Stopped.';
        break;
      }
      const o = m.outcome;
      outcome = o;
      const since = (performance.now() - opened) / 1000;
      const res = $('tern-result');
      res.textContent = `Ternary accuracy ${pct(o.accuracy)} (float ${pct(o.floatAccuracy)}) at ${pct(o.sparsity, 1)} sparsity, in ${o.seconds.toFixed(1)} s (${since.toFixed(0)} s after the page opened).`;
      res.dataset.sparsity = String(o.sparsity);
      res.dataset.accuracy = String(o.accuracy);
      res.dataset.since = String(since);
      ($('tern-progress') as HTMLProgressElement).value = 1;
      $('tern-status').textContent = 'Done: the point is on the plane below; the model is ready in Deploy.';
      const point = { sparsity: o.sparsity, accuracy: o.accuracy, label: `${o.settings.method} γ=${o.settings.gain} s=${o.settings.initScale} (test)`, id: Date.now() };
      rememberRun(point);
      finishedId = point.id;
      trail = [point];
      live = null;
      scoreTable(o);
      ($('download') as HTMLButtonElement).disabled = false;
      $('download-size').textContent = `${fmtInt(o.packed.byteLength)} bytes`;
      schedule();
      break;
    }
    case 'classified':
      showPrediction('pred-float', m.float);
      showPrediction('pred-ternary', m.ternary);
      $('pad').dataset.classified = String(Number($('pad').dataset.classified ?? '0') + 1);
      break;
    case 'testDigit':
      drawDigit(m.pixels);
      $('pad').dataset.label = String(m.label);
      classifyPad();
      break;
    case 'error':
      $('status').textContent = `Error: ${m.message}`;
      setBusy(null);
      break;
  }
});
worker.addEventListener('error', (e) => {
  $('status').textContent = `The worker failed: ${e.message}`;
});
for (const f of document.querySelectorAll('form')) f.addEventListener('submit', (e) => e.preventDefault());
render();
