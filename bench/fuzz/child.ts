/**
 * Child process of ./runner.ts: runs one reader per message and answers with the outcome and its
 * memory, so the parent can time each file out (a hang) and read peak RSS per process.
 */
import { Ec2tError } from '../../base/errors.js';
import { READERS } from './readers.js';

/** A job: which reader, on which path. */
export interface Job {
  id: number;
  reader: string;
  path: string;
}

/** What the child answers for a job. */
export interface JobResult {
  id: number;
  /** ok: read fine; typed: an Ec2tError (the contract); untyped: anything else (a bug). */
  outcome: 'ok' | 'typed' | 'untyped';
  error?: string;
  ms: number;
  /** RSS and the process's peak RSS before the job, and its peak RSS after it, in bytes. */
  rssBefore: number;
  maxRssBefore: number;
  maxRss: number;
}

// The parent died or closed the channel: nothing left to do.
process.on('disconnect', () => process.exit(0));

process.on('message', (job: Job) => {
  const rssBefore = process.memoryUsage.rss();
  const maxRssBefore = process.resourceUsage().maxRSS * 1024;
  const t0 = performance.now();
  let outcome: JobResult['outcome'] = 'ok';
  let error: string | undefined;
  try {
    const run = READERS[job.reader];
    if (run === undefined) throw new Error(`unknown reader ${job.reader}`);
    run(job.path);
  } catch (e) {
    outcome = e instanceof Ec2tError ? 'typed' : 'untyped';
    error = e instanceof Error ? `${e.name}: ${e.message.split('\n')[0].slice(0, 300)}` : String(e);
    // A one-line message is part of the contract for typed errors too.
    if (outcome === 'typed' && (e as Error).message.includes('\n')) outcome = 'untyped';
  }
  const res: JobResult = { id: job.id, outcome, error, ms: performance.now() - t0, rssBefore, maxRssBefore, maxRss: process.resourceUsage().maxRSS * 1024 };
  (process.send as (m: unknown) => void)(res);
});
