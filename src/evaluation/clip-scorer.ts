/**
 * Scores generated audio against ground-truth events with the definitions of
 * models/README.md (shared with models/training/foley/metrics.py): onsets of the mel model's
 * output, mir_eval F1 at ±50 ms and matched offsets, and class accuracy of the
 * eval_audio_classifier on mel crops starting 2 frames before each true onset. Without
 * events (label-free), the reference is the onsets the same detector finds in the video's
 * own audio track, and there is no class accuracy.
 */
import { detectOnsets, onsetFrame } from '../dsp/onset-detection.js';
import { type OnsetScores, scoreOnsets } from '../dsp/onset-matching.js';
import { EvalAudioClassifier } from '../models/eval-audio-classifier.js';
import type { InferenceRunner } from '../models/inference-runner.js';
import { MelFrontend } from '../models/mel-frontend.js';
import type { GroundTruthEvent } from './clip-set.js';

export interface ClipScore {
  onsets: OnsetScores;
  correct: number;
  events: number;
  estimatedOnsets: number[];
}

/** Crops [count, melBins, cropFrames] from a mel [melBins, frames], zero-padded at the edges. */
export function eventCrops(
  mel: Float32Array,
  frames: number,
  melBins: number,
  onsetFrames: number[],
  cropFrames: number,
  preOnsetFrames: number,
): Float32Array {
  const out = new Float32Array(onsetFrames.length * melBins * cropFrames);
  onsetFrames.forEach((f, i) => {
    const start = f - preOnsetFrames;
    for (let b = 0; b < melBins; b++) {
      for (let k = 0; k < cropFrames; k++) {
        const src = start + k;
        if (src >= 0 && src < frames) out[(i * melBins + b) * cropFrames + k] = mel[b * frames + src]!;
      }
    }
  });
  return out;
}

/** Onset times (s) of a waveform: the bundle's mel model and the scorer's detector. */
export async function waveformOnsets(runner: InferenceRunner, waveform: Float32Array): Promise<number[]> {
  const { mel, melFrames } = await new MelFrontend(runner).melSpectrogram(waveform);
  return detectOnsets(mel, melFrames, { ...runner.bundle.manifest.audio });
}

/**
 * Scores generated audio against the onsets of a reference soundtrack, cut to the generated
 * length (the generator cannot sound past the video's end); `correct` and `events` are 0.
 */
export async function scoreClipAgainstSoundtrack(
  runner: InferenceRunner,
  waveform: Float32Array,
  soundtrack: Float32Array,
): Promise<ClipScore> {
  const reference = await waveformOnsets(runner, soundtrack.subarray(0, waveform.length));
  const estimated = await waveformOnsets(runner, waveform);
  return {
    onsets: scoreOnsets(reference, estimated, 0.05),
    correct: 0,
    events: 0,
    estimatedOnsets: estimated,
  };
}

export async function scoreClip(
  runner: InferenceRunner,
  waveform: Float32Array,
  events: GroundTruthEvent[],
): Promise<ClipScore> {
  const m = runner.bundle.manifest;
  const { mel, melFrames } = await new MelFrontend(runner).melSpectrogram(waveform);
  const estimated = detectOnsets(mel, melFrames, { ...m.audio });
  const reference = events.map((e) => e.time);
  const onsets = scoreOnsets(reference, estimated, 0.05);
  let correct = 0;
  if (events.length > 0) {
    const frames = reference.map((t) => onsetFrame(t, m.audio));
    const crops = eventCrops(
      mel,
      melFrames,
      m.audio.melBins,
      frames,
      m.eval.cropFrames,
      m.eval.preOnsetFrames,
    );
    const predicted = await new EvalAudioClassifier(runner).classify(crops, events.length);
    predicted.forEach((p, i) => {
      if (m.classes[p] === events[i]!.class) correct++;
    });
  }
  return { onsets, correct, events: events.length, estimatedOnsets: estimated };
}
