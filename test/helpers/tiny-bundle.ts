/** The committed random-weight bundle, its reference vectors, and copies to break. */
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/models/bundle.js';
import { TINY_BUNDLE_DIR } from './media-fixtures.js';

export interface ReferenceCase {
  unet: string;
  steps: number;
  cfgScale: number;
  cgScale: number;
  latent: number[];
  /** Cases sampled with restarts: their count, last timestep and noise in order. */
  restarts?: number;
  restartMaxTimestep?: number;
  restartNoise?: number[][];
}

export interface Reference {
  numFrames: number;
  features: number[];
  noise: number[];
  cases: ReferenceCase[];
  mel: number[];
  waveform: number[];
}

export function loadReference(dir = TINY_BUNDLE_DIR): Reference {
  return JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as Reference;
}

/** Frames of models/README.md: frames[t][y][x][c] = (7t + 3y + 5x + 11c) mod 256. */
export function referenceFrames(numFrames: number, width = 96, height = 96): Uint8Array {
  const out = new Uint8Array(numFrames * height * width * 3);
  let i = 0;
  for (let t = 0; t < numFrames; t++)
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++)
        for (let c = 0; c < 3; c++) out[i++] = (7 * t + 3 * y + 5 * x + 11 * c) % 256;
  return out;
}

/** A copy of the tiny bundle whose manifest has been edited by `edit`; remove with `cleanup`. */
export function brokenBundleCopy(edit: (manifest: Record<string, unknown>) => void): {
  dir: string;
  cleanup(): void;
} {
  const root = mkdtempSync(join(tmpdir(), 'foley-bundle-'));
  const dir = join(root, 'tiny-broken');
  cpSync(TINY_BUNDLE_DIR, dir, { recursive: true });
  const manifestPath = join(dir, 'manifest.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  edit(manifest);
  writeFileSync(manifestPath, JSON.stringify(manifest));
  return { dir, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/**
 * A copy of the tiny bundle with test/fixtures/contact-detector-tiny.onnx (random weights) and
 * a contact gate that reads it (`gate`: its shape).
 */
export function detectorBundleCopy(
  gate: Record<string, number>,
  edit?: (manifest: Record<string, unknown>) => void,
): { dir: string; cleanup(): void } {
  const copy = brokenBundleCopy((m) => {
    (m.models as Record<string, unknown>).contact_detector = {
      file: 'contact_detector.onnx',
      inputs: [{ name: 'frames', dtype: 'uint8', shape: ['batch', 'frames', 96, 96, 3] }],
      outputs: [{ name: 'contact', dtype: 'float32', shape: ['batch', 'frames'] }],
    };
    m.contactGate = { source: 'detector', ...gate };
    edit?.(m);
  });
  copyFileSync(
    join(packageRoot(), 'test', 'fixtures', 'contact-detector-tiny.onnx'),
    join(copy.dir, 'contact_detector.onnx'),
  );
  return copy;
}

/**
 * detectorBundleCopy with test/fixtures/unet-student-contact-tiny.onnx as its student: the tiny
 * student's weights, reading the detector's column too through a random map (a zero column adds
 * nothing, so it is then the tiny student).
 */
export function contactStudentBundleCopy(
  gate: Record<string, number>,
  edit?: (manifest: Record<string, unknown>) => void,
): { dir: string; cleanup(): void } {
  const copy = detectorBundleCopy(gate, (m) => {
    const models = m.models as Record<string, { inputs: { name: string; shape: (string | number)[] }[] }>;
    const input = models.unet_student!.inputs.find((i) => i.name === 'video_features')!;
    input.shape[input.shape.length - 1] = (m.features as { dim: number }).dim + 1;
    edit?.(m);
  });
  copyFileSync(
    join(packageRoot(), 'test', 'fixtures', 'unet-student-contact-tiny.onnx'),
    join(copy.dir, 'unet_student.onnx'),
  );
  return copy;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/**
 * Largest |a − b| / max(1, |b|): an absolute error for values of order 1 (trained latents
 * are normalized) and a relative one for larger values (random-weight latents reach |50|,
 * where 1e-4 absolute is a few float32 ULPs of the accumulated sums).
 */
export function maxScaledDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
  return m;
}
