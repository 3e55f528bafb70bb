/**
 * Progress on stderr: a live bar when stderr is a terminal, plain log lines otherwise (one per
 * epoch and a few per long epoch), so logs of non-interactive runs stay readable.
 */
import type { BatchProgress } from '../ec2t/train.js';

function fmtTime(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '--:--';
  const m = Math.floor(s / 60);
  const sec = Math.floor(s % 60);
  return m >= 60 ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m` : `${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`;
}

/** Creates a progress callback for the training loop. `quiet` silences it. */
export function progressPrinter(quiet = false): (p: BatchProgress) => void {
  const tty = process.stderr.isTTY === true;
  let lastPlain = 0;
  return (p) => {
    if (quiet) return;
    const frac = p.batch / p.batches;
    const stats = `loss ${p.loss.toFixed(4)} acc ${(100 * p.accuracy).toFixed(2)}% ${p.imagesPerSecond.toFixed(0)} img/s ETA ${fmtTime(p.etaSeconds)}`;
    if (tty) {
      const width = 24;
      const filled = Math.round(frac * width);
      const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
      process.stderr.write(`\r\x1b[K${p.phase} epoch ${p.epoch}/${p.epochs} ${bar} ${p.batch}/${p.batches} ${stats}`);
      if (p.batch === p.batches) process.stderr.write('\n');
      return;
    }
    const now = Date.now();
    if (p.batch === p.batches || now - lastPlain > 10_000) {
      lastPlain = now;
      process.stderr.write(`${p.phase} epoch ${p.epoch}/${p.epochs} batch ${p.batch}/${p.batches} ${stats}\n`);
    }
  };
}

/** Prints a line to stderr (the log channel; stdout is kept for --json). */
export function log(line: string): void {
  process.stderr.write(line + '\n');
}
