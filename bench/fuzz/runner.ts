/**
 * Runs hostile files through the readers in a child process with a time limit per file: a file
 * that does not finish in time is a hang (the child is killed and a fresh one takes the next
 * file), and the child's peak RSS bounds the memory any file made it use.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Job, JobResult } from './child.js';

const CHILD = fileURLToPath(new URL('./child.js', import.meta.url));

/** The result of one file: the child's answer, or a hang / crash. */
export type HostileResult = Omit<JobResult, 'outcome'> & { outcome: JobResult['outcome'] | 'hang' | 'crash' };

/** A child process that reads hostile files one at a time, restarted after a hang or a crash. */
export class HostileRunner {
  private child: ChildProcess | null = null;
  private nextId = 0;
  /** Peak RSS over every child this runner started, in bytes. */
  peakRss = 0;

  /** @param timeoutMs time limit per file */
  constructor(private readonly timeoutMs: number) {}

  private start(): ChildProcess {
    if (this.child === null) {
      this.child = fork(CHILD, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'json' });
      // stderr is drained so a chatty child cannot block; a crash shows as 'crash'.
      this.child.stderr?.resume();
    }
    return this.child;
  }

  /**
   * Reads `path` with `reader` in the child.
   * @example await new HostileRunner(5000).run('packed', 'model.ec2t.safetensors')
   */
  run(reader: string, path: string): Promise<HostileResult> {
    const child = this.start();
    const id = this.nextId++;
    const t0 = performance.now();
    return new Promise((resolve) => {
      let done = false;
      const finish = (r: HostileResult, kill: boolean): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        if (kill) {
          child.kill('SIGKILL');
          this.child = null;
        }
        if (r.maxRss > this.peakRss) this.peakRss = r.maxRss;
        resolve(r);
      };
      const timer = setTimeout(() => finish({ id, outcome: 'hang', error: `no answer in ${this.timeoutMs} ms`, ms: performance.now() - t0, rssBefore: 0, maxRssBefore: 0, maxRss: 0 }, true), this.timeoutMs);
      const onMessage = (m: JobResult): void => {
        if (m.id === id) finish(m, false);
      };
      const onExit = (code: number | null, signal: string | null): void => {
        this.child = null;
        finish({ id, outcome: 'crash', error: `child exited (code ${code}, signal ${signal})`, ms: performance.now() - t0, rssBefore: 0, maxRssBefore: 0, maxRss: 0 }, false);
      };
      child.on('message', onMessage);
      child.on('exit', onExit);
      child.send({ id, reader, path } satisfies Job);
    });
  }

  /** Ends the child. */
  close(): void {
    this.child?.kill('SIGKILL');
    this.child = null;
  }
}
