import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BundleError, MediaInputError, UsageError } from '../../src/errors.js';
import { readSoundtrack } from '../../src/evaluation/soundtrack-reader.js';
import { readVideoFrames } from '../../src/media/video-reader.js';
import { defaultBundleDir, loadBundle } from '../../src/models/bundle.js';
import type { Manifest } from '../../src/models/manifest.js';
import { scanFootageFolder } from '../../src/training/footage-folder.js';
import {
  type FootageSetSpec,
  footageSetSpec,
  inspectFootageVideo,
  readFootageSetMeta,
  writeFootageSet,
} from '../../src/training/footage-set.js';
import { makeFootageFolder, UNUSABLE, USABLE } from './footage-fixtures.js';

const FRAME_BYTES = 96 * 96 * 3;

describe('footage set preparation', () => {
  let dir: string;
  let manifest: Manifest;
  let spec: FootageSetSpec;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'foley-footage-set-'));
    mkdirSync(join(dir, 'videos'));
    makeFootageFolder(join(dir, 'videos'));
    manifest = (await loadBundle(defaultBundleDir())).manifest;
    spec = footageSetSpec(manifest, 4);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('takes the segment length in whole frames, at least a second, for a bundle of the ClipSet geometry', () => {
    assert.equal(spec.segmentFrames, 100);
    assert.equal(footageSetSpec(manifest, 2.04).segmentFrames, 51);
    assert.throws(() => footageSetSpec(manifest, 2.01), UsageError);
    assert.throws(() => footageSetSpec(manifest, 0.5), /at least 1 s/);
    assert.throws(
      () => footageSetSpec({ ...manifest, video: { ...manifest.video, width: 128 } }, 4),
      (e: unknown) => e instanceof BundleError && /96x96 frames at 25 fps.*128x96/.test(e.message),
    );
  });

  it('counts each usable video’s segments and names why each other one is left out', async () => {
    for (const [name, segments] of Object.entries(USABLE)) {
      const found = await inspectFootageVideo(join(dir, 'videos', name), spec);
      assert.ok(!('reason' in found), `${name}: ${'reason' in found ? found.reason : ''}`);
      assert.equal(found.segments, segments, name);
    }
    for (const [name, reason] of Object.entries(UNUSABLE)) {
      const found = await inspectFootageVideo(join(dir, 'videos', name), spec);
      assert.ok('reason' in found, `${name} was taken`);
      assert.match(found.reason, reason);
    }
  });

  it('writes the ClipSet files at the sizes of its segments, skipping bad videos and the segments of one that fails part way', async () => {
    const out = join(dir, 'data');
    mkdirSync(out);
    writeFileSync(join(out, 'meta.json'), '{"stale": true}');
    const videos = scanFootageFolder(join(dir, 'videos')).videos;
    const seen: string[] = [];
    const result = await writeFootageSet(videos, out, spec, {
      onVideo: (_i, video) => {
        // Until the set is complete there is no meta.json: an interrupted set reads as missing.
        assert.equal(existsSync(join(out, 'meta.json')), false, `meta.json present at ${video.name}`);
        seen.push(video.name);
      },
    });
    assert.deepEqual(
      seen,
      videos.map((v) => v.name),
    );
    const n = 2 + 1 + 1;
    assert.deepEqual(
      result.used,
      Object.entries(USABLE).map(([name, segments]) => ({ name, segments })),
    );
    assert.deepEqual(result.skipped.map((s) => s.name).sort(), Object.keys(UNUSABLE).sort());
    // cut.mp4 gave one segment before its damage showed: none of it stays.
    assert.equal(statSync(join(out, 'frames.u8')).size, n * 100 * FRAME_BYTES);
    assert.equal(statSync(join(out, 'audio.f32')).size, n * 100 * 640 * 4);
    assert.deepEqual(JSON.parse(readFileSync(join(out, 'events.json'), 'utf8')), [[], [], [], []]);
    const meta = readFootageSetMeta(out)!;
    assert.deepEqual(
      { ...meta, sources: undefined },
      {
        split: 'footage',
        count: n,
        seconds: 4,
        fps: 25,
        size: 96,
        sampleRate: 16000,
        codecP: 0,
        sources: undefined,
      },
    );
    assert.deepEqual(
      meta.sources.map((s) => [s.video.split('/').pop(), s.startS]),
      [
        ['a.mp4', 0],
        ['a.mp4', 4],
        ['b.mp4', 0],
        ['c.mp4', 0],
      ],
    );
    assert.ok(statSync(join(out, 'meta.json')).mtimeMs >= statSync(join(out, 'frames.u8')).mtimeMs);
  });

  it('stores a segment’s frames as the renderer reads them and its audio as the video’s own track', async () => {
    const out = join(dir, 'data');
    const video = join(dir, 'videos', 'a.mp4');
    const frames = readFileSync(join(out, 'frames.u8'));
    const audio = readFileSync(join(out, 'audio.f32'));
    // Segment 1 is a.mp4 from 4 s: frames 100..199, samples 64000..127999.
    let compared = 0;
    for await (const frame of readVideoFrames(video, { fps: 25, width: 96, height: 96 })) {
      if (frame.index !== 100 && frame.index !== 199) continue;
      const at = frame.index * FRAME_BYTES;
      assert.ok(
        Buffer.from(frame.data).equals(frames.subarray(at, at + FRAME_BYTES)),
        `frame ${frame.index}`,
      );
      compared++;
    }
    assert.equal(compared, 2);
    const track = await readSoundtrack(video, 16000);
    const stored = new Float32Array(
      audio.buffer.slice(audio.byteOffset + 64000 * 4, audio.byteOffset + 128000 * 4),
    );
    assert.deepEqual(stored, track.subarray(64000, 128000));
  });

  it('refuses a set where no video gives a segment, naming each one', async () => {
    const videos = scanFootageFolder(join(dir, 'videos')).videos.filter((v) => v.name in UNUSABLE);
    await assert.rejects(writeFootageSet(videos, join(dir, 'empty'), spec), (e: unknown) => {
      assert.ok(e instanceof MediaInputError);
      for (const name of Object.keys(UNUSABLE)) assert.ok(e.message.includes(`${name}: `), name);
      return true;
    });
    assert.equal(existsSync(join(dir, 'empty', 'meta.json')), false);
  });
});
