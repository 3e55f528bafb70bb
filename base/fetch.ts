/**
 * Bytes in, on every platform: a loader's input as a `Uint8Array` whether it came as one or as an
 * `ArrayBuffer`, and the bytes behind a URL (`fetch`, for browsers; Node 20 has it too), read with
 * a size cap so that a hostile or mistaken URL cannot make the page allocate without bound.
 */
import { IoError } from './errors.js';
import { MAX_READ_BYTES } from './io.js';

/**
 * `source` as a Uint8Array over the same memory (no copy).
 * @example bytesOf(await (await fetch(url)).arrayBuffer())
 */
export function bytesOf(source: Uint8Array | ArrayBuffer): Uint8Array {
  return source instanceof Uint8Array ? source : new Uint8Array(source);
}

/** The parts of a `fetch` response the reader uses. */
interface FetchedResponse {
  ok: boolean;
  status: number;
  statusText: string;
  headers: { get(name: string): string | null };
  body: { getReader(): { read(): Promise<{ done: boolean; value?: Uint8Array }>; cancel(): Promise<void> } } | null;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/**
 * The bytes at `url`, fetched with `init` (headers, credentials, an AbortSignal). A failed request,
 * an HTTP error status, or a body longer than `maxBytes` (refused from `Content-Length` before
 * reading, else while streaming) is an {@link IoError} naming the URL.
 * @example const bytes = await fetchBytes('models/lenet5.ec2t.safetensors');
 */
export async function fetchBytes(url: string | URL, maxBytes = MAX_READ_BYTES, init?: RequestInit): Promise<Uint8Array> {
  const name = String(url);
  const fetcher = (globalThis as { fetch?: (u: string | URL, i?: RequestInit) => Promise<unknown> }).fetch;
  if (typeof fetcher !== 'function') throw new IoError(name, 'cannot fetch: this environment has no fetch(); pass the bytes instead');
  let res: FetchedResponse;
  try {
    res = (await fetcher(url, init)) as FetchedResponse;
  } catch (e) {
    throw new IoError(name, `cannot fetch: ${(e as Error)?.message ?? String(e)}`);
  }
  if (!res.ok) throw new IoError(name, `cannot fetch: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) throw new IoError(name, `the response is ${declared} bytes, above the ${maxBytes}-byte limit of this reader`);
  if (res.body === null) {
    const whole = new Uint8Array(await res.arrayBuffer());
    if (whole.length > maxBytes) throw new IoError(name, `the response is ${whole.length} bytes, above the ${maxBytes}-byte limit of this reader`);
    return whole;
  }
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done || value === undefined) break;
    total += value.length;
    if (total > maxBytes) {
      await reader.cancel();
      throw new IoError(name, `the response is more than ${maxBytes} bytes, the limit of this reader`);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
