/**
 * The platform layer: the few services that differ between Node and a browser (files, worker
 * threads, core count, environment variables, warnings, hashing) behind one small interface, so
 * that everything above it — kernels, engine, nn, the EC2T quantizer and trainer, packing and the
 * runtime — imports no `node:*` module and touches no `process` at module load.
 *
 * The implementation is picked by module resolution, not at run time: this file imports
 * `#platform`, which package.json's `imports` maps to base/platform-node.js under the `node`
 * condition (Node, and bundlers targeting Node) and to base/platform-browser.js under `browser`
 * (esbuild `--platform=browser`, the bundles in dist/browser/). Only platform-node.ts imports
 * `node:*`. {@link setPlatform} replaces it (tests; embedders with their own worker or file story).
 *
 * Node-only services that have no browser meaning (reading a folder of MNIST files, atomic writes,
 * the run folder) reach Node's own modules through {@link nodeServices}, which names what needed
 * them when called in a browser; everything has a bytes-in form that works everywhere.
 */
import type * as NodeCrypto from 'node:crypto';
import type * as NodeFs from 'node:fs';
import type * as NodeModule from 'node:module';
import type * as NodeOs from 'node:os';
import type * as NodePath from 'node:path';
import type * as NodeUrl from 'node:url';
import type * as NodeV8 from 'node:v8';
import type * as NodeWorkerThreads from 'node:worker_threads';
import type * as NodeZlib from 'node:zlib';
import { platform as installed } from '#platform';
import { IoError } from './errors.js';

/** Node's own modules, for the Node-only services (files, folders, gzip, worker_threads). */
export interface NodeServices {
  readonly fs: typeof NodeFs;
  readonly path: typeof NodePath;
  readonly os: typeof NodeOs;
  readonly crypto: typeof NodeCrypto;
  readonly zlib: typeof NodeZlib;
  readonly workerThreads: typeof NodeWorkerThreads;
  readonly module: typeof NodeModule;
  readonly url: typeof NodeUrl;
  /** V8's flags (relaxed SIMD on Node 20, kernels/wasm/assembler.ts). */
  readonly v8: typeof NodeV8;
  /** Node's `process` (pid, execArgv, version, kill). */
  readonly process: NodeJS.Process;
  /**
   * Source text that opens a kernel-pool worker under `worker_threads` (eval'd CommonJS): defines
   * `control`, `index` and `port` from its workerData, `receive()` (the next message on the port
   * or undefined, without waiting) and `onExit(fn)`. Kept here so browser bundles carry none of it.
   */
  readonly workerPrelude: string;
}

/** What the host is and runs on, for cache keys and run records. */
export interface HostFacts {
  /** Node's version (`v20.11.0`), or the browser's user agent. */
  readonly runtime: string;
  /** `linux-x64`, or `browser`. */
  readonly os: string;
  /** CPU model name, or `unknown` where the host does not say (browsers). */
  readonly cpuModel: string;
  /** Logical cores. */
  readonly cores: number;
}

/** The services that differ between Node and browsers. */
export interface Platform {
  readonly name: 'node' | 'browser';
  /** An environment variable, or undefined (browsers have none). */
  env(name: string): string | undefined;
  /** Logical cores the kernels may use (`os.availableParallelism()`, `navigator.hardwareConcurrency`); at least 1. */
  cores(): number;
  /** What the host is (see {@link HostFacts}). */
  hostFacts(): HostFacts;
  /** Reports a one-time warning (`process.emitWarning` in Node, `console.warn` in browsers). */
  warn(message: string, code: string): void;
  /** Lowercase hex SHA-256 of the bytes of `parts` in order. */
  sha256Hex(parts: readonly ArrayBufferView[]): string;
  /** Node's modules, or null in a browser (see {@link nodeServices}). */
  readonly node: NodeServices | null;
}

let current: Platform = installed;

/**
 * The platform in use: Node's under Node, the browser one in browser bundles (unless replaced).
 * @example platform().cores() // 2 on a 2-core machine
 */
export function platform(): Platform {
  return current;
}

/**
 * Replaces the platform (undefined: back to the one module resolution picked). For tests that
 * play a browser under Node, and for embedders.
 * @example setPlatform({ ...platform(), cores: () => 1 })
 */
export function setPlatform(p: Platform | undefined): void {
  current = p ?? installed;
}

/**
 * Node's own modules, for a service that only exists where there is a file system; in a browser
 * an {@link IoError} naming `what` and the bytes-in way around it.
 * @example const { fs } = nodeServices('reading the MNIST folder data/');
 */
export function nodeServices(what: string): NodeServices {
  const n = current.node;
  if (n === null) throw new IoError(what, `needs Node's file system, which a ${current.name} does not have; pass the bytes instead (e.g. loadTernaryModel(bytes), or fetch them with the *FromUrl loaders)`);
  return n;
}
