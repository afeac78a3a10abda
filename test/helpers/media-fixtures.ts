/**
 * Media files for tests: small committed clips (made once with ffmpeg's lavfi test sources,
 * see test/fixtures/README.md) and bad-input variants derived from them at test time.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeWav } from '../../src/media/wav-file.js';
import { packageRoot } from '../../src/models/bundle.js';

export const FIXTURES_DIR = join(packageRoot(), 'test', 'fixtures');
export const TINY_BUNDLE_DIR = join(packageRoot(), 'models', 'tiny-random');
/** The committed sample clip (8 s, 25 fps, H.264 + AAC) with its events in samples/clip.events.json. */
export const SAMPLE_CLIP = join(packageRoot(), 'samples', 'clip.mp4');

export interface MediaFixtures {
  dir: string;
  /** 2 s, 25 fps, 96×96 H.264 + AAC, moov first. */
  clip: string;
  /** 1.2 s, 30 fps, 160×120 VP9 in Matroska (needs rate and size conversion). */
  oddClip: string;
  /** A WAV file: readable media without a video stream. */
  audioOnly: string;
  /** Deterministic noise bytes with an .mp4 name. */
  corrupt: string;
  /** The first 40% of `clip`: header intact, media data cut. */
  truncated: string;
  cleanup(): void;
}

export function makeMediaFixtures(): MediaFixtures {
  const dir = mkdtempSync(join(tmpdir(), 'foley-test-'));
  const clip = join(dir, 'clip.mp4');
  copyFileSync(join(FIXTURES_DIR, 'clip-2s-96px-25fps.mp4'), clip);
  const oddClip = join(dir, 'odd.mkv');
  copyFileSync(join(FIXTURES_DIR, 'clip-1.2s-160x120-30fps-vp9.mkv'), oddClip);
  const audioOnly = join(dir, 'tone.wav');
  writeFileSync(audioOnly, encodeWav(new Float32Array(16000).fill(0.1), 16000));
  const corrupt = join(dir, 'corrupt.mp4');
  const noise = Buffer.alloc(50_000);
  for (let i = 0; i < noise.length; i++) noise[i] = Math.imul(i, 2654435761) >>> 24;
  writeFileSync(corrupt, noise);
  const truncated = join(dir, 'truncated.mp4');
  const bytes = readFileSync(clip);
  writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length * 0.4)));
  return {
    dir,
    clip,
    oddClip,
    audioOnly,
    corrupt,
    truncated,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
