/**
 * Generates the audio of one window of latent frames from its video features, in numbered
 * stages: prepare latents, denoise (guided DDIM), decode latent to mel, vocode mel to
 * waveform. Stateless between windows: the streaming state (known latent) is passed in.
 */
import {
  applyContactGate,
  applyReattackLimit,
  contactProbabilities,
  gateOpenings,
  withOpeningsColumn,
} from '../dsp/contact-gate.js';
import { applyFrameComb } from '../dsp/frame-comb.js';
import { applyMelGate } from '../dsp/mel-gate.js';
import { UsageError } from '../errors.js';
import type { InferenceRunner } from '../models/inference-runner.js';
import { LatentDecoder } from '../models/latent-decoder.js';
import {
  featureRowDim,
  MAX_RESTARTS,
  type Manifest,
  samplesPerFrame,
  unetFeatureDim,
} from '../models/manifest.js';
import { Vocoder } from '../models/vocoder.js';
import { latentNoise, restartSeed } from './gaussian-noise.js';
import {
  type LatentShape,
  roundUpTo,
  sliceLatentFrames,
  sliceRowsPadded,
  writeLatentFrames,
} from './latent-frames.js';
import { restartPasses, type SamplerStep } from './sampler.js';
import { runSamplingJob, type SamplingJob } from './sampling-job.js';
import { DiffusionSchedule } from './schedule.js';
import { raiseColumnAround, silentOpenings, spliceMelAround } from './silent-openings.js';

export interface GenerationSettings {
  /** UNet model key (`unet_student`, `unet_teacher`). */
  unet: string;
  steps: number;
  /** ω of eq. 7/8; 0 skips the unconditional pass. */
  cfgScale: number;
  /** γ of eq. 8; 0 skips the classifier. */
  cgScale: number;
  /** Extra passes of each step at timesteps <= the manifest's restartMaxTimestep (sampler.ts). */
  restarts: number;
  /** Restarts act at timesteps <= this (default the manifest's). */
  restartMaxTimestep: number;
  seed: number;
  /**
   * Gate the vocoder output where the decoded mel sits at its floor (dsp/mel-gate.ts): removes
   * the vocoder's tone at the mel frame rate in silence. Off only to compare with the reference.
   */
  melGate: boolean;
  /**
   * Gate the audio on the contacts the video features show (dsp/contact-gate.ts), when the
   * bundle has a contactGate; off to hear or score the student alone.
   */
  contactGate: boolean;
  /**
   * Blend a comb at the mel hop into quiet stretches (dsp/frame-comb.ts): removes the frame-rate
   * harmonics the mel gate leaves in fading tails. Off only to compare with the reference.
   */
  frameComb: boolean;
}

/** Settings from the manifest's sampling defaults, with any overrides applied and checked. */
export function resolveGenerationSettings(
  manifest: Manifest,
  overrides: Partial<GenerationSettings> = {},
): GenerationSettings {
  const s = manifest.sampling;
  const settings: GenerationSettings = {
    unet: overrides.unet ?? s.unet,
    steps: overrides.steps ?? s.steps,
    cfgScale: overrides.cfgScale ?? s.cfgScale,
    cgScale: overrides.cgScale ?? s.cgScale,
    restarts: overrides.restarts ?? s.restarts,
    restartMaxTimestep: overrides.restartMaxTimestep ?? s.restartMaxTimestep,
    seed: overrides.seed ?? 0,
    melGate: overrides.melGate ?? true,
    contactGate: overrides.contactGate ?? true,
    frameComb: overrides.frameComb ?? true,
  };
  if (!manifest.models[settings.unet]) {
    throw new UsageError(`[generation] bundle ${manifest.name} has no UNet "${settings.unet}"`);
  }
  if (
    !Number.isInteger(settings.steps) ||
    settings.steps < 1 ||
    settings.steps > manifest.schedule.trainSteps
  ) {
    throw new UsageError(
      `[generation] --steps must be an integer in 1..${manifest.schedule.trainSteps}, got ${settings.steps}`,
    );
  }
  if (!(settings.cfgScale >= 0) || !(settings.cgScale >= 0)) {
    throw new UsageError(
      `[generation] --cfg and --cg must be >= 0, got ${settings.cfgScale} and ${settings.cgScale}`,
    );
  }
  if (!Number.isInteger(settings.restarts) || settings.restarts < 0 || settings.restarts > MAX_RESTARTS) {
    throw new UsageError(
      `[generation] --restarts must be an integer in 0..${MAX_RESTARTS}, got ${settings.restarts}`,
    );
  }
  if (!Number.isInteger(settings.seed))
    throw new UsageError(`[generation] --seed must be an integer, got ${settings.seed}`);
  return settings;
}

/**
 * Latent frames generated past a clip's first and last frame (from the edge features) and cut
 * off, so the UNet's, decoder's and vocoder's zero-padded edges fall outside the clip. Without
 * it a swell in the last frames added a false onset to nearly every clip (the Python
 * evaluation uses the same guard: foley/evaluate.py GUARD).
 */
export const CLIP_EDGE_GUARD_FRAMES = 4;

export interface WindowRequest {
  /** Index of the first latent (= video) frame of the window in the stream. */
  startFrame: number;
  /** Video feature rows [frames, featureRowDim] for the window; its frame count is the window length. */
  features: Float32Array;
  /**
   * Frames generated before / after the window from its first / last feature and then cut
   * (CLIP_EDGE_GUARD_FRAMES at a clip's ends). A guard before needs no `known` latent.
   */
  guard?: { before: number; after: number };
  /** Latent of the window's first `frames` frames, [channels, frames, melBins], kept as is. */
  known?: { latent: Float32Array; frames: number };
  /** Overrides the seeded noise, [channels, paddedFrames(guarded frames), melBins] (parity tests). */
  noise?: Float32Array;
  /** Overrides the seeded noise of each restart, same layout (parity tests). */
  restartNoise?: Float32Array[];
  /** Per-window sampling (the live degradation ladder's level); the generator's settings otherwise. */
  sampling?: WindowSampling;
  /** performance.now() ms by which the window's audio is due: orders the shared runner's queue. */
  deadlineMs?: number;
  /**
   * Window frames from this one on have no exact contact read yet (the low-latency preset's
   * newest frames): a student trained for it (manifest sampling.contactUnknown) is told so, and
   * the contact gate opens there at its inexactThreshold where it has one.
   */
  contactUnknownFrom?: number;
}

/** The sampling settings a window may override. */
export type WindowSampling = Pick<GenerationSettings, 'steps' | 'cfgScale' | 'cgScale' | 'restarts'>;

export interface WindowResult {
  startFrame: number;
  frames: number;
  /** [channels, frames, melBins]. */
  latent: Float32Array;
  /** Normalized log-mel [melBins, frames·r]. */
  mel: Float32Array;
  /** frames · samplesPerFrame samples at the bundle's sample rate. */
  waveform: Float32Array;
}

export class FoleyGenerator {
  private readonly schedule: DiffusionSchedule;
  private readonly decoder: LatentDecoder;
  private readonly vocoder: Vocoder;
  private readonly manifest: Manifest;
  /** The UNet also reads the contact detector's column (unetFeatureDim). */
  private readonly unetReadsContact: boolean;

  constructor(
    private readonly runner: InferenceRunner,
    readonly settings: GenerationSettings,
  ) {
    this.manifest = runner.bundle.manifest;
    this.schedule = new DiffusionSchedule(this.manifest.schedule);
    this.unetReadsContact = unetFeatureDim(this.manifest, settings.unet) > this.manifest.features.dim;
    this.decoder = new LatentDecoder(runner);
    this.vocoder = new Vocoder(runner);
  }

  /**
   * The contact-reading student's rows: the detector's column as its manifest says it reads it
   * (openings, gain), then the unknown marker on padded-window frames from `inexactFrom` on.
   */
  private studentRows(rows: Float32Array, dim: number, inexactFrom: number): Float32Array {
    const { contactOpenings, contactGain, contactUnknown } = this.manifest.sampling;
    let read = contactOpenings === null ? rows : withOpeningsColumn(rows, dim, contactOpenings);
    if (contactGain !== 1) {
      if (read === rows) read = rows.slice();
      for (let i = dim - 1; i < read.length; i += dim) read[i] = read[i]! * contactGain;
    }
    return withUnknownContact(read, dim, inexactFrom, contactUnknown);
  }

  /** The padded window length the UNet runs on for `frames` frames. */
  paddedFrames(frames: number): number {
    return roundUpTo(frames, this.manifest.latent.timeMultiple);
  }

  async generate(request: WindowRequest, onStep?: (step: SamplerStep) => void): Promise<WindowResult> {
    const m = this.manifest;
    const dim = featureRowDim(m);
    const frames = request.features.length / dim;
    if (!Number.isInteger(frames) || frames < 1) {
      throw new RangeError(
        `[generator] features hold ${request.features.length} values, not a multiple of dim ${dim}`,
      );
    }

    const before = request.guard?.before ?? 0;
    const after = request.guard?.after ?? 0;
    if (!Number.isInteger(before) || !Number.isInteger(after) || before < 0 || after < 0) {
      throw new RangeError(`[generator] guard frames must be integers >= 0, got ${before} and ${after}`);
    }
    if (before > 0 && request.known && request.known.frames > 0) {
      throw new RangeError('[generator] a window with known head latent cannot have a guard before it');
    }

    // 1. Prepare latents: guards, pad to the UNet's time multiple (edge features repeat),
    //    seeded noise (by absolute frame, so guard frames before a clip draw frames < 0), known frames.
    const padded = this.paddedFrames(before + frames + after);
    const shape: LatentShape = { channels: m.latent.channels, frames: padded, melBins: m.latent.melBins };
    const rows =
      padded === frames ? request.features : sliceRowsPadded(request.features, dim, -before, padded);
    // The classifier takes the video features alone; the UNet also the detector's column when it
    // reads one (unetFeatureDim), and the contact gate reads that column.
    const features = dim === m.features.dim ? rows : featureColumns(rows, dim, m.features.dim);
    // Padded-window frames read before their right context: the student's unknown marker and the gate's inexactThreshold.
    const inexactFrom =
      request.contactUnknownFrom === undefined
        ? Number.POSITIVE_INFINITY
        : Math.max(0, before + request.contactUnknownFrom);
    const unetFeatures = this.unetReadsContact ? this.studentRows(rows, dim, inexactFrom) : features;
    const noise =
      request.noise ??
      latentNoise(this.settings.seed, request.startFrame - before, padded, shape.channels, shape.melBins);
    let known: { latent: Float32Array; frames: number } | undefined;
    if (request.known && request.known.frames > 0) {
      const full = new Float32Array(noise.length);
      writeLatentFrames(full, shape, request.known.latent, request.known.frames, 0);
      known = { latent: full, frames: request.known.frames };
    }

    // 2. Denoise: few-step DDIM with classifier-free and classifier guidance, the whole loop in
    //    an inference worker; on this thread, through the runner, when the caller follows each step.
    const sampling = request.sampling ?? this.settings;
    const order = { deadlineMs: request.deadlineMs };
    const passes = restartPasses(
      this.schedule,
      sampling.steps,
      sampling.restarts,
      this.settings.restartMaxTimestep,
    );
    const restartNoise: Float32Array[] = [];
    for (let k = 0; k < passes; k++) {
      restartNoise.push(
        request.restartNoise?.[k] ??
          latentNoise(
            restartSeed(this.settings.seed, k),
            request.startFrame - before,
            padded,
            shape.channels,
            shape.melBins,
          ),
      );
    }
    const job: SamplingJob = {
      unet: this.settings.unet,
      unetFeatures,
      features,
      shape,
      steps: sampling.steps,
      cfgScale: sampling.cfgScale,
      cgScale: sampling.cgScale,
      cgMaxTimestep: this.manifest.sampling.cgMaxTimestep,
      restarts: sampling.restarts,
      restartMaxTimestep: this.settings.restartMaxTimestep,
      noise,
      known,
      restartNoise,
    };
    const latentPadded = onStep
      ? await runSamplingJob(this.runner, this.schedule, job, order, onStep)
      : (await this.runner.sample(job, order)).latent;

    // 3. Decode the latent to a normalized log-mel and vocode it; where the gate opens on the
    //    student's silence, a second pass with the column raised there gives that stretch of mel.
    const r = m.latent.melFramesPerLatentFrame;
    const spf = samplesPerFrame(m);
    const gate = this.settings.contactGate ? m.contactGate : null;
    const gateProbs = gate ? contactProbabilities(rows, dim, gate) : null;
    let melPadded = await this.decoder.decode(latentPadded, shape, order);
    let vocoded = await this.vocoder.synthesize(melPadded, padded * r, order);
    const gain = m.sampling.silentOpeningGain;
    if (gate && gateProbs && gain !== null && this.unetReadsContact) {
      const fps = m.video.fps;
      // Only openings in the frames this window makes: not known head frames, not guards.
      const first = Math.max(before, known?.frames ?? 0);
      const openings = gateOpenings(gateProbs, gate, inexactFrom).filter(
        (t) => t >= first && t < before + frames,
      );
      const maxDbfs = m.sampling.silentOpeningMaxDbfs;
      const silent = silentOpenings(openings, fps, melPadded, padded * r, vocoded, maxDbfs, m.audio);
      if (silent.length > 0) {
        const again = { ...job, unetFeatures: raiseColumnAround(unetFeatures, dim, silent, gain) };
        const latentAgain = (await this.runner.sample(again, order)).latent;
        const melAgain = await this.decoder.decode(latentAgain, shape, order);
        const melRate = m.audio.sampleRate / m.audio.hopSamples;
        melPadded = spliceMelAround(melPadded, melAgain, m.audio.melBins, padded * r, silent, fps, melRate);
        vocoded = await this.vocoder.synthesize(melPadded, padded * r, order);
      }
    }

    // 4. Gate the waveform where the mel is silent and where the video shows no contact, comb
    //    out the frame-rate tone in quiet stretches, keep each contact's sound from rising again
    //    (where the gate says so), then drop the guards and padding (the gates and the comb see
    //    the guard frames, so they are ready at the clip's and the window's edges).
    const melGated = this.settings.melGate ? applyMelGate(vocoded, melPadded, padded * r, m.audio) : vocoded;
    const contactGated =
      gate && gateProbs
        ? applyContactGate(melGated, gateProbs, spf, m.audio.sampleRate, gate, inexactFrom)
        : melGated;
    const combed = this.settings.frameComb
      ? applyFrameComb(contactGated, melPadded, padded * r, m.audio, { ungated: vocoded })
      : contactGated;
    const waveformPadded =
      gate && gateProbs
        ? applyReattackLimit(combed, gateProbs, spf, m.audio.sampleRate, gate, inexactFrom)
        : combed;
    const latent = padded === frames ? latentPadded : sliceLatentFrames(latentPadded, shape, before, frames);
    const mel =
      padded === frames
        ? melPadded
        : cropMelFrames(melPadded, m.audio.melBins, padded * r, before * r, frames * r);
    const waveform = waveformPadded.slice(before * spf, (before + frames) * spf);
    return { startFrame: request.startFrame, frames, latent, mel, waveform };
  }
}

/** Mel frames [start, start + count) of a [melBins, fromFrames] mel. */
function cropMelFrames(
  mel: Float32Array,
  melBins: number,
  fromFrames: number,
  start: number,
  count: number,
): Float32Array {
  const out = new Float32Array(melBins * count);
  for (let b = 0; b < melBins; b++)
    out.set(mel.subarray(b * fromFrames + start, b * fromFrames + start + count), b * count);
  return out;
}

/**
 * Rows for a UNet that reads the contact column: from padded-window frame `from` on, the column
 * at the bundle's unknown marker (a copy; the gate keeps the reads).
 */
function withUnknownContact(
  rows: Float32Array,
  rowDim: number,
  from: number,
  unknown: number | null,
): Float32Array {
  const frames = rows.length / rowDim;
  if (from >= frames || unknown === null) return rows;
  const out = rows.slice();
  for (let f = from; f < frames; f++) out[(f + 1) * rowDim - 1] = unknown;
  return out;
}

/** The first `columns` values of each row of rows [n, rowDim]. */
function featureColumns(rows: Float32Array, rowDim: number, columns: number): Float32Array {
  const n = rows.length / rowDim;
  const out = new Float32Array(n * columns);
  for (let i = 0; i < n; i++) out.set(rows.subarray(i * rowDim, i * rowDim + columns), i * columns);
  return out;
}
