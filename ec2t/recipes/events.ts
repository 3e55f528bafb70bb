/**
 * What the recipes ({@link trainModel}, {@link ternarizeModel}) report while they run, and how an
 * `AbortSignal` reaches the training loop.
 */
import type { BatchProgress } from '../train.js';
import type { EpochMetrics } from '../runstore.js';
import type { LayerHistogram } from '../quantizer.js';
import type { LayerStats } from '../stats.js';

/**
 * One ternarized layer as the quantizer holds it after a step: the histogram of its background
 * weights with the decision boundaries, its statistics, and the probabilities `[P_n, P_0, P_p]`
 * the last entropy-constrained assignment priced its clusters with (`2^−I`; `[1, 1, 1]`-like
 * values mean no such assignment ran yet: nearest neighbour, TTQ, or the first step).
 */
export interface LayerInspection {
  histogram: LayerHistogram;
  stats: LayerStats;
  probabilities: [number, number, number];
}

/**
 * A progress event of a recipe:
 * - `batch`: after every optimizer step (phase, epoch, step, running loss and accuracy, speed, ETA);
 * - `epoch`: an epoch's metrics line (validation, and for EC2T phases the per-layer statistics in
 *   `metrics.layers`: sparsity, w_p, w_n, entropy of each ternarized layer);
 * - `phase`: a phase ended (best validation accuracy and its epoch; `completed` false when aborted);
 * - `quantizer`: every `inspectEvery` steps of {@link ternarizeModel} (when asked for), each layer's
 *   histogram, boundaries, statistics and probabilities, for live views (plain data: it survives
 *   `postMessage`).
 */
export type RecipeProgress =
  | ({ kind: 'batch' } & BatchProgress)
  | { kind: 'quantizer'; phase: EpochMetrics['phase']; step: number; sparsity: number; layers: LayerInspection[] }
  | { kind: 'epoch'; metrics: EpochMetrics }
  | { kind: 'phase'; phase: EpochMetrics['phase']; completed: boolean; bestValAccuracy: number | null; bestEpoch: number | null };

/** The `onProgress` / `signal` pair every recipe takes. */
export interface RecipeControl {
  /** Called with every {@link RecipeProgress} event, synchronously, between training steps. */
  onProgress?: (event: RecipeProgress) => void;
  /**
   * Aborting stops the run after the current batch with a resume checkpoint in the store; the
   * recipe then returns normally with `interrupted: true` (it does not throw).
   */
  signal?: AbortSignal;
}

/**
 * The training loop's interrupt flag, raised by `signal` (or by the loop's own test hook). Without
 * a signal there is no flag: the run cannot be interrupted, as before recipes took signals.
 */
export function interruptOf(signal: AbortSignal | undefined): { interrupted: boolean } | undefined {
  if (signal === undefined) return undefined;
  let raised = false;
  return {
    get interrupted(): boolean {
      return raised || signal.aborted;
    },
    set interrupted(v: boolean) {
      raised = v;
    },
  };
}
