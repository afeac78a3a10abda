/**
 * Frame-axis helpers for latents in [channels, frames, melBins] layout (batch dropped) and
 * for frame-major arrays such as video features [frames, dim].
 */

export interface LatentShape {
  channels: number;
  frames: number;
  melBins: number;
}

export function latentSize(shape: LatentShape): number {
  return shape.channels * shape.frames * shape.melBins;
}

/** Copies frames [start, start + count) of a latent into a new latent of `count` frames. */
export function sliceLatentFrames(
  latent: Float32Array,
  shape: LatentShape,
  start: number,
  count: number,
): Float32Array {
  const { channels, frames, melBins } = shape;
  const out = new Float32Array(channels * count * melBins);
  for (let c = 0; c < channels; c++) {
    const from = (c * frames + start) * melBins;
    out.set(latent.subarray(from, from + count * melBins), c * count * melBins);
  }
  return out;
}

/** Writes `src` (srcFrames frames) into `dst` starting at frame `at`. */
export function writeLatentFrames(
  dst: Float32Array,
  dstShape: LatentShape,
  src: Float32Array,
  srcFrames: number,
  at: number,
): void {
  const { channels, frames, melBins } = dstShape;
  for (let c = 0; c < channels; c++) {
    dst.set(
      src.subarray(c * srcFrames * melBins, (c + 1) * srcFrames * melBins),
      (c * frames + at) * melBins,
    );
  }
}

/** Frame-major rows [frames, width]: rows [start, start+count), padding past the end by repeating the last row. */
export function sliceRowsPadded(
  rows: Float32Array,
  width: number,
  start: number,
  count: number,
): Float32Array {
  const total = rows.length / width;
  const out = new Float32Array(count * width);
  for (let i = 0; i < count; i++) {
    const src = Math.min(Math.max(start + i, 0), total - 1);
    out.set(rows.subarray(src * width, (src + 1) * width), i * width);
  }
  return out;
}

/** Smallest multiple of `multiple` that is >= n. */
export function roundUpTo(n: number, multiple: number): number {
  return Math.ceil(n / multiple) * multiple;
}
