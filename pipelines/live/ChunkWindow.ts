/**
 * The latent window a live chunk is sampled in: already generated context, the chunk's new
 * frames, then guard frames that are generated and thrown away (the decoder and vocoder
 * misbehave near the right edge of their input; the next chunk regenerates those frames
 * from the real video).
 *
 * The window is padded to the latent's timeMultiple with more context, never with more
 * guard. Guard frames past the exact look-ahead features repeat the last one; a feature
 * that stops changing reads as an object coming to rest, a contact, and the model sounded
 * one near the chunk's end. On the first 30 test clips the live chunker made 408 onsets
 * for 342 events with the 4-frame guard that padding gave, 370 with 2 (the whole-clip
 * render makes 361); a 1-frame guard made 387, the decoder's edge too close.
 */
import { roundUpTo } from '../../src/diffusion/latent-frames.js';

export interface ChunkWindowRequest {
  /** Context frames the quality level asks for. */
  contextFrames: number;
  /** Generated frames before the chunk that may serve as context (the segment's so far). */
  availableFrames: number;
  chunkFrames: number;
  guardFrames: number;
  /** The latent's timeMultiple: the window's length is a multiple of it. */
  multiple: number;
}

export interface ChunkWindow {
  /** Context frames, the window's first: at least contextFrames when available allows. */
  knownFrames: number;
  /** The whole window: knownFrames + chunkFrames + guard (guardFrames unless context ran short). */
  frames: number;
}

export function chunkWindow(r: ChunkWindowRequest): ChunkWindow {
  const newFrames = r.chunkFrames + r.guardFrames;
  const wanted = roundUpTo(r.contextFrames + newFrames, r.multiple) - newFrames;
  const knownFrames = Math.max(0, Math.min(wanted, r.availableFrames));
  return { knownFrames, frames: roundUpTo(knownFrames + newFrames, r.multiple) };
}
