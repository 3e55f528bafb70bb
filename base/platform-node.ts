/**
 * The Node implementation of the platform layer (base/platform.ts), chosen by package.json's
 * `imports` for `#platform` under the `node` condition. The only file below the shells that
 * imports `node:*` modules.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as module from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import * as url from 'node:url';
import * as v8 from 'node:v8';
import * as workerThreads from 'node:worker_threads';
import * as zlib from 'node:zlib';
import type { HostFacts, NodeServices, Platform } from './platform.js';

const workerPrelude = `
const { workerData, receiveMessageOnPort } = require('node:worker_threads');
const { control, index, port } = workerData;
const receive = () => receiveMessageOnPort(port);
const onExit = (fn) => process.on('exit', fn);
`;

const node: NodeServices = { fs, path, os, crypto, zlib, workerThreads, module, url, v8, process, workerPrelude };

/** Node's platform: `process.env`, `os.availableParallelism()`, `node:crypto`, and Node's modules. */
export const platform: Platform = {
  name: 'node',
  env: (name) => process.env[name],
  cores: () => Math.max(1, os.availableParallelism()),
  hostFacts: (): HostFacts => {
    const c = os.cpus();
    return { runtime: process.version, os: `${process.platform}-${process.arch}`, cpuModel: c[0]?.model.trim() ?? 'unknown', cores: c.length };
  },
  warn: (message, code) => process.emitWarning(message, { code }),
  sha256Hex: (parts) => {
    const h = crypto.createHash('sha256');
    for (const p of parts) h.update(new Uint8Array(p.buffer, p.byteOffset, p.byteLength));
    return h.digest('hex');
  },
  node,
};
