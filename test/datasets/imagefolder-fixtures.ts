/**
 * Small image folders (torchvision ImageFolder layout) generated in a temp folder with the encoders
 * of the decoder packages themselves (jpeg-js, pngjs), for the image-folder dataset's tests.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';

/** RGBA pixels of `width × height` from `color(x, y) → [r, g, b]`. */
export function rgba(width: number, height: number, color: (x: number, y: number) => readonly [number, number, number]): Uint8Array {
  const d = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b] = color(x, y);
      const o = (y * width + x) * 4;
      d[o] = r;
      d[o + 1] = g;
      d[o + 2] = b;
      d[o + 3] = 255;
    }
  }
  return d;
}

/** A PNG file's bytes. */
export function pngBytes(width: number, height: number, color: (x: number, y: number) => readonly [number, number, number]): Uint8Array {
  const png = new pngjs.PNG({ width, height });
  png.data = Buffer.from(rgba(width, height, color));
  return new Uint8Array(pngjs.PNG.sync.write(png));
}

/** A JPEG file's bytes (quality 95). */
export function jpegBytes(width: number, height: number, color: (x: number, y: number) => readonly [number, number, number]): Uint8Array {
  return new Uint8Array(jpeg.encode({ width, height, data: rgba(width, height, color) }, 95).data);
}

/** Writes `bytes` at `root/rel`, creating folders. */
export function put(root: string, rel: string, bytes: Uint8Array | string): void {
  const p = join(root, rel);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, bytes);
}

/** The colour of class `c` (0..2), distinct per channel so a class mix-up shows. */
export const CLASS_COLORS: ReadonlyArray<readonly [number, number, number]> = [[200, 30, 30], [30, 200, 30], [30, 30, 200]];

/**
 * `root/{train,val}/{ant,bee,cat}/…`: `perClass` training images per class (alternating JPEG and
 * PNG, sizes varying around 40×30, one in a nested subfolder), 2 validation images per class, and a
 * `README.txt` in one class folder (not an image). Classes sorted: ant = 0, bee = 1, cat = 2; each
 * image is its class colour with a diagonal pattern.
 */
export function writeImageFolder(root: string, perClass = 4): void {
  const names = ['cat', 'ant', 'bee']; // written out of order: the class order must come from sorting
  for (const name of names) {
    const c = ['ant', 'bee', 'cat'].indexOf(name);
    const [r, g, b] = CLASS_COLORS[c];
    const color = (x: number, y: number): [number, number, number] => [r, g, (b + 5 * ((x + y) % 8)) % 256];
    for (let i = 0; i < perClass; i++) {
      const w = 40 + 3 * i;
      const h = 30 + 5 * ((i + c) % 3);
      const sub = i === perClass - 1 ? 'nested/' : '';
      put(root, `train/${name}/${sub}img${i}.${i % 2 === 0 ? 'jpg' : 'png'}`, i % 2 === 0 ? jpegBytes(w, h, color) : pngBytes(w, h, color));
    }
    for (let i = 0; i < 2; i++) put(root, `val/${name}/v${i}.${i === 0 ? 'JPEG' : 'png'}`, i === 0 ? jpegBytes(36, 48, color) : pngBytes(50, 33, color));
  }
  put(root, 'train/bee/README.txt', 'not an image');
}
