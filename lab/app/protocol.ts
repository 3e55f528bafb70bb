/**
 * Messages between the Lab page and its training worker. Everything here is plain data: it
 * crosses `postMessage` by structured clone.
 */
import type { RecipeProgress } from '../../ec2t/recipes/events.js';

/** Float training settings chosen on the page. */
export interface TrainSettings {
  /** Training images taken from the start of MNIST's training split (the last 2,000 are held out). */
  images: number;
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
}

/** Ternarization settings chosen on the page. */
export interface TernarizeSettings {
  method: 'ec2t' | 'ttq' | 'ecp';
  variant: 'reference' | 'corrected';
  /** γ, the gain of the entropy term. */
  gain: number;
  /** s, the initial centroid scale. */
  initScale: number;
  images: number;
  epochs: number;
  retrainEpochs: number;
  batchSize: number;
  seed: number;
}

/** Page → worker. */
export type ToWorker =
  | { type: 'train'; settings: TrainSettings }
  | { type: 'ternarize'; settings: TernarizeSettings }
  /** Stop the running job after its current batch; a paused float training can be resumed. */
  | { type: 'pause' }
  | { type: 'resume' }
  /** One 28×28 image, values in [0, 1] (white ink on black, as MNIST). */
  | { type: 'classify'; pixels: Float32Array }
  | { type: 'testDigit'; index: number };

/** One model's answer for a drawn digit. */
export interface Prediction {
  digit: number;
  /** Softmax probabilities of the ten classes. */
  probabilities: number[];
  /** Wall time of one forward pass, in milliseconds. */
  ms: number;
}

/** Params, additions, multiplications and bytes of one model (ec2t/score.ts counting rules). */
export interface ScoreRow {
  params: number;
  nonzeros: number;
  additions: number;
  multiplications: number;
  bytes: number;
}

/** What a finished ternarization reports. */
export interface TernaryOutcome {
  settings: TernarizeSettings;
  accuracy: number;
  floatAccuracy: number;
  sparsity: number;
  float: ScoreRow;
  ternary: ScoreRow;
  /** The packed file's bytes (what `ec2t export` writes; its length is the real file size), transferred. */
  packed: ArrayBuffer;
  seconds: number;
}

/** Worker → page. */
export type FromWorker =
  | { type: 'ready'; trainImages: number; heldOut: number; testImages: number; seconds: number }
  | { type: 'progress'; job: 'train' | 'ternarize'; event: RecipeProgress }
  | { type: 'trained'; interrupted: boolean; testAccuracy: number; heldOutAccuracy: number | null; seconds: number; steps: number }
  | { type: 'ternarized'; interrupted: boolean; outcome: TernaryOutcome | null }
  | { type: 'classified'; float: Prediction; ternary: Prediction | null }
  | { type: 'testDigit'; pixels: Float32Array; label: number }
  | { type: 'error'; message: string };
