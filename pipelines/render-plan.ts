/**
 * The window plan of an offline render: how the clip is cut into generation windows and
 * feature chunks, and how far decoding may read ahead of them.
 */

/**
 * Frames at a window's end that the next window regenerates (generateWindows). 100-frame
 * windows, 20 overlapping, first 30 test clips: onset F1 0.887 keeping the whole overlap,
 * 0.899 / 0.903 / 0.901 regenerating 2 / 4 / 8 frames; the whole-clip render scores 0.903.
 */
export const REGENERATED_TAIL_FRAMES = 4;

/** Window plan value meaning "one window over the whole clip". */
export const WHOLE_CLIP = 0;

/** Frames per video-encoder run of a whole-clip render, unless the settings name one. */
const WHOLE_CLIP_FEATURE_CHUNK_FRAMES = 50;

export interface ReadAhead {
  /** Frames decoding may run past the last feature chunk encoded. */
  ofFeatures: number;
  /** Frames decoding may run past the last window generated (infinite for a whole clip). */
  ofAudio: number;
}

/**
 * How far decoding may run ahead: frames past the last feature chunk encoded, and (with
 * windows) past the last window generated. Enough for the next feature chunk and the next
 * window to be planned while the current one runs, so memory stays flat in the clip's length.
 */
export function readAheadFrames(plan: {
  windowFrames: number;
  chunkFrames: number;
  contextFrames: number;
}): ReadAhead {
  const { windowFrames, chunkFrames, contextFrames } = plan;
  return {
    ofFeatures: 2 * (chunkFrames + contextFrames),
    ofAudio:
      windowFrames === WHOLE_CLIP
        ? Number.POSITIVE_INFINITY
        : 2 * windowFrames + chunkFrames + 2 * contextFrames + 1,
  };
}

export interface RenderPlan {
  /** Latent frames per generated window (MAX_SAFE_INTEGER for a whole clip). */
  windowFrames: number;
  /** Frames shared by consecutive windows (0 for a whole clip). */
  overlapFrames: number;
  /** Frames per video-encoder run. */
  chunkFrames: number;
  /** Frames of context the video encoder sees on each side of a chunk. */
  contextFrames: number;
  readAhead: ReadAhead;
}

/** The plan for `windowFrames` (WHOLE_CLIP or a window length) and the bundle's context. */
export function planRender(settings: {
  windowFrames: number;
  overlapFrames: number;
  featureChunkFrames?: number;
  contextFrames: number;
}): RenderPlan {
  const whole = settings.windowFrames === WHOLE_CLIP;
  const windowFrames = whole ? Number.MAX_SAFE_INTEGER : settings.windowFrames;
  const overlapFrames = whole ? 0 : settings.overlapFrames;
  const chunkFrames =
    settings.featureChunkFrames ?? (whole ? WHOLE_CLIP_FEATURE_CHUNK_FRAMES : windowFrames - overlapFrames);
  const { contextFrames } = settings;
  return {
    windowFrames,
    overlapFrames,
    chunkFrames,
    contextFrames,
    readAhead: readAheadFrames({ windowFrames: settings.windowFrames, chunkFrames, contextFrames }),
  };
}
