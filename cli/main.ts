#!/usr/bin/env node
/**
 * `ec2t` command line entry. Exit codes: 0 ok, 1 failure, 2 usage error.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ec2tError } from '../base/errors.js';
import { ioErrorFrom } from '../base/io.js';
import { UsageError, formatHelp, parseCommand, suggest, type Parsed } from './args.js';
import { COMMANDS } from './commands.js';

type Handler = (p: Parsed) => Promise<number>;

/** Lazy handler table: a command's heavy imports load only when it runs. */
const HANDLERS: Record<string, () => Promise<Handler>> = {
  demo: async () => (await import('./run-demo.js')).runDemo,
  train: async () => (await import('./run-train.js')).runTrain,
  eval: async () => (await import('./run-train.js')).runEval,
  predict: async () => (await import('./run-predict.js')).runPredict,
  ternarize: async () => (await import('./run-ternarize.js')).runTernarize,
  export: async () => (await import('./run-export.js')).runExport,
  score: async () => (await import('./run-export.js')).runScore,
  bench: async () => (await import('./run-bench.js')).runBench,
  report: async () => (await import('./run-report.js')).runReport,
  scale: async () => (await import('./run-scale.js')).runScale,
  sweep: async () => (await import('./run-sweep.js')).runSweep,
  worker: async () => (await import('./run-sweep.js')).runWorker,
  lab: async () => (await import('./run-lab.js')).runLab,
};

function topHelp(): string {
  return [
    'ec2t — train sparse ternary networks with EC2T (Entropy-Constrained Trained Ternarization)',
    '',
    'Usage: ec2t <command> [flags]      ec2t <command> --help',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(11)} ${c.summary}`),
  ].join('\n');
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(topHelp() + '\n');
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    const { readFileSync } = await import('node:fs');
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(pkg.version + '\n');
    return 0;
  }
  const spec = COMMANDS.find((c) => c.name === name);
  if (spec === undefined) {
    process.stderr.write(`ec2t: unknown command ${JSON.stringify(name)}.${suggest(name, COMMANDS.map((c) => c.name))} Commands: ${COMMANDS.map((c) => c.name).join(', ')}\n`);
    return 2;
  }
  try {
    const parsed = parseCommand(spec, rest);
    if (parsed.help) {
      process.stdout.write(formatHelp(spec) + '\n');
      return 0;
    }
    if (spec.flags.backend !== undefined) {
      const { configureBackend } = await import('./backend.js');
      // Only a written --backend is a flag-level setting: its default must not hide EC2T_BACKEND.
      const backend = parsed.given?.has('backend') === false ? undefined : (parsed.flags.backend as string | undefined);
      await configureBackend(backend, parsed.flags.threads as number | undefined);
    }
    const handler = await HANDLERS[name]();
    return await handler(parsed);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`${e.message}\n`);
      return 2;
    }
    if (e instanceof Ec2tError) {
      process.stderr.write(`ec2t ${name}: ${e.message}\n`);
      return 1;
    }
    const err = e as NodeJS.ErrnoException;
    // A file-system error that no reader or writer turned into a typed one still gets one line.
    const io = err && typeof err.path === 'string' ? ioErrorFrom(err, err.path, err.syscall === 'open' || err.syscall === 'read' ? 'cannot open' : (err.syscall ?? 'failed')) : null;
    if (io !== null) {
      process.stderr.write(`ec2t ${name}: ${io.message}\n`);
      return 1;
    }
    const bare = err && typeof err.code === 'string' ? ioErrorFrom(err, '(file)', err.syscall ?? 'failed') : null;
    if (bare !== null && err.code !== 'ENOENT') {
      process.stderr.write(`ec2t ${name}: ${bare.message.slice('(file): '.length)}\n`);
      return 1;
    }
    process.stderr.write(`ec2t ${name}: unexpected error: ${err?.stack ?? String(e)}\n`);
    return 1;
  }
}

function isEntry(): boolean {
  // The bin is often a symlink (node_modules/.bin/ec2t): compare real paths.
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}
if (isEntry()) {
  main(process.argv.slice(2)).then(
    async (code) => {
      process.exitCode = code;
      const { backendSettings } = await import('../kernels/settings.js');
      let trace = false;
      try {
        trace = backendSettings().traceKernels;
      } catch {
        // A malformed EC2T_* variable was already reported by the command.
      }
      if (trace) {
        const { kernelTrace } = await import('../kernels/registry.js');
        const { formatKernelTrace } = await import('../kernels/calibrate.js');
        process.stderr.write(formatKernelTrace(kernelTrace()));
      }
    },
    (e) => {
      process.stderr.write(String(e) + '\n');
      process.exitCode = 1;
    },
  );
}
