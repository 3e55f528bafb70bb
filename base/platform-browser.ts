/**
 * The browser (and Web Worker) implementation of the platform layer (base/platform.ts), chosen by
 * package.json's `imports` for `#platform` under the `browser` condition. No environment
 * variables, no files (every loader has a bytes-in form), cores from `navigator.hardwareConcurrency`,
 * SHA-256 in plain TypeScript (the browser's own is asynchronous only).
 */
import type { HostFacts, Platform } from './platform.js';
import { sha256Hex } from './sha256.js';

interface BrowserNavigator { hardwareConcurrency?: number; userAgent?: string }

function navigatorOf(): BrowserNavigator {
  return ((globalThis as { navigator?: BrowserNavigator }).navigator) ?? {};
}

function cores(): number {
  const n = navigatorOf().hardwareConcurrency;
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 ? n : 1;
}

const warned = new Set<string>();

/** The browser's platform. */
export const platform: Platform = {
  name: 'browser',
  env: () => undefined,
  cores,
  hostFacts: (): HostFacts => ({ runtime: navigatorOf().userAgent ?? 'unknown browser', os: 'browser', cpuModel: 'unknown', cores: cores() }),
  warn: (message, code) => {
    if (warned.has(message)) return;
    warned.add(message);
    console.warn(`(${code}) ${message}`);
  },
  sha256Hex,
  node: null,
};
