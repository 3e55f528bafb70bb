/**
 * JPEG and PNG images for the image-folder dataset: header reading with size limits checked before
 * any pixel is allocated, decoding to 8-bit RGB with the pure-JS `jpeg-js` and `pngjs`, PIL-style
 * antialiased bilinear resampling, and the standard ImageNet transforms (torchvision's
 * `RandomResizedCrop` + horizontal flip for training, `Resize` + `CenterCrop` for evaluation) that
 * write a planar `[3, S, S]` uint8 sample.
 *
 * JPEG decodes everywhere; PNG only under Node: `pngjs` is built on Node's zlib and streams, so it
 * is loaded on first use through the platform layer and stays out of browser bundles (a page
 * decodes its images itself, e.g. with `createImageBitmap`).
 */
import jpeg from 'jpeg-js';
import type PngJs from 'pngjs';
import { platform } from '../base/platform.js';
import type { Rng } from '../base/rng.js';
import { DatasetError } from './dataset.js';

let pngjsModule: typeof PngJs | undefined;
/** `pngjs`, required on first use (Node only). */
function pngjs(file: string): typeof PngJs {
  const node = platform().node;
  if (node === null) throw new DatasetError(file, 'PNG decoding needs Node (pngjs is built on its zlib); in a browser decode the image with createImageBitmap and pass its pixels');
  pngjsModule ??= node.module.createRequire(import.meta.url)('pngjs') as typeof PngJs;
  return pngjsModule;
}

/** Largest width or height accepted (checked from the header, before decoding). */
export const MAX_IMAGE_SIDE = 16384;
/** Largest width × height accepted: 40 MP, 120 MB of RGB (ImageNet's largest photos are under 10 MP). */
export const MAX_IMAGE_PIXELS = 40_000_000;
/** Largest image file read. */
export const MAX_IMAGE_FILE_BYTES = 64 * 1024 * 1024;

/** An 8-bit RGB image, interleaved (`data[(y·width + x)·3 + c]`). */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** What an image file's header says. */
export interface ImageHeader {
  format: 'jpeg' | 'png';
  width: number;
  height: number;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * Format and dimensions from the first bytes of a JPEG (the SOF marker) or PNG (IHDR) file.
 * @throws DatasetError naming `file` when the bytes are neither, or the header is cut short
 * @example readImageHeader(bytes, 'cat.png') // { format: 'png', width: 64, height: 48 }
 */
export function readImageHeader(bytes: Uint8Array, file: string): ImageHeader {
  if (bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b)) {
    if (bytes.length < 24 || String.fromCharCode(...bytes.subarray(12, 16)) !== 'IHDR') throw new DatasetError(file, 'PNG without its IHDR header (truncated or damaged)');
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    return { format: 'png', width: v.getUint32(16), height: v.getUint32(20) };
  }
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8) {
    // Walk the marker segments to the first start-of-frame (SOF0–SOF15 except DHT C4, JPG C8, DAC CC).
    let p = 2;
    while (p + 4 <= bytes.length) {
      if (bytes[p] !== 0xff) throw new DatasetError(file, `JPEG marker expected at byte ${p}, found 0x${bytes[p].toString(16)} (damaged file)`);
      const m = bytes[p + 1];
      if (m === 0xff) {
        p++;
        continue;
      }
      if (m === 0xd8 || (m >= 0xd0 && m <= 0xd7) || m === 0x01) {
        p += 2;
        continue;
      }
      if (m === 0xd9 || m === 0xda) break;
      const len = (bytes[p + 2] << 8) | bytes[p + 3];
      if (len < 2) throw new DatasetError(file, `JPEG segment 0x${m.toString(16)} of length ${len} (damaged file)`);
      if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
        if (p + 9 > bytes.length) break;
        return { format: 'jpeg', height: (bytes[p + 5] << 8) | bytes[p + 6], width: (bytes[p + 7] << 8) | bytes[p + 8] };
      }
      p += 2 + len;
    }
    throw new DatasetError(file, 'JPEG without a frame header before its image data (truncated or damaged)');
  }
  throw new DatasetError(file, 'neither a JPEG nor a PNG image (unknown signature)');
}

/**
 * Decodes a JPEG or PNG file's bytes to 8-bit RGB (an alpha channel is dropped, as PIL's
 * `convert('RGB')` does; grey and palette images become RGB). The header's dimensions are checked
 * against {@link MAX_IMAGE_SIDE} and {@link MAX_IMAGE_PIXELS} first, so a hostile header cannot
 * make the decoder allocate.
 * @throws DatasetError naming `file` for an unknown, damaged or oversized image
 * @example const img = decodeImage(readFileSync(p), p);
 */
export function decodeImage(bytes: Uint8Array, file: string): RgbImage {
  const h = readImageHeader(bytes, file);
  if (h.width < 1 || h.height < 1) throw new DatasetError(file, `${h.format.toUpperCase()} header says ${h.width}×${h.height} pixels`);
  if (h.width > MAX_IMAGE_SIDE || h.height > MAX_IMAGE_SIDE || h.width * h.height > MAX_IMAGE_PIXELS) {
    throw new DatasetError(file, `${h.format.toUpperCase()} of ${h.width}×${h.height} pixels exceeds the limit (sides ≤ ${MAX_IMAGE_SIDE}, ≤ ${MAX_IMAGE_PIXELS / 1e6} MP)`, 'Downscale it, or remove it from the folder');
  }
  let rgb: RgbImage;
  try {
    if (h.format === 'jpeg') {
      const d = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6, maxMemoryUsageInMB: 1024 });
      rgb = { width: d.width, height: d.height, data: d.data };
    } else {
      const d = pngjs(file).PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
      const data = new Uint8Array(d.width * d.height * 3);
      for (let i = 0, o = 0; o < data.length; i += 4, o += 3) {
        data[o] = d.data[i];
        data[o + 1] = d.data[i + 1];
        data[o + 2] = d.data[i + 2];
      }
      rgb = { width: d.width, height: d.height, data };
    }
  } catch (e) {
    throw new DatasetError(file, `cannot decode the ${h.format.toUpperCase()} image (${(e as Error).message})`);
  }
  if (rgb.width !== h.width || rgb.height !== h.height || rgb.data.length !== rgb.width * rgb.height * 3) {
    throw new DatasetError(file, `decoded ${rgb.width}×${rgb.height} pixels, the header says ${h.width}×${h.height}`);
  }
  return rgb;
}

/** A source rectangle `[x0, x1) × [y0, y1)` in (fractional) pixel coordinates. */
export interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** PIL's bilinear (triangle) filter coefficients for output pixels `first … first+count−1` of `outSize`. */
function coefficients(inSize: number, in0: number, in1: number, outSize: number, first: number, count: number): { start: Int32Array; len: Int32Array; w: Float32Array; taps: number } {
  const scale = (in1 - in0) / outSize;
  const filterscale = Math.max(scale, 1);
  const support = filterscale; // the triangle's support is 1, widened when downscaling (antialiasing)
  const taps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(count);
  const len = new Int32Array(count);
  const w = new Float32Array(count * taps);
  for (let k = 0; k < count; k++) {
    const center = in0 + (first + k + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let sum = 0;
    const n = Math.min(xmax, taps);
    for (let x = 0; x < n; x++) {
      const t = Math.abs((x + xmin - center + 0.5) / filterscale);
      const v = t < 1 ? 1 - t : 0;
      w[k * taps + x] = v;
      sum += v;
    }
    if (sum > 0) for (let x = 0; x < n; x++) w[k * taps + x] /= sum;
    start[k] = xmin;
    len[k] = n;
  }
  return { start, len, w, taps };
}

/**
 * Resamples `box` of `img` to an `outW × outH` image (antialiased bilinear, as PIL's
 * `resize(size, BILINEAR, box)`) and writes its window `[left, left+S) × [top, top+S)` planar
 * into `out` (`out[c·S² + y·S + x]`, `S = side`). Computing only the window lets a resize and a
 * center crop run as one pass.
 */
export function resampleInto(img: RgbImage, box: Box, outW: number, outH: number, left: number, top: number, side: number, out: Uint8Array): void {
  const cx = coefficients(img.width, box.x0, box.x1, outW, left, side);
  const cy = coefficients(img.height, box.y0, box.y1, outH, top, side);
  let r0 = img.height;
  let r1 = 0;
  for (let k = 0; k < side; k++) {
    r0 = Math.min(r0, cy.start[k]);
    r1 = Math.max(r1, cy.start[k] + cy.len[k]);
  }
  // Horizontal pass over the source rows the vertical pass reads, then the vertical pass.
  const rows = Math.max(0, r1 - r0);
  const tmp = new Float32Array(rows * side * 3);
  const src = img.data;
  const W = img.width;
  for (let r = 0; r < rows; r++) {
    const rowBase = (r0 + r) * W * 3;
    for (let j = 0; j < side; j++) {
      let a = 0;
      let b = 0;
      let c = 0;
      const s = cx.start[j];
      const base = j * cx.taps;
      for (let t = 0; t < cx.len[j]; t++) {
        const wt = cx.w[base + t];
        const p = rowBase + (s + t) * 3;
        a += wt * src[p];
        b += wt * src[p + 1];
        c += wt * src[p + 2];
      }
      const o = (r * side + j) * 3;
      tmp[o] = a;
      tmp[o + 1] = b;
      tmp[o + 2] = c;
    }
  }
  const plane = side * side;
  for (let i = 0; i < side; i++) {
    const s = cy.start[i] - r0;
    const base = i * cy.taps;
    for (let j = 0; j < side; j++) {
      let a = 0;
      let b = 0;
      let c = 0;
      for (let t = 0; t < cy.len[i]; t++) {
        const wt = cy.w[base + t];
        const p = ((s + t) * side + j) * 3;
        a += wt * tmp[p];
        b += wt * tmp[p + 1];
        c += wt * tmp[p + 2];
      }
      const o = i * side + j;
      out[o] = clampByte(a);
      out[plane + o] = clampByte(b);
      out[2 * plane + o] = clampByte(c);
    }
  }
}

function clampByte(v: number): number {
  return v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
}

/** Python's `round` (half to even), which torchvision's center crop uses. */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d !== 0.5) return Math.round(v);
  return f % 2 === 0 ? f : f + 1;
}

/**
 * torchvision's `RandomResizedCrop.get_params`: up to 10 tries of an area fraction in `scale`
 * and a log-uniform aspect ratio in `ratio` (area first, then ratio, then top, then left), else
 * the central crop clamped to the ratio range. Returns the crop `{ top, left, height, width }`.
 * @example randomResizedCropBox(375, 500, rng)
 */
export function randomResizedCropBox(height: number, width: number, rng: Rng, scale: readonly [number, number] = [0.08, 1], ratio: readonly [number, number] = [3 / 4, 4 / 3]): { top: number; left: number; height: number; width: number } {
  const area = height * width;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * (scale[0] + (scale[1] - scale[0]) * rng.uniform());
    const aspect = Math.exp(logLo + (logHi - logLo) * rng.uniform());
    const w = roundHalfEven(Math.sqrt(target * aspect));
    const h = roundHalfEven(Math.sqrt(target / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = rng.int(height - h + 1);
      const left = rng.int(width - w + 1);
      return { top, left, height: h, width: w };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < ratio[0]) h = roundHalfEven(w / ratio[0]);
  else if (inRatio > ratio[1]) w = roundHalfEven(h * ratio[1]);
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

/**
 * The training transform: {@link randomResizedCropBox} resized to `side × side`, then a
 * horizontal flip with probability ½ (one draw after the crop's draws), into planar `out`.
 * @example trainTransform(img, 224, rng, out)
 */
export function trainTransform(img: RgbImage, side: number, rng: Rng, out: Uint8Array): void {
  const c = randomResizedCropBox(img.height, img.width, rng);
  resampleInto(img, { x0: c.left, y0: c.top, x1: c.left + c.width, y1: c.top + c.height }, side, side, 0, 0, side, out);
  if (rng.uniform() < 0.5) {
    for (let ch = 0; ch < 3; ch++) {
      for (let y = 0; y < side; y++) {
        const row = ch * side * side + y * side;
        for (let a = row, b = row + side - 1; a < b; a++, b--) {
          const t = out[a];
          out[a] = out[b];
          out[b] = t;
        }
      }
    }
  }
}

/**
 * The evaluation transform: resize the shorter side to `round(side · 256/224)` (256 for 224),
 * the longer one in proportion (truncated, as torchvision), then the central `side × side` crop.
 * @example evalTransform(img, 224, out)
 */
export function evalTransform(img: RgbImage, side: number, out: Uint8Array): void {
  const short = Math.round((side * 256) / 224);
  const { width: W, height: H } = img;
  const outW = W <= H ? short : Math.trunc((short * W) / H);
  const outH = W <= H ? Math.trunc((short * H) / W) : short;
  const top = roundHalfEven((outH - side) / 2);
  const left = roundHalfEven((outW - side) / 2);
  resampleInto(img, { x0: 0, y0: 0, x1: W, y1: H }, outW, outH, left, top, side, out);
}
