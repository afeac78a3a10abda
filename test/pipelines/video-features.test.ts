import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { from, lastValueFrom, toArray } from 'rxjs';
import { toVideoFeatures } from '../../pipelines/operators/video-features.js';
import { loadBundle } from '../../src/models/bundle.js';
import { InferenceRunner } from '../../src/models/inference-runner.js';
import { VideoEncoder } from '../../src/models/video-encoder.js';
import { TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';
import { maxAbsDiff, referenceFrames } from '../helpers/tiny-bundle.js';

describe('toVideoFeatures', () => {
  let runner: InferenceRunner;
  before(async () => {
    runner = await InferenceRunner.start(await loadBundle(TINY_BUNDLE_DIR), { models: ['video_encoder'] });
  });
  after(async () => {
    await runner.close();
  });

  /**
   * A 23-frame reference clip: its frames as the operator takes them, and `whole`, the features
   * of encoding it at once, frozen on its first and last frame for c frames (not the encoder's
   * zero padding), as the operator treats a clip's edges.
   */
  async function referenceClip() {
    const n = 23;
    const frameBytes = 96 * 96 * 3;
    const { contextFrames: c, rightContextFrames: rightContext } = runner.bundle.manifest.features;
    const all = referenceFrames(n);
    const encoder = new VideoEncoder(runner);
    const frozen = new Uint8Array((n + 2 * c) * frameBytes);
    for (let i = 0; i < n + 2 * c; i++) {
      const src = Math.min(Math.max(i - c, 0), n - 1);
      frozen.set(all.subarray(src * frameBytes, (src + 1) * frameBytes), i * frameBytes);
    }
    const whole = (await encoder.encode(frozen, n + 2 * c)).slice(c * 64, (c + n) * 64);
    const frames = Array.from({ length: n }, (_, i) => ({
      index: i,
      data: all.slice(i * frameBytes, (i + 1) * frameBytes),
    }));
    return { n, frameBytes, c, rightContext, all, encoder, whole, frames };
  }

  it('gives chunked features equal to encoding the whole clip at once, its edge frames repeated', async () => {
    const { n, frameBytes, c, all, encoder, whole, frames } = await referenceClip();
    const zeroPadded = await encoder.encode(all, n);
    assert.ok(maxAbsDiff(whole, zeroPadded) > 1e-3, 'edge frames make no difference to the features');
    const chunks = await lastValueFrom(
      from(frames).pipe(
        toVideoFeatures(encoder, {
          chunkFrames: 5,
          contextFrames: c,
          frameBytes,
          dim: 64,
        }),
        toArray(),
      ),
    );
    assert.deepEqual(
      chunks.map((c) => [c.startFrame, c.frames]),
      [
        [0, 5],
        [5, 5],
        [10, 5],
        [15, 5],
        [20, 3],
      ],
    );
    const joined = new Float32Array(n * 64);
    for (const c of chunks) joined.set(c.features, c.startFrame * 64);
    assert.ok(maxAbsDiff(joined, whole) < 1e-5, `max |Δ| ${maxAbsDiff(joined, whole)}`);
  });

  it('for a live segment: emits a chunk once its look-ahead is in, with the exact look-ahead features, and no chunk at the end', async () => {
    const { frameBytes, c, rightContext, encoder, whole, frames } = await referenceClip();
    const chunks = await lastValueFrom(
      from(frames).pipe(
        toVideoFeatures(encoder, {
          chunkFrames: 4,
          contextFrames: c,
          frameBytes,
          dim: 64,
          aheadFeatures: { rightContextFrames: rightContext },
          flushAtEnd: false,
        }),
        toArray(),
      ),
    );
    // Chunk [s, s + 4) needs frames up to s + 4 + c: the last one, [20, 23), never has them.
    assert.deepEqual(
      chunks.map((ch) => ch.startFrame),
      [0, 4, 8, 12, 16],
    );
    for (const ch of chunks) {
      const end = ch.startFrame + ch.frames;
      assert.equal(ch.ahead!.length, (c - rightContext) * 64, 'look-ahead frames whose right context is in');
      const exact = whole.subarray(end * 64, (end + c - rightContext) * 64);
      assert.ok(
        maxAbsDiff(ch.ahead!, exact) < 1e-5,
        `chunk ${ch.startFrame}: max |Δ| ${maxAbsDiff(ch.ahead!, exact)}`,
      );
      assert.equal(
        ch.behind,
        undefined,
        'a look-ahead that covers the right reach leaves nothing to encode again',
      );
    }
  });

  it('with a look-ahead short of the right reach, encodes the frames before each chunk again once their right context is in', async () => {
    const { n, frameBytes, c, rightContext, encoder, whole, frames } = await referenceClip();
    const chunks = await lastValueFrom(
      from(frames).pipe(
        toVideoFeatures(encoder, {
          chunkFrames: 2,
          contextFrames: c,
          frameBytes,
          dim: 64,
          lookaheadFrames: 0,
          aheadFeatures: { rightContextFrames: rightContext },
          flushAtEnd: false,
        }),
        toArray(),
      ),
    );
    assert.equal(chunks.length, Math.floor(n / 2));
    assert.equal(chunks[0]!.behind, undefined, 'nothing before the first chunk');
    for (const ch of chunks.slice(1)) {
      const s = ch.startFrame;
      // Encoded with its own chunk, the last frame saw a frozen picture ahead.
      const own = ch.features.subarray(64, 128);
      if (s + 1 + rightContext < n)
        assert.ok(
          maxAbsDiff(own, whole.subarray((s + 1) * 64, (s + 2) * 64)) > 1e-4,
          `chunk ${s}: last frame exact`,
        );
      // One chunk later, frames s − 2 and s − 1 have their right context (s and s + 1).
      assert.equal(ch.behind!.length, rightContext * 64);
      const exact = whole.subarray((s - rightContext) * 64, s * 64);
      assert.ok(maxAbsDiff(ch.behind!, exact) < 1e-5, `chunk ${s}: max |Δ| ${maxAbsDiff(ch.behind!, exact)}`);
    }
  });
});
