/**
 * Boundary-artifact measure for windowed generation. A click or gap at a join shows up as a
 * burst of broadband spectral flux; a level dip as lower RMS across the join.
 *
 * - fluxRatio: mean positive spectral flux (512-point STFT, hop 128, flux normalized by the
 *   frame's magnitude sum) in the frames whose centre is within ±20 ms of a join, divided by
 *   the mean over all frames. ≈ 1: joins look like anywhere else; ≫ 1: audible seams.
 * - levelRatioDb: RMS within ±20 ms of each join against RMS over the surrounding ±200 ms,
 *   averaged over joins, in dB. ≈ 0: no dip; negative: a dip at the join.
 */
import { magnitudeFrames } from './fft.js';

export interface BoundaryArtifacts {
  joins: number;
  fluxRatio: number;
  levelRatioDb: number;
}

const FFT_SIZE = 512;
const HOP = 128;

function rms(x: Float32Array, from: number, to: number): number {
  const a = Math.max(0, from);
  const b = Math.min(x.length, to);
  if (b <= a) return 0;
  let s = 0;
  for (let i = a; i < b; i++) s += x[i]! * x[i]!;
  return Math.sqrt(s / (b - a));
}

export function measureBoundaryArtifacts(
  waveform: Float32Array,
  sampleRate: number,
  joinSamples: number[],
): BoundaryArtifacts {
  const frames = magnitudeFrames(waveform, FFT_SIZE, HOP);
  const flux = new Float64Array(frames.length);
  for (let i = 1; i < frames.length; i++) {
    let pos = 0;
    let total = 1e-9;
    for (let k = 0; k < frames[i]!.length; k++) {
      const d = frames[i]![k]! - frames[i - 1]![k]!;
      if (d > 0) pos += d;
      total += frames[i]![k]!;
    }
    flux[i] = pos / total;
  }
  const near = Math.round(0.02 * sampleRate);
  const around = Math.round(0.2 * sampleRate);
  const atJoin: number[] = [];
  for (let i = 1; i < frames.length; i++) {
    const centre = i * HOP + FFT_SIZE / 2;
    if (joinSamples.some((j) => Math.abs(centre - j) <= near)) atJoin.push(flux[i]!);
  }
  const meanAll = flux.reduce((a, b) => a + b, 0) / Math.max(1, flux.length - 1);
  const meanJoin = atJoin.length ? atJoin.reduce((a, b) => a + b, 0) / atJoin.length : meanAll;
  const levels = joinSamples.map((j) => {
    const inner = rms(waveform, j - near, j + near);
    const outer = rms(waveform, j - around, j + around);
    return 20 * Math.log10((inner + 1e-9) / (outer + 1e-9));
  });
  return {
    joins: joinSamples.length,
    fluxRatio: meanAll > 0 ? meanJoin / meanAll : 1,
    levelRatioDb: levels.length ? levels.reduce((a, b) => a + b, 0) / levels.length : 0,
  };
}
