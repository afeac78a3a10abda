/**
 * Seeded, counter-based Gaussian noise for latents. The noise of latent frame f depends only
 * on (seed, f), so a window starting at frame 80 gets exactly the noise the whole-clip run
 * gives frames 80.., and a live stream can draw noise for any frame without history.
 * Layout matches the UNet input without batch: [channels, frames, melBins].
 */
import { mulberry32 } from './seeded-random.js';

/** splitmix32-style finalizer: a good 32-bit mix of its input. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Uniforms in (0, 1), never 0: Box–Muller takes their log. */
function uniformSource(state: number): () => number {
  const next = mulberry32(state);
  return () => (next() + 0.5) / 4294967296;
}

/** Standard normals for one latent frame: channels·melBins values in [channel][bin] order. */
export function frameNoise(seed: number, frame: number, count: number): Float32Array {
  const next = uniformSource(mix32(mix32(seed >>> 0) ^ mix32(frame + 0x9e3779b9)));
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    // Box–Muller: two independent normals per pair of uniforms.
    const r = Math.sqrt(-2 * Math.log(next()));
    const theta = 2 * Math.PI * next();
    out[i] = r * Math.cos(theta);
    if (i + 1 < count) out[i + 1] = r * Math.sin(theta);
  }
  return out;
}

/** Noise for frames [startFrame, startFrame + frames) in [channels, frames, melBins] layout. */
export function latentNoise(
  seed: number,
  startFrame: number,
  frames: number,
  channels: number,
  melBins: number,
): Float32Array {
  const out = new Float32Array(channels * frames * melBins);
  for (let f = 0; f < frames; f++) {
    const n = frameNoise(seed, startFrame + f, channels * melBins);
    for (let c = 0; c < channels; c++) {
      out.set(n.subarray(c * melBins, (c + 1) * melBins), (c * frames + f) * melBins);
    }
  }
  return out;
}

/**
 * The noise seed of the sampler's restart k (sampler.ts): its noise is drawn, like the initial
 * noise, by absolute frame, so overlapping windows and live chunks agree frame by frame.
 */
export function restartSeed(seed: number, k: number): number {
  return (seed + Math.imul(k + 1, 0x632be5ab)) >>> 0;
}
