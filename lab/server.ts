/**
 * The static server of the EC2T Lab (`ec2t lab`, `npm run lab`): the built app and MNIST's four
 * IDX files, with the cross-origin-isolation headers (COOP/COEP) that let the page's workers share
 * memory. Serves GET and HEAD of files under its folders only; nothing else.
 */
import { createReadStream, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';

/** The MNIST files the Lab fetches from `data/`. */
export const LAB_DATA_FILES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'] as const;

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
};

/** Headers of every response: cross-origin isolation (SharedArrayBuffer) and no caching of a dev build. */
export const LAB_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-cache',
};

/** Options of {@link serveLab}. */
export interface LabServerOptions {
  /** The built app (index.html, main.js, worker.js, style.css). */
  root: string;
  /** Folder holding the four MNIST IDX files, served as `data/…` (default: `root/data`). */
  dataDir?: string;
  /** Port (default 0: any free one). */
  port?: number;
  /** Interface to listen on (default 127.0.0.1: the Lab is for this machine). */
  host?: string;
}

/** A running Lab server. */
export interface LabServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** The file a request path maps to, or null when it lies outside the served folders. */
export function labFileFor(urlPath: string, root: string, dataDir: string): string | null {
  let path: string;
  try {
    path = decodeURIComponent(urlPath.split('?')[0].split('#')[0]);
  } catch {
    return null;
  }
  if (path.includes('\0')) return null;
  if (path === '/' || path === '') return join(root, 'index.html');
  if (path.startsWith('/data/')) {
    const name = path.slice('/data/'.length);
    return (LAB_DATA_FILES as readonly string[]).includes(name) ? join(dataDir, name) : null;
  }
  const base = resolve(root);
  const file = resolve(base, normalize(`.${path}`));
  return file.startsWith(base + sep) ? file : null;
}

/**
 * Starts the Lab's server; resolves once it listens.
 * @example const lab = await serveLab({ root: 'dist/lab-app', dataDir: embeddedMnistDir() }); console.log(lab.url);
 */
export function serveLab(o: LabServerOptions): Promise<LabServer> {
  const root = resolve(o.root);
  const dataDir = resolve(o.dataDir ?? join(root, 'data'));
  const server = createServer((req, res) => {
    for (const [k, v] of Object.entries(LAB_HEADERS)) res.setHeader(k, v);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    const file = labFileFor(req.url ?? '/', root, dataDir);
    let size = -1;
    if (file !== null) {
      try {
        const st = statSync(file);
        if (st.isFile()) size = st.size;
      } catch {
        // missing: 404 below
      }
    }
    if (file === null || size < 0) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': String(size) });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    createReadStream(file).on('error', () => res.destroy()).pipe(res);
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(o.port ?? 0, o.host ?? '127.0.0.1', () => {
      server.off('error', fail);
      const addr = server.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : o.port;
      const host = o.host ?? '127.0.0.1';
      ok({
        url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/`,
        server,
        close: () => new Promise<void>((done) => {
          server.closeAllConnections();
          server.close(() => done());
        }),
      });
    });
  });
}
