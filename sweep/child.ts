/**
 * One local-pool worker process: `node child.js DIR CELL ATTEMPT` runs one cell of the sweep in
 * DIR and tells the parent how it went over IPC. A process per cell keeps a crash, a leak or a
 * kill confined to that cell; the parent retries it, and the retry resumes from the checkpoint.
 */
import { runCell } from './cell.js';
import { readSweep } from './store.js';

/** Message a child sends its parent before it exits. */
export type ChildMessage = { ok: true; action: 'trained' | 'skipped'; resumed: boolean } | { ok: false; error: string };

async function childMain(argv: readonly string[]): Promise<number> {
  const [dir, name, attemptText] = argv;
  const send = (m: ChildMessage): Promise<void> => new Promise((res) => (process.send ? process.send(m, () => res()) : res()));
  try {
    const manifest = readSweep(dir);
    const cell = manifest.cells.find((c) => c.name === name);
    if (cell === undefined) throw new Error(`no cell ${name} in ${dir}/sweep.json`);
    const { configureBackend } = await import('../cli/backend.js');
    await configureBackend(String(cell.flags.backend ?? 'auto'), cell.flags.threads as number | undefined);
    const o = await runCell(dir, manifest, cell, { attempt: Number(attemptText) || 1 });
    await send({ ok: true, action: o.action, resumed: o.resumed });
    return 0;
  } catch (e) {
    const err = e as Error;
    const message = (err?.message ?? String(e)).split('\n')[0];
    process.stderr.write(`cell ${name}: ${err?.stack ?? message}\n`);
    await send({ ok: false, error: message });
    return 1;
  }
}

let finished = false;
// A parent that dies (SIGKILL, a closed terminal) closes the channel: stop rather than run on
// unwatched, so a rerun of the sweep never finds two processes writing one cell folder.
process.on('disconnect', () => {
  if (!finished) process.exit(1);
});
childMain(process.argv.slice(2)).then((code) => {
  finished = true;
  process.exitCode = code;
  process.disconnect?.();
});
