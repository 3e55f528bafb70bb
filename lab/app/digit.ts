/**
 * A drawn digit as MNIST presents its digits: the ink's bounding box scaled to fit 20×20 (aspect
 * kept, area-averaged), placed in a 28×28 image with its centre of mass at the centre. Without this
 * step a digit drawn small or off-centre is a different input from anything the model saw.
 * Pure functions over pixel arrays, so Node tests check them without a browser.
 */

/** Side of the box the ink is scaled into (MNIST: 20 px inside 28). */
const BOX = 20;
/** Output side. */
const SIDE = 28;

/**
 * Ink intensity in [0, 1] per pixel of an RGBA image drawn white (or any light colour) on black:
 * the mean of R, G and B.
 */
export function inkFromRgba(rgba: Uint8ClampedArray | Uint8Array, width: number, height: number): Float32Array {
  if (rgba.length !== width * height * 4) throw new RangeError(`expected ${width}×${height}×4 RGBA bytes, got ${rgba.length}`);
  const ink = new Float32Array(width * height);
  for (let i = 0; i < ink.length; i++) ink[i] = (rgba[4 * i] + rgba[4 * i + 1] + rgba[4 * i + 2]) / 765;
  return ink;
}

/**
 * MNIST-style 28×28 image (values in [0, 1]) from an ink image of any size; `null` when nothing
 * is drawn (no pixel above 0.05).
 * @example mnistFromInk(inkFromRgba(ctx.getImageData(0, 0, 280, 280).data, 280, 280), 280, 280)
 */
export function mnistFromInk(ink: Float32Array, width: number, height: number): Float32Array | null {
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (ink[y * width + x] > 0.05) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  if (x1 < 0) return null;
  const bw = x1 - x0 + 1;
  const bh = y1 - y0 + 1;
  const scale = BOX / Math.max(bw, bh);
  const ow = Math.max(1, Math.round(bw * scale));
  const oh = Math.max(1, Math.round(bh * scale));
  // Area average: each output pixel takes the mean ink of the source rectangle it covers.
  const small = new Float32Array(ow * oh);
  for (let oy = 0; oy < oh; oy++) {
    const sy0 = y0 + (oy * bh) / oh;
    const sy1 = y0 + ((oy + 1) * bh) / oh;
    for (let ox = 0; ox < ow; ox++) {
      const sx0 = x0 + (ox * bw) / ow;
      const sx1 = x0 + ((ox + 1) * bw) / ow;
      let sum = 0;
      let area = 0;
      for (let y = Math.floor(sy0); y < Math.ceil(sy1); y++) {
        const wy = Math.min(y + 1, sy1) - Math.max(y, sy0);
        for (let x = Math.floor(sx0); x < Math.ceil(sx1); x++) {
          const wx = Math.min(x + 1, sx1) - Math.max(x, sx0);
          sum += ink[y * width + x] * wx * wy;
          area += wx * wy;
        }
      }
      small[oy * ow + ox] = area > 0 ? sum / area : 0;
    }
  }
  let mass = 0;
  let cx = 0;
  let cy = 0;
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const v = small[y * ow + x];
      mass += v;
      cx += v * x;
      cy += v * y;
    }
  }
  // Centre of mass (pixel centres at +0.5) moved to the image centre, 14.
  const dx = Math.round(SIDE / 2 - (cx / mass + 0.5));
  const dy = Math.round(SIDE / 2 - (cy / mass + 0.5));
  const out = new Float32Array(SIDE * SIDE);
  for (let y = 0; y < oh; y++) {
    const ty = y + dy;
    if (ty < 0 || ty >= SIDE) continue;
    for (let x = 0; x < ow; x++) {
      const tx = x + dx;
      if (tx >= 0 && tx < SIDE) out[ty * SIDE + tx] = Math.min(1, small[y * ow + x]);
    }
  }
  return out;
}
